#!/usr/bin/env bash
# idle.sh measures what an idle `platform server` costs: its resident memory (VmRSS from
# /proc), its CPU use while idle, and its start-up time (spawning the process until
# /readyz answers 200), with zero services and with SERVICES deployed services.
#
# It starts a real server in a temp data dir and measures it (first start: empty data dir),
# restarts it (zero services), then deploys SERVICES copies of examples/helloworld under
# the names hello-1, hello-2, ... spread over NAMESPACES namespaces: the first with the CLI
# following the rollout (the one compile), the rest with --detach from the same source, so
# the artifact is reused, and waits until every service is running. It measures the server
# and the instances' total VmRSS, then restarts the server once more (the instances keep
# running and are re-adopted) and measures again.
#
# Environment (see also lib.sh):
#   SERVICES    default 50
#   NAMESPACES  default 5
#   SETTLE      default 10s: how long the server idles before memory and CPU are read; CPU
#               use is the server's CPU time over that window
#   PROFILE     set to a file name to record the server with `perf record -g` during the
#               idle window after the last restart and write the top of the report there
#
# Output (stdout): a markdown table. Progress goes to stderr.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SERVICES="${SERVICES:-50}"
NAMESPACES="${NAMESPACES:-5}"
SETTLE="${SETTLE:-10s}"
HZ="$(getconf CLK_TCK)"

build_tools
DATA="$WORK/data"
SERVER_FLAGS=(--rollout-timeout 180s)
ROWS=""

# idle_row LABEL SERVICES STARTED lets the server idle for SETTLE and adds a table row with
# its start-up time (when STARTED is "started", i.e. it was just started), VmRSS, CPU use over the window, and its instances and their total VmRSS.
idle_row() {
	local t0 c0 cpu rss n=0 total=0 pid r
	c0="$(cpu_ticks "$SERVER_PID")"
	t0="$(now)"
	if [[ -n "${PROFILE:-}" && "$1" == restart\ with* ]]; then
		perf record -F 999 -g -p "$SERVER_PID" -o "$WORK/perf.data" -- sleep "${SETTLE%s}" >/dev/null 2>&1 || true
		perf_report "$WORK/perf.data" "idle platform server: $1" >"$PROFILE"
	else
		sleep "${SETTLE%s}"
	fi
	cpu="$(awk -v c="$(($(cpu_ticks "$SERVER_PID") - c0))" -v hz="$HZ" -v t="$(since "$t0")" \
		'BEGIN { printf "%.1f%%", 100 * c / hz / t }')"
	rss="$(rss_kb "$SERVER_PID")"
	for pid in $(instance_pids "$DATA"); do
		r="$(rss_kb "$pid" 2>/dev/null)" || continue
		n=$((n + 1)) total=$((total + r))
	done
	local inst="–" ready="–"
	((n == 0)) || inst="$(mib "$total") ($(mib $((total / n))) each)"
	[[ "$3" != started ]] || ready="$SERVER_READY s"
	ROWS+="| $1 | $2 | $ready | $(mib "$rss") | $cpu | $n | $inst |"$'\n'
	log "$1: start-up $ready, VmRSS $(mib "$rss"), CPU $cpu, $n instances ($inst)"
}

# running prints how many services of all namespaces are running their live release with
# every instance registered.
running() {
	local ns total=0 c
	for ((ns = 1; ns <= NAMESPACES; ns++)); do
		c="$(pf services -n "ns$ns" -o json | jq '[.[] | select(.status == "running" and
			.release.status == "live" and (.instances | length) > 0 and
			all(.instances[]; .state == "running" and .registered))] | length')"
		total=$((total + c))
	done
	echo "$total"
}

# wait_running N TIMEOUT_S waits until N services run and prints the seconds it took.
wait_running() {
	local t0 n
	t0="$(now)"
	for ((i = 0; ; i++)); do
		n="$(running)"
		((n >= $1)) && break
		((i < $2 * 2)) || die "only $n of $1 services running after $2 s"
		sleep 0.5
	done
	since "$t0"
}

LOAD_START="$(loadavg)"
start_server "$DATA" "${SERVER_FLAGS[@]}"
idle_row "first start, empty data dir" 0 started
stop_server
start_server "$DATA" "${SERVER_FLAGS[@]}"
idle_row "restart" 0 started

for ((ns = 1; ns <= NAMESPACES; ns++)); do
	pf namespaces create "ns$ns" >/dev/null
done
log "deploying $SERVICES services over $NAMESPACES namespaces"
t0="$(now)"
pf deploy "$ROOT/examples/helloworld" -n ns1 --name hello-1 >/dev/null
FIRST_DEPLOY="$(since "$t0")"
t1="$(now)"
for ((i = 2; i <= SERVICES; i++)); do
	pf deploy "$ROOT/examples/helloworld" -n "ns$(((i - 1) % NAMESPACES + 1))" --name "hello-$i" --detach >/dev/null
done
DETACHED="$(since "$t1")"
ALL_LIVE="$(wait_running "$SERVICES" 300)"
TOTAL_DEPLOY="$(since "$t0")"
ARTIFACTS="$(jq length "$DATA/builds/artifacts/index.json")"
idle_row "$SERVICES services running" "$SERVICES" -

BEFORE="$(instance_pids "$DATA" | sort)"
stop_server
log "restarting with $SERVICES services"
start_server "$DATA" "${SERVER_FLAGS[@]}"
READOPT="$(wait_running "$SERVICES" 120)"
KEPT="$(comm -12 <(echo "$BEFORE") <(instance_pids "$DATA" | sort) | wc -l)"
idle_row "restart with $SERVICES services" "$SERVICES" started

echo "### Idle server: memory and start-up, $SERVICES services over $NAMESPACES namespaces"
echo
echo "Load average (1/5/15 min): $LOAD_START at the start, $(loadavg) at the end. Memory and CPU read after ${SETTLE} idle."
echo
echo "| server state | services | start-up to /readyz 200 | server VmRSS | server CPU (idle) | instances | instances' VmRSS |"
echo "|---|---:|---:|---:|---:|---:|---:|"
printf '%s' "$ROWS"
echo
echo "Deploying: the first service (compiled, CLI following) took $FIRST_DEPLOY s;" \
	"the other $((SERVICES - 1)) were submitted with --detach in $DETACHED s and all $SERVICES were" \
	"running $ALL_LIVE s later ($TOTAL_DEPLOY s in all), from $ARTIFACTS artifact(s)." \
	"After the last restart, all $SERVICES services were reported running again $READOPT s after /readyz;" \
	"$KEPT of the $SERVICES instance processes were the same processes as before (re-adopted, not restarted)."
