#!/usr/bin/env bash
# deploy.sh measures how long `platform deploy DIR -n acme` takes until the release is live
# (the CLI exits 0 once the new release serves) and compares it with the floor: what the
# same work takes by hand, `go build` of the same source with the builder's flags, then
# starting the binary with the namespace's MICRO_* environment until a go-micro client call
# to it succeeds.
#
# It starts a real `platform server` in a temp data dir, creates namespace acme and deploys
# examples/helloworld once (this warms the build cache and is reported, not compared). Then,
# RUNS times, interleaved:
#   - changed source: a copy of examples/helloworld with one comment line appended to
#     main.go, so the archive digest differs and a real compile and link happen;
#   - floor: another such copy, `CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath`, then
#     the binary started by hand with the environment of the running instance and a name of
#     its own, until a go-micro client call to it succeeds (`loadgen -mode micro -wait`,
#     started with the binary, retries every 10ms);
#   - unchanged source: the last deployed copy again (the artifact is reused, no compile).
#
# Environment (see also lib.sh):
#   RUNS   default 3
#
# Output (stdout): every measurement, then medians with spread and the ratio to the floor
# (target: changed-source deploy within 1.5x of the floor). Progress goes to stderr.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS="${RUNS:-3}"
NAMESPACE=acme
SERVICE=helloworld

build_tools
DATA="$WORK/data"
start_server "$DATA"
log "platform server at $SERVER_URL"
pf namespaces create "$NAMESPACE" >&2

# artifacts prints how many artifacts the builder has recorded for reuse.
artifacts() { jq length "$DATA/builds/artifacts/index.json" 2>/dev/null || echo 0; }

# timed_deploy DIR deploys DIR as $SERVICE; it sets DEPLOY_T to the seconds until the CLI
# exited 0 and BUILT to compiled (a new artifact was recorded) or reused.
timed_deploy() {
	local t0 before
	before="$(artifacts)"
	t0="$(now)"
	pf deploy "$1" -n "$NAMESPACE" --name "$SERVICE" >"$WORK/deploy.out" 2>&1 || {
		cat "$WORK/deploy.out" >&2
		die "deploy of $1 failed"
	}
	DEPLOY_T="$(since "$t0")"
	if (($(artifacts) > before)); then BUILT=compiled; else BUILT=reused; fi
}

# floor NAME builds a changed copy by hand and starts it as service NAME with the
# namespace's environment; it sets FLOOR_BUILD and FLOOR_START (seconds) and stops it.
floor() {
	local dir t0 t1 pid
	dir="$(changed_copy "$1")"
	t0="$(now)"
	(cd "$dir" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local go build -trimpath -o "$dir/svc" .)
	FLOOR_BUILD="$(since "$t0")"
	t1="$(now)"
	env "${MESH_ENV[@]}" MICRO_SERVER_NAME="$1" "$dir/svc" >"$dir/out.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	env "${MESH_ENV[@]}" "$BIN/loadgen" -mode micro -service "$1" -endpoint Helloworld.Call \
		-body '{"name":"floor"}' -c 1 -n 1 -d 5s -timeout 2s -wait 60s >/dev/null 2>&1 || {
		cat "$dir/out.log" >&2
		die "hand-started $1 never answered"
	}
	FLOOR_START="$(since "$t1")"
	FLOOR_TOTAL="$(since "$t0")"
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	forget "$pid"
}

log "first deploy (warms the build cache; not compared)"
timed_deploy "$ROOT/examples/helloworld"
FIRST="$DEPLOY_T"
FIRST_BUILT="$BUILT"
PID="$(instance_of "$DATA" "$SERVICE")" || die "no running $SERVICE instance of this server"
mapfile -t MESH_ENV < <(mesh_env "$PID")

# The cost of one registration check: a loadgen process making one call to a service that
# is already registered.
t0="$(now)"
env "${MESH_ENV[@]}" "$BIN/loadgen" -mode micro -service "$SERVICE" -endpoint Helloworld.Call \
	-body '{"name":"probe"}' -c 1 -n 1 -d 5s >/dev/null 2>&1 || die "probe call failed"
PROBE="$(since "$t0")"

ROWS=""
CHANGED=() UNCHANGED=() FLOOR=() FBUILD=() FSTART=() LOADS=()
for ((run = 1; run <= RUNS; run++)); do
	LOADS+=("$(loadavg)")
	log "run $run/$RUNS: load average $(loadavg)"
	dir="$(changed_copy "deploy$run")"
	timed_deploy "$dir"
	t="$DEPLOY_T"
	[[ "$BUILT" == compiled ]] || die "changed source was not compiled"
	CHANGED+=("$t")
	ROWS+="| $run | deploy, changed source (compile) | $t |"$'\n'

	floor "floor$run"
	FLOOR+=("$FLOOR_TOTAL") FBUILD+=("$FLOOR_BUILD") FSTART+=("$FLOOR_START")
	ROWS+="| $run | floor: go build + start by hand until first call | $FLOOR_TOTAL (build $FLOOR_BUILD + start $FLOOR_START) |"$'\n'

	timed_deploy "$dir"
	t="$DEPLOY_T"
	[[ "$BUILT" == reused ]] || log "warning: unchanged source was compiled again"
	UNCHANGED+=("$t")
	ROWS+="| $run | deploy, unchanged source ($BUILT artifact) | $t |"$'\n'
done

echo "### Deploy until live: examples/helloworld, $RUNS runs"
echo
echo "Load average (1/5/15 min) at the start of each run: $(printf '%s; ' "${LOADS[@]}")"
echo
echo "| run | what | seconds |"
echo "|---:|---|---:|"
printf '%s' "$ROWS"
echo
echo "First deploy on a fresh server (build cache as found, $FIRST_BUILT): ${FIRST} s." \
	"Starting a loadgen process and making one call to a registered service takes ${PROBE} s;" \
	"the floor's start time includes that."
echo
echo "| measurement | median s (spread) |"
echo "|---|---:|"
echo "| deploy, changed source | $(median "${CHANGED[@]}") ($(spread "${CHANGED[@]}")) |"
echo "| floor: go build + start until first call | $(median "${FLOOR[@]}") ($(spread "${FLOOR[@]}")) |"
echo "| floor: go build only | $(median "${FBUILD[@]}") ($(spread "${FBUILD[@]}")) |"
echo "| floor: start until first call | $(median "${FSTART[@]}") ($(spread "${FSTART[@]}")) |"
echo "| deploy, unchanged source (artifact reused) | $(median "${UNCHANGED[@]}") ($(spread "${UNCHANGED[@]}")) |"
echo
awk -v d="$(median "${CHANGED[@]}")" -v f="$(median "${FLOOR[@]}")" \
	'BEGIN { printf "changed-source deploy / floor: %.2fx (target <= 1.5x)\n", d / f }'
