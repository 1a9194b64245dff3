#!/usr/bin/env bash
# kube.sh measures the kubernetes runtime on the real single-node cluster of
# scripts/real-k8s (containerd, a kubelet, the Deployment controller), beside the local
# runtime in the same run:
#   - deploy to serving (the CLI exits 0 once the release serves) of a changed source:
#     local runtime vs a kubernetes region with a cold image (a new binary: the region
#     packs and pushes a new layer, the node pulls it) and a warm one (the same binary in a
#     new release: only the image's config and manifest are new, the layer is on the node);
#   - pod start latency: a ready pod deleted, its replacement ready (podstart), STARTS
#     times, p50/p99;
#   - a rollout of 3 replicas under continuous calls through the region's gateway: its
#     duration and the failed calls (target: 0).
#
# It starts a `platform server` (the control plane, local runtime) and a `platform agent
# --runtime kubernetes` region k8s on the cluster (its NATS on the node's IP, so pods reach
# it), namespaces loc (placed in local) and kub (placed in k8s), and deploys
# examples/helloworld to both once (warms the build cache; reported, not compared).
#
# Environment (see also lib.sh):
#   RUNS        default 3
#   STARTS      default 20
#   KUBECONFIG  default the real cluster's admin kubeconfig (scripts/real-k8s/up.sh)
#
# Output (stdout): every measurement, then medians with spread. Progress goes to stderr.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS="${RUNS:-3}"
STARTS="${STARTS:-20}"
TEST_CACHE="${PLATFORM_TEST_CACHE:-$HOME/.cache/micro-platform-test}"
KUBECONFIG="${KUBECONFIG:-$TEST_CACHE/real-k8s/pki/admin.kubeconfig}"
KUBECTL="$TEST_CACHE/k8s/kubectl"
SERVICE=helloworld
export KUBECONFIG

"$KUBECTL" get --raw /readyz >/dev/null 2>&1 ||
	die "no cluster answers with $KUBECONFIG: start one with scripts/real-k8s/up.sh"
NODE_IP="$("$KUBECTL" get nodes -o jsonpath='{.items[0].status.addresses[?(@.type=="InternalIP")].address}')"

build_tools
(cd "$ROOT" && go build -o "$BIN/podstart" ./bench/podstart)
start_server "$WORK/cp"
log "control plane at $SERVER_URL; node $NODE_IP"

pf regions create k8s --provider local --location "real-k8s" >&2
AGENT_TOKEN="$(pf regions token k8s | sed -n 's/.*--token \([^ ]*\).*/\1/p' | head -1)"
[[ -n "$AGENT_TOKEN" ]] || die "no region token"
AGENT_GW="127.0.0.1:$(free_port)"
printf 'nats_host: %s\nkube_owner: platform-bench\nkube_namespace_prefix: bench-\n' "$NODE_IP" >"$WORK/agent.yaml"
DATA_DIRS+=("$WORK/agent")
PLATFORM_REGION_TOKEN="$AGENT_TOKEN" "$PLATFORM" agent --region k8s --control "$SERVER_URL" \
	--data "$WORK/agent" --gateway-addr "$AGENT_GW" --config "$WORK/agent.yaml" \
	--runtime kubernetes --kubeconfig "$KUBECONFIG" --rollout-timeout 120s >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
PIDS+=("$AGENT_PID")
for ((i = 0; ; i++)); do
	kill -0 "$AGENT_PID" 2>/dev/null || {
		cat "$WORK/agent.log" >&2
		die "agent exited at start"
	}
	grep -q 'msg="agent started"' "$WORK/agent.log" && break
	((i < 6000)) || die "agent did not start within 60s"
	sleep 0.01
done
pf namespaces create loc --regions local >&2
pf namespaces create kub --regions k8s >&2

# on_exit deletes the bench's Kubernetes namespaces (the agent leaves what it ran).
on_exit() { "$KUBECTL" delete namespace bench-kub --wait=false >/dev/null 2>&1 || true; }
trap 'on_exit; cleanup' EXIT

