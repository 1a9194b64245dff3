#!/usr/bin/env bash
# mcp.sh compares a tool call through a namespace's MCP endpoint (/mcp/NS) with the same
# call through the HTTP gateway (POST /api/...) against a real `platform server` and a real
# go-micro service, and times tools/list of a namespace of SERVICES services. It prints
# markdown tables.
#
# It starts a real `platform server` in a temp data dir, creates namespace acme, deploys
# examples/helloworld (size xlarge, so the instance's CPU limit is not what is measured)
# and SERVICES-1 more copies of it named hello-2 … hello-SERVICES (size nano, --detach:
# the same source, so one compile and one shared artifact), and waits until every one
# runs with registered instances. Then bench/mcpcall (built from this tree) opens one MCP
# session with the official Go SDK's client — the namespace's first, so it pays for the
# namespace's MCP server being made and its tools read — and, after WARMUP calls of each
# path, alternates ROUNDS rounds of N sequential calls of each of three paths, timing
# every call: `tools/call` of helloworld.Helloworld.Call in that session; `POST
# /api/helloworld/Helloworld.Call` (keep-alive, Micro-Namespace header, same token); and
# the same `tools/call` by a minimal hand-written client in a second session (what the
# server costs without the SDK client's share). Then LISTS tools/list in the session and
# SESSIONS new sessions (connect + tools/list + close).
#
# Environment (see also lib.sh):
#   N         default 500 sequential calls of each path per round
#   ROUNDS    default 3
#   WARMUP    default 100 calls of each path before the rounds
#   LISTS     default 200 tools/list in the connected session
#   SESSIONS  default 20 new sessions
#   SERVICES  default 50 services in the namespace (helloworld counts as one)
#   BODY      default {"name":"Alice"}
#   PROFILE   set to a file name to record the platform server with `perf record -g` during
#             PROFILE_CALLS more calls of the minimal client's path, then of the gateway's,
#             and write the top of both reports there
#   PROFILE_CALLS  default 3000
#
# Output (stdout): the machine, the tree and the load average, then mcpcall's tables: p50,
# p90, p99 and mean of each path per round and over all rounds with the ratios MCP/gateway
# (target ≤ 1.2× at the p50), and the tools/list figures (target < 20 ms for 50 services).
# Progress goes to stderr.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N="${N:-500}"
ROUNDS="${ROUNDS:-3}"
WARMUP="${WARMUP:-100}"
LISTS="${LISTS:-200}"
SESSIONS="${SESSIONS:-20}"
SERVICES="${SERVICES:-50}"
DEFAULT_BODY='{"name":"Alice"}'
BODY="${BODY:-$DEFAULT_BODY}"
NAMESPACE=acme
((SERVICES >= 1)) || die "SERVICES must be at least 1"

build_tools
log "building mcpcall"
(cd "$ROOT" && go build -o "$BIN/mcpcall" ./bench/mcpcall)

DATA="$WORK/data"
LOAD_START="$(loadavg)"
start_server "$DATA" --rollout-timeout 180s
log "platform server at $SERVER_URL"
pf namespaces create "$NAMESPACE" >&2

# running prints how many services of the namespace run their live release with every
# instance registered.
running() {
	pf services -n "$NAMESPACE" -o json | jq '[.[] | select(.status == "running" and
		.release.status == "live" and (.instances | length) > 0 and
		all(.instances[]; .state == "running" and .registered))] | length'
}

log "deploying helloworld and $((SERVICES - 1)) more copies of it"
t0="$(now)"
pf deploy "$ROOT/examples/helloworld" -n "$NAMESPACE" --size xlarge >&2
for ((i = 2; i <= SERVICES; i++)); do
	pf deploy "$ROOT/examples/helloworld" -n "$NAMESPACE" --name "hello-$i" --size nano --detach >/dev/null
done
for ((i = 0; ; i++)); do
	n="$(running)"
	((n >= SERVICES)) && break
	((i < 600)) || die "only $n of $SERVICES services running after 300 s"
	sleep 0.5
done
DEPLOYED="$(since "$t0")"
ARTIFACTS="$(jq length "$DATA/builds/artifacts/index.json")"
log "$SERVICES services running after $DEPLOYED s, from $ARTIFACTS artifact(s)"
sleep 2 # let the last instances' start-up settle

LOAD_RUN="$(loadavg)"
log "measuring: load average $LOAD_RUN; $ROUNDS rounds of $N calls of each path"
OUT="$("$BIN/mcpcall" -url "$SERVER_URL" -namespace "$NAMESPACE" -token "$TOKEN" \
	-service helloworld -endpoint Helloworld.Call -body "$BODY" \
	-n "$N" -rounds "$ROUNDS" -warmup "$WARMUP" -lists "$LISTS" -sessions "$SESSIONS" \
	-want-tools "$SERVICES")"

COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
[[ -z "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]] || COMMIT+=" (with uncommitted changes)"
echo "### MCP against a real server: $(date -u '+%Y-%m-%d %H:%M UTC'), tree at $COMMIT"
echo
echo "Machine: $(machine). Load average (1/5/15 min): $LOAD_START at the start, $LOAD_RUN when measuring, $(loadavg) at the end."
echo "Namespace $NAMESPACE: $SERVICES services (helloworld at size xlarge, the others nano), all running $DEPLOYED s after the first deploy began, from $ARTIFACTS artifact(s)."
echo
echo "$OUT"

# profile PATH TITLE records the server with perf during PROFILE_CALLS calls of PATH alone
# and appends the top of the report to PROFILE.
profile() {
	perf record -F 999 -g -p "$SERVER_PID" -o "$WORK/perf.$1.data" >/dev/null 2>&1 &
	local perf=$!
	PIDS+=("$perf")
	sleep 1 # perf attaches
	"$BIN/mcpcall" -url "$SERVER_URL" -namespace "$NAMESPACE" -token "$TOKEN" \
		-service helloworld -endpoint Helloworld.Call -body "$BODY" -paths "$1" \
		-n "$PROFILE_CALLS" -rounds 1 -warmup 100 -lists 0 -sessions 0 >&2
	kill -INT "$perf" 2>/dev/null || true
	wait "$perf" || true
	forget "$perf"
	perf_report "$WORK/perf.$1.data" "platform server during $PROFILE_CALLS calls, $2" >>"$PROFILE"
}

if [[ -n "${PROFILE:-}" ]]; then
	command -v perf >/dev/null || die "PROFILE set but perf is not installed"
	PROFILE_CALLS="${PROFILE_CALLS:-3000}"
	: >"$PROFILE"
	log "profiling the platform server with perf: $PROFILE_CALLS tool calls (minimal client), then $PROFILE_CALLS gateway calls"
	profile minimal "MCP tools/call by the minimal client"
	profile gateway "POST /api"
	log "profile reports written to $PROFILE"
fi
