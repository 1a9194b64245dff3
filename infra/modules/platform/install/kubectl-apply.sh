# Applies the platform's manifest to a region's cluster; run by main.tf's local-exec
# provisioner with /bin/sh. Input, all from the environment:
#
#   PLATFORM_MANIFEST         the manifest (YAML, no secrets)
#   PLATFORM_NAMESPACE        its namespace, for the rollout waits
#   PLATFORM_WAIT             true: wait for PLATFORM_ROLLOUTS to roll out
#   PLATFORM_ROLLOUTS         the workloads to wait for, kind/name separated by spaces
#   PLATFORM_ROLLOUT_TIMEOUT  kubectl --timeout of each wait
#   PLATFORM_KUBE_HOST, PLATFORM_KUBE_CA and PLATFORM_KUBE_TOKEN or
#   PLATFORM_KUBE_CLIENT_CERTIFICATE + PLATFORM_KUBE_CLIENT_KEY: the cluster's API server
#   or PLATFORM_KUBECONFIG (and PLATFORM_KUBE_CONTEXT): an operator's kubeconfig file,
#   used as it is
#
# The credentials go into a kubeconfig in a private temporary directory (umask 077),
# written with the shell's own printf so they never appear on a command line, and removed
# on exit.
set -eu

if ! command -v kubectl >/dev/null 2>&1; then
	echo "platform install: kubectl is not on PATH: install it (scripts/build-k8s builds one) and apply again" >&2
	exit 127
fi
if [ -z "${PLATFORM_KUBECONFIG:-}" ] && [ -z "${PLATFORM_KUBE_TOKEN:-}" ] && [ -z "${PLATFORM_KUBE_CLIENT_CERTIFICATE:-}" ]; then
	echo "platform install: the cluster module gave neither a token nor a client certificate" >&2
	exit 2
fi

umask 077
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
trap 'exit 130' HUP INT TERM

if [ -n "${PLATFORM_KUBECONFIG:-}" ]; then
	kubeconfig=$PLATFORM_KUBECONFIG
else
	kubeconfig=$dir/kubeconfig
	printf '%s\n' "$PLATFORM_KUBE_CA" >"$dir/ca.crt"
	{
		printf 'apiVersion: v1\nkind: Config\n'
		printf 'clusters:\n- name: region\n  cluster:\n'
		printf '    server: "%s"\n' "$PLATFORM_KUBE_HOST"
		printf '    certificate-authority: "%s/ca.crt"\n' "$dir"
		printf 'users:\n- name: platform-infra\n  user:\n'
		if [ -n "${PLATFORM_KUBE_TOKEN:-}" ]; then
			printf '%s' "$PLATFORM_KUBE_TOKEN" >"$dir/token"
			printf '    tokenFile: "%s/token"\n' "$dir"
		fi
		if [ -n "${PLATFORM_KUBE_CLIENT_CERTIFICATE:-}" ]; then
			printf '%s\n' "$PLATFORM_KUBE_CLIENT_CERTIFICATE" >"$dir/client.crt"
			printf '%s\n' "$PLATFORM_KUBE_CLIENT_KEY" >"$dir/client.key"
			printf '    client-certificate: "%s/client.crt"\n    client-key: "%s/client.key"\n' "$dir" "$dir"
		fi
		printf 'contexts:\n- name: region\n  context:\n    cluster: region\n    user: platform-infra\n'
		printf 'current-context: region\n'
	} >"$kubeconfig"
fi
kubectl() { command kubectl --kubeconfig "$kubeconfig" ${PLATFORM_KUBE_CONTEXT:+--context "$PLATFORM_KUBE_CONTEXT"} "$@"; }

# Server-side apply with a field manager of its own: what the module applies it owns, and
# it takes fields back from a hand edit (--force-conflicts) so the cluster matches the base.
printf '%s\n' "$PLATFORM_MANIFEST" |
	kubectl apply --server-side --force-conflicts --field-manager=platform-infra -f -

if [ "${PLATFORM_WAIT:-true}" = true ]; then
	for w in ${PLATFORM_ROLLOUTS:-statefulset/platform-mesh deployment/platform}; do
		kubectl -n "$PLATFORM_NAMESPACE" rollout status "$w" --timeout="$PLATFORM_ROLLOUT_TIMEOUT"
	done
fi