# timed NS DIR [FLAGS...] deploys DIR as $SERVICE in NS and prints the seconds until the
# CLI exited 0.
timed() {
	local ns="$1" dir="$2" t0
	shift 2
	t0="$(now)"
	pf deploy "$dir" -n "$ns" --name "$SERVICE" "$@" >"$WORK/deploy.out" 2>&1 || {
		cat "$WORK/deploy.out" >&2
		die "deploy of $dir to $ns failed"
	}
	since "$t0"
}

log "first deploys (warm the build cache; not compared)"
FIRST_LOC="$(timed loc "$ROOT/examples/helloworld")"
FIRST_KUB="$(timed kub "$ROOT/examples/helloworld")"

ROWS=""
LOC=() COLD=() WARM=() LOCW=()
for ((run = 1; run <= RUNS; run++)); do
	log "run $run/$RUNS: load average $(loadavg)"
	# Each runtime gets a changed source of its own, so both compile; the order alternates
	# between runs.
	ldir="$(changed_copy "local$run")" kdir="$(changed_copy "kube$run")"
	if ((run % 2)); then
		l="$(timed loc "$ldir")"
		c="$(timed kub "$kdir")"
	else
		c="$(timed kub "$kdir")"
		l="$(timed loc "$ldir")"
	fi
	w="$(timed kub "$kdir" --env "BENCH_RUN=$run")"
	lw="$(timed loc "$ldir" --env "BENCH_RUN=$run")"
	LOC+=("$l") COLD+=("$c") WARM+=("$w") LOCW+=("$lw")
	ROWS+="| $run | $l | $c | $w | $lw |"$'\n'
done

log "pod start latency, $STARTS starts"
PODSTART="$("$BIN/podstart" -namespace bench-kub -selector "platform.micro.mu/service=$SERVICE" -n "$STARTS")"

log "rollout of 3 replicas under load through the region's gateway"
"$BIN/loadgen" -mode http -url "http://$AGENT_GW/api/$SERVICE/Helloworld.Call" \
	-H "Authorization: Bearer $TOKEN" -H "Micro-Namespace: kub" -body '{"name":"bench"}' \
	-c 4 -d 600s -timeout 5s -label "calls during the rollout" >"$WORK/load.out" 2>"$WORK/load.err" &
LOAD_PID=$!
PIDS+=("$LOAD_PID")
sleep 2
ROLLOUT="$(timed kub "$(changed_copy rollout)" --replicas 3)"
sleep 2
kill -INT "$LOAD_PID"
wait "$LOAD_PID" || true
forget "$LOAD_PID"
READY="$("$KUBECTL" -n bench-kub get deployments -l "platform.micro.mu/service=$SERVICE" -o jsonpath='{.items[*].status.readyReplicas}')"

echo "## kubernetes runtime on the real cluster ($(machine))"
echo
echo "First deploys (cold build cache): local $FIRST_LOC s, kubernetes $FIRST_KUB s."
echo
echo "| run | local: changed source | k8s: changed source (cold image) | k8s: same binary, new release (warm image) | local: same binary, new release |"
echo "|---:|---:|---:|---:|---:|"
printf '%s' "$ROWS"
echo "| median | $(median "${LOC[@]}") ($(spread "${LOC[@]}")) | $(median "${COLD[@]}") ($(spread "${COLD[@]}")) | $(median "${WARM[@]}") ($(spread "${WARM[@]}")) | $(median "${LOCW[@]}") ($(spread "${LOCW[@]}")) |"
echo
echo "| measure | p50 | p99 | min | max |"
echo "|---|---:|---:|---:|---:|"
echo "$PODSTART"
echo
echo "Rollout of 3 replicas under load: $ROLLOUT s to serving; ready replicas after: $READY."
echo
echo "| target | requests | errors | req/s | p50 | p99 |"
echo "|---|---:|---:|---:|---:|---:|"
cat "$WORK/load.out"
grep 'loadgen: error' "$WORK/load.err" >&2 || true
