#!/usr/bin/env bash
# gateway.sh compares the platform gateway with go-micro's own `micro api` gateway and
# with direct go-micro client calls, against one service running in a platform
# namespace, and prints a markdown table.
#
# Inputs (environment):
#   GATEWAY_URL             required  base URL of the platform API server, e.g.
#                                     http://127.0.0.1:8080 (the gateway is its /api/)
#   PLATFORM_TOKEN          required  a token that may call NAMESPACE
#   NAMESPACE               required  the namespace the service runs in
#   MICRO_REGISTRY, MICRO_REGISTRY_ADDRESS, MICRO_TRANSPORT, MICRO_TRANSPORT_ADDRESS,
#   MICRO_BROKER, MICRO_BROKER_ADDRESS
#                           required  the namespace's go-micro environment (what the
#                                     platform hands its instances, Mesh.InstanceEnv);
#                                     used by `micro api` and by the direct calls
#   SERVICE                 default helloworld
#   ENDPOINT                default Helloworld.Call
#   BODY                    default {"name":"Alice"}
#   CONCURRENCY             default 16 concurrent callers
#   DURATION                default 10s per measurement
#   WARMUP                  default 2s per target, not reported
#   CACHE_DIR               default ${XDG_CACHE_HOME:-$HOME/.cache}/micro-platform-bench:
#                           holds the built loadgen, the `micro` CLI and its scratch module
#   GO_MICRO_VERSION        default v5.30.0 (the version the platform requires)
#
# Output: a markdown table with one row per target (requests, errors, req/s, p50, p99)
# and the gateway's throughput relative to `micro api`. Logs go to stderr.
set -euo pipefail

: "${GATEWAY_URL:?set GATEWAY_URL to the platform API server URL}"
: "${PLATFORM_TOKEN:?set PLATFORM_TOKEN to a token for NAMESPACE}"
: "${NAMESPACE:?set NAMESPACE}"
: "${MICRO_REGISTRY_ADDRESS:?set the namespace MICRO_* environment (MICRO_REGISTRY_ADDRESS missing)}"
export MICRO_REGISTRY="${MICRO_REGISTRY:-nats}"
export MICRO_TRANSPORT="${MICRO_TRANSPORT:-nats}"
export MICRO_TRANSPORT_ADDRESS="${MICRO_TRANSPORT_ADDRESS:-$MICRO_REGISTRY_ADDRESS}"

SERVICE="${SERVICE:-helloworld}"
ENDPOINT="${ENDPOINT:-Helloworld.Call}"
DEFAULT_BODY='{"name":"Alice"}'
BODY="${BODY:-$DEFAULT_BODY}"
CONCURRENCY="${CONCURRENCY:-16}"
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
CACHE_DIR="${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/micro-platform-bench}"
GO_MICRO_VERSION="${GO_MICRO_VERSION:-v5.30.0}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$CACHE_DIR/bin"
mkdir -p "$BIN"
log() { echo "gateway.sh: $*" >&2; }

log "building loadgen"
(cd "$ROOT" && go build -o "$BIN/loadgen" ./bench/loadgen)

# go-micro's CLI is built in a scratch module so the project's go.mod never depends on it.
if [[ ! -x "$BIN/micro-$GO_MICRO_VERSION" ]]; then
	log "building go-micro's micro CLI $GO_MICRO_VERSION (first run only)"
	MOD="$CACHE_DIR/micro-cli"
	mkdir -p "$MOD"
	(
		cd "$MOD"
		[[ -f go.mod ]] || go mod init micro-platform-bench/micro-cli >/dev/null 2>&1
		go get "go-micro.dev/v5@$GO_MICRO_VERSION" "go-micro.dev/v5/cmd/micro@$GO_MICRO_VERSION" >&2
		go build -o "$BIN/micro-$GO_MICRO_VERSION" go-micro.dev/v5/cmd/micro
	)
fi

# free_port prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	log "no free port found"
	exit 1
}

API_PORT="$(free_port)"
API_LOG="$CACHE_DIR/micro-api.log"
log "starting micro api on 127.0.0.1:$API_PORT (log: $API_LOG)"
"$BIN/micro-$GO_MICRO_VERSION" api --address "127.0.0.1:$API_PORT" >"$API_LOG" 2>&1 &
API_PID=$!
trap 'kill "$API_PID" 2>/dev/null || true; wait "$API_PID" 2>/dev/null || true' EXIT
for i in $(seq 150); do
	if curl -fsS "http://127.0.0.1:$API_PORT/health" >/dev/null 2>&1; then
		break
	fi
	if ! kill -0 "$API_PID" 2>/dev/null || [[ $i == 150 ]]; then
		log "micro api did not come up:"
		cat "$API_LOG" >&2
		exit 1
	fi
	sleep 0.2
done

# measure LABEL DURATION MODE-ARGS... runs loadgen once and prints its row.
measure() {
	local label="$1" duration="$2"
	shift 2
	# A failed run still prints its row (with its errors); keep going to show the rest.
	"$BIN/loadgen" -label "$label" -body "$BODY" -c "$CONCURRENCY" -d "$duration" "$@" || true
}

DIRECT=(-mode micro -service "$SERVICE" -endpoint "$ENDPOINT")
MICRO_API=(-mode http -url "http://127.0.0.1:$API_PORT/$SERVICE/$ENDPOINT")
GATEWAY=(-mode http -url "${GATEWAY_URL%/}/api/$SERVICE/$ENDPOINT"
	-H "Authorization: Bearer $PLATFORM_TOKEN" -H "Micro-Namespace: $NAMESPACE")

log "warming up ($WARMUP each)"
for target in DIRECT MICRO_API GATEWAY; do
	declare -n args="$target"
	measure warmup "$WARMUP" "${args[@]}" >/dev/null
	unset -n args
done

log "measuring ($DURATION each, $CONCURRENCY callers)"
ROWS="$(
	measure "go-micro client (direct)" "$DURATION" "${DIRECT[@]}"
	measure "micro api" "$DURATION" "${MICRO_API[@]}"
	measure "platform gateway" "$DURATION" "${GATEWAY[@]}"
)"

echo "| target | requests | errors | req/s | p50 | p99 |"
echo "|---|---:|---:|---:|---:|---:|"
echo "$ROWS"
echo
echo "$ROWS" | awk -F'|' '
	{ gsub(/^ +| +$/, "", $2); rate[$2] = $5 + 0 }
	END {
		if (rate["micro api"] > 0)
			printf "platform gateway / micro api throughput: %.2fx (target >= 1.2x)\n", rate["platform gateway"] / rate["micro api"]
	}'
