#!/usr/bin/env bash
# sandbox.sh measures what the local runtime's sandbox costs: the start of an instance and
# the gateway's throughput through it, against the same server with `--sandbox off`, in the
# same run, and prints markdown tables.
#
# It starts two real `platform server`s on this machine: one with the sandbox off (instances
# are plain processes, NATS on 127.0.0.1) and one sandboxed (namespaces, its namespace's
# user, cgroups, the bridge network; NATS on the bridge). Both get examples/helloworld in
# namespace acme. Then RUNS times, alternating which goes first:
#   - instance start: a redeploy with a new --env value (same artifact: no build), timed
#     from the CLI's start until it says the release is live — a new instance started,
#     registered, healthy for 300 ms (the rollout's MinReady), and the old one drained;
#   - gateway throughput: loadgen against each server's gateway, CONCURRENCY callers for
#     DURATION (after WARMUP).
# Both deploy with --size SIZE: the default, xlarge (2 CPUs, 2 GiB), is more than this
# machine has, so the sandbox's mechanics are measured, not its size's limits (with nano,
# 0.1 CPU, the cgroup quota bounds the sandboxed instance's throughput; the unsandboxed one
# has no limit). Needs root (the sandbox). The sandboxed server uses its own bridge
# (mpbench0, SUBNET), removed at the end with `ip` when it is installed.
#
# Environment (see also lib.sh):
#   RUNS         default 5
#   CONCURRENCY  default 16
#   DURATION     default 10s
#   WARMUP       default 2s
#   SUBNET       default 10.218.0.0/24
#   SIZE         default xlarge
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS="${RUNS:-5}"
CONCURRENCY="${CONCURRENCY:-16}"
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
SUBNET="${SUBNET:-10.218.0.0/24}"
SIZE="${SIZE:-xlarge}"
BRIDGE=mpbench0
[[ $(id -u) == 0 ]] || die "the sandbox needs root"

remove_bridge() { command -v ip >/dev/null && ip link del "$BRIDGE" 2>/dev/null || true; }
trap 'remove_bridge; cleanup' EXIT

build_tools
declare -A URL TOK
for mode in plain sandboxed; do
	args=(--sandbox off)
	[[ $mode == plain ]] || args=(--sandbox required --sandbox-bridge "$BRIDGE" --sandbox-subnet "$SUBNET")
	start_server "$WORK/$mode" "${args[@]}"
	URL[$mode]="$SERVER_URL" TOK[$mode]="$TOKEN"
	pf namespaces create acme >&2
	pf deploy "$ROOT/examples/helloworld" -n acme --size "$SIZE" >&2
	log "$mode server at $SERVER_URL: $(pf regions | awk '$1 == "local" { print $NF }')"
done

px() { local m="$1"; shift; "$PLATFORM" --server "${URL[$m]}" --token "${TOK[$m]}" "$@"; }

gateway() { # MODE LABEL DURATION
	"$BIN/loadgen" -label "$2" -body '{"name":"Alice"}' -c "$CONCURRENCY" -d "$3" -mode http \
		-url "${URL[$1]}/api/helloworld/Helloworld.Call" \
		-H "Authorization: Bearer ${TOK[$1]}" -H "Micro-Namespace: acme" 2> >(grep -v 'SECURITY WARNING' >&2) || true
}

declare -A STARTS RATES
PAIRS=() # sandboxed / off throughput of each run: the machine's drift cancels within a run
ROWS=""
LOADS=()
for ((run = 1; run <= RUNS; run++)); do
	LOADS+=("$(loadavg)")
	order=(plain sandboxed)
	((run % 2)) || order=(sandboxed plain)
	for mode in "${order[@]}"; do
		t0="$(now)"
		px "$mode" deploy "$ROOT/examples/helloworld" -n acme --env "RUN=$run" >/dev/null
		s="$(since "$t0")"
		STARTS[$mode]+="$s "
		gateway "$mode" warmup "$WARMUP" >/dev/null
		row="$(gateway "$mode" "$mode" "$DURATION")"
		rate="$(awk -F'|' '{ print $5 + 0 }' <<<"$row")"
		RATES[$mode]+="$rate "
		ROWS+="| $run | $mode | $s | ${row#| }"$'\n'
		log "run $run $mode: start ${s}s, $rate req/s"
	done
done

echo "### Sandbox cost, size $SIZE: $(machine)"
echo
echo "Load average (1/5/15 min) at the start of each run: $(printf '%s; ' "${LOADS[@]}")"
echo
echo "| run | instances | redeploy until live (s) | label | requests | errors | req/s | p50 | p99 |"
echo "|---:|---|---:|---|---:|---:|---:|---:|---:|"
printf '%s' "$ROWS"
echo
echo "| figure | sandbox off | sandboxed | sandboxed / off |"
echo "|---|---:|---:|---:|"
ps="$(median ${STARTS[plain]})" ss="$(median ${STARTS[sandboxed]})"
pr="$(median ${RATES[plain]})" sr="$(median ${RATES[sandboxed]})"
echo "| instance start: redeploy until live, median s ($(spread ${STARTS[plain]}) / $(spread ${STARTS[sandboxed]})) | $ps | $ss | $(awk -v a="$ss" -v b="$ps" 'BEGIN { printf "%.2f", a / b }') |"
read -ra pr_all <<<"${RATES[plain]}"
read -ra sr_all <<<"${RATES[sandboxed]}"
for i in "${!pr_all[@]}"; do
	PAIRS+=("$(awk -v s="${sr_all[$i]}" -v p="${pr_all[$i]}" 'BEGIN { printf "%.2f", s / p }')")
done
echo "| gateway req/s, median ($(spread ${RATES[plain]}) / $(spread ${RATES[sandboxed]})) | $pr | $sr | $(awk -v a="$sr" -v b="$pr" 'BEGIN { printf "%.2f", a / b }') |"
echo "| gateway req/s, sandboxed / off within each run: median ($(spread "${PAIRS[@]}")) | | | $(median "${PAIRS[@]}") |"
