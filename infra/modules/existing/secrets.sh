# Makes (apply) or deletes (delete) the platform's namespace and the Secrets the manifest
# reads, on an existing cluster; run by main.tf's local-exec provisioners with /bin/sh.
# Input, all from the environment:
#
#   PLATFORM_KUBECONFIG, PLATFORM_KUBE_CONTEXT  the operator's kubeconfig and context
#   PLATFORM_NAMESPACE      the namespace
#   delete only:
#   PLATFORM_CLUSTER_OBJECTS  the manifest's cluster-wide objects, Kind/name separated by
#                           spaces
#   apply only:
#   PLATFORM_LABELS         labels of the namespace and the Secrets, k=v,k=v
#   PLATFORM_DATABASE_URL   the store's URL (Secret platform-store, key url)
#   PLATFORM_SECRET_KEY     the master key (Secret platform-secret-key, key secret.key)
#   PLATFORM_REGION_TOKENS  the region tokens file (Secret platform-region-tokens, key
#                           regions.json)
#
# The values go into files in a private temporary directory (umask 077), written with the
# shell's own printf so they never appear on a command line, and removed on exit.
set -eu

if ! command -v kubectl >/dev/null 2>&1; then
	echo "platform install: kubectl is not on PATH: install it (scripts/build-k8s builds one) and apply again" >&2
	exit 127
fi
kubectl() { command kubectl --kubeconfig "$PLATFORM_KUBECONFIG" ${PLATFORM_KUBE_CONTEXT:+--context "$PLATFORM_KUBE_CONTEXT"} "$@"; }

ns=$PLATFORM_NAMESPACE
case ${1:-} in
delete)
	# Deletes every object of the install with it. Waits, so that a destroy followed by
	# an apply does not meet a namespace still terminating.
	kubectl delete namespace "$ns" --ignore-not-found --wait=true --timeout=10m
	for o in ${PLATFORM_CLUSTER_OBJECTS:-}; do
		kubectl delete "$o" --ignore-not-found
	done
	exit 0
	;;
apply) ;;
*)
	echo "usage: secrets.sh apply|delete" >&2
	exit 2
	;;
esac

umask 077
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
trap 'exit 130' HUP INT TERM

printf '%s' "$PLATFORM_DATABASE_URL" >"$dir/url"
printf '%s' "$PLATFORM_SECRET_KEY" >"$dir/secret.key"
printf '%s' "$PLATFORM_REGION_TOKENS" >"$dir/regions.json"

# The manifest's own Namespace document is applied again later, unchanged.
kubectl create namespace "$ns" --dry-run=client -o yaml |
	kubectl apply --server-side --force-conflicts --field-manager=platform-infra -f -
kubectl label --overwrite namespace "$ns" $(printf '%s' "$PLATFORM_LABELS" | tr ',' ' ') >/dev/null

secret() {
	name=$1
	shift
	kubectl -n "$ns" create secret generic "$name" "$@" --dry-run=client -o yaml >"$dir/$name.yaml"
	kubectl -n "$ns" apply --server-side --force-conflicts --field-manager=platform-infra -f "$dir/$name.yaml"
	kubectl -n "$ns" label --overwrite secret "$name" $(printf '%s' "$PLATFORM_LABELS" | tr ',' ' ') >/dev/null
}
secret platform-store --from-file=url="$dir/url"
secret platform-secret-key --from-file=secret.key="$dir/secret.key"
secret platform-region-tokens --from-file=regions.json="$dir/regions.json"
