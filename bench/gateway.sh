#!/usr/bin/env bash
# gateway.sh compares the platform gateway with go-micro's own `micro api` gateway and with
# direct go-micro client calls (the floor), against examples/helloworld running in a
# platform namespace, and prints markdown tables.
#
# It starts a real `platform server` in a temp data dir, creates namespace acme, deploys
# examples/helloworld, reads the namespace's MICRO_* environment from the running instance
# (/proc/PID/environ), starts `micro api` with that environment, and then, RUNS times, warms
# up and measures each target with the loadgen binary (a separate process) at CONCURRENCY
# callers for DURATION. The order of the targets rotates between runs so drift in machine
# load does not always favour the same one.
#
# Environment (see also lib.sh):
#   RUNS         default 3 runs of all three targets
#   CONCURRENCY  default 16 concurrent callers
#   DURATION     default 10s per measurement
#   WARMUP       default 2s per target before each measurement, not reported
#   BODY         default {"name":"Alice"}
#   PROFILE      set to a file name to record a CPU profile of the platform server with
#                `perf record -g` during one extra gateway measurement and write the top
#                of its report there
#
# Output (stdout): every run's rows, then the median of each figure over the runs with its
# spread (min–max), and the gateway's throughput relative to `micro api` (target >= 1.2x
# with p99 no worse). Progress goes to stderr.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS="${RUNS:-3}"
CONCURRENCY="${CONCURRENCY:-16}"
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
DEFAULT_BODY='{"name":"Alice"}'
BODY="${BODY:-$DEFAULT_BODY}"
SERVICE=helloworld
ENDPOINT=Helloworld.Call
NAMESPACE=acme

build_tools
MICRO="$(build_micro)"

DATA="$WORK/data"
start_server "$DATA"
log "platform server at $SERVER_URL (NATS port $NATS_PORT)"
pf namespaces create "$NAMESPACE" >&2
# xlarge (2 CPUs): the gateways are compared, so the instance's size must not be the bound
# (the local runtime enforces sizes; nano is 0.1 CPU).
pf deploy "$ROOT/examples/helloworld" -n "$NAMESPACE" --size xlarge >&2
PID="$(instance_of "$DATA" "$SERVICE")" || die "no running $SERVICE instance of this server"
mapfile -t MESH_ENV < <(mesh_env "$PID")

API_PORT="$(free_port)"
log "starting micro api on 127.0.0.1:$API_PORT with the namespace's environment"
env "${MESH_ENV[@]}" "$MICRO" api --address "127.0.0.1:$API_PORT" >"$WORK/micro-api.log" 2>&1 &
PIDS+=($!)
for i in $(seq 300); do
	curl -fsS -o /dev/null "http://127.0.0.1:$API_PORT/" 2>/dev/null && break
	[[ $i != 300 ]] || {
		cat "$WORK/micro-api.log" >&2
		die "micro api did not come up"
	}
	sleep 0.1
done

# measure LABEL DURATION TARGET runs loadgen once against TARGET (direct, api or gateway)
# and prints its row; a failed run still prints its row, with its errors.
measure() {
	local label="$1" duration="$2" args
	case "$3" in
	direct) args=(-mode micro -service "$SERVICE" -endpoint "$ENDPOINT") ;;
	api) args=(-mode http -url "http://127.0.0.1:$API_PORT/$SERVICE/$ENDPOINT") ;;
	gateway) args=(-mode http -url "$SERVER_URL/api/$SERVICE/$ENDPOINT"
		-H "Authorization: Bearer $TOKEN" -H "Micro-Namespace: $NAMESPACE") ;;
	esac
	env "${MESH_ENV[@]}" "$BIN/loadgen" -label "$label" -body "$BODY" -c "$CONCURRENCY" -d "$duration" \
		"${args[@]}" 2> >(grep -v 'SECURITY WARNING' >&2) || true
}

declare -A LABEL=([direct]="go-micro client (direct)" [api]="micro api" [gateway]="platform gateway")
ORDERS=("direct api gateway" "api gateway direct" "gateway direct api")
ALL=""
LOADS=()
for ((run = 1; run <= RUNS; run++)); do
	LOADS+=("$(loadavg)")
	log "run $run/$RUNS: load average $(loadavg); $DURATION per target, $CONCURRENCY callers"
	for target in ${ORDERS[$(((run - 1) % 3))]}; do
		measure warmup "$WARMUP" "$target" >/dev/null
		row="$(measure "${LABEL[$target]}" "$DURATION" "$target")"
		ALL+="${row/#| /| $run | }"$'\n'
	done
done

# The gateway meters every call; show that it counted them (metering was on).
METERED="$(curl -fsS -H "Authorization: Bearer $TOKEN" "$SERVER_URL/metrics" 2>/dev/null |
	awk '/^platform_gateway_requests_total/ { n += $NF } END { printf "%d", n }')"

echo "### Gateway throughput: $CONCURRENCY callers, $DURATION per target, $RUNS runs"
echo
echo "Load average (1/5/15 min) at the start of each run: $(printf '%s; ' "${LOADS[@]}")"
echo
echo "| run | target | requests | errors | req/s | p50 | p99 |"
echo "|---:|---|---:|---:|---:|---:|---:|"
printf '%s' "$ALL"
echo
echo "Median over $RUNS runs (spread min–max):"
echo
echo "| target | req/s | p50 (ms) | p99 (ms) |"
echo "|---|---:|---:|---:|"
for target in direct api gateway; do
	label="${LABEL[$target]}"
	mapfile -t rate < <(awk -F'|' -v l="$label" '{ gsub(/^ +| +$/, "", $3) } $3 == l { print $6 + 0 }' <<<"$ALL")
	mapfile -t p50 < <(awk -F'|' -v l="$label" '{ gsub(/^ +| +$/, "", $3) } $3 == l { print $7 + 0 }' <<<"$ALL")
	mapfile -t p99 < <(awk -F'|' -v l="$label" '{ gsub(/^ +| +$/, "", $3) } $3 == l { print $8 + 0 }' <<<"$ALL")
	echo "| $label | $(median "${rate[@]}") ($(spread "${rate[@]}")) | $(median "${p50[@]}") ($(spread "${p50[@]}")) | $(median "${p99[@]}") ($(spread "${p99[@]}")) |"
done
echo
mapfile -t RATIOS < <(awk -F'|' '
	{ gsub(/^ +| +$/, "", $2); gsub(/^ +| +$/, "", $3) }
	$3 == "micro api" { api[$2] = $6 + 0; apip99[$2] = $8 + 0 }
	$3 == "platform gateway" { gw[$2] = $6 + 0; gwp99[$2] = $8 + 0 }
	END { for (r in gw) if (api[r] > 0 && apip99[r] > 0) printf "%.2f %.2f\n", gw[r] / api[r], gwp99[r] / apip99[r] }' <<<"$ALL")
if ((${#RATIOS[@]})); then
	mapfile -t TPUT < <(printf '%s\n' "${RATIOS[@]}" | cut -d' ' -f1)
	mapfile -t P99R < <(printf '%s\n' "${RATIOS[@]}" | cut -d' ' -f2)
	echo "platform gateway / micro api: throughput $(median "${TPUT[@]}")x (runs $(spread "${TPUT[@]}"); target >= 1.2x)," \
		"p99 $(median "${P99R[@]}")x of micro api's (runs $(spread "${P99R[@]}"); target <= 1.00x)"
fi
echo
echo "Gateway calls metered (platform_gateway_requests_total): $METERED"

if [[ -n "${PROFILE:-}" ]]; then
	command -v perf >/dev/null || die "PROFILE set but perf is not installed"
	log "profiling the platform server with perf during one more gateway measurement"
	perf record -F 999 -g -p "$SERVER_PID" -o "$WORK/perf.data" -- sleep "${DURATION%s}" >/dev/null 2>&1 &
	PERF=$!
	PIDS+=("$PERF")
	measure "platform gateway (profiled)" "$DURATION" gateway >&2
	wait "$PERF" || true
	forget "$PERF"
	perf_report "$WORK/perf.data" "platform server during a gateway run" >"$PROFILE"
	log "profile report written to $PROFILE"
fi
