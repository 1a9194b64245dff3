#!/usr/bin/env bash
# dev.sh measures `platform dev`'s loop: from saving a file to the new answer coming back
# through the gateway, and compares it with the floor: what the same work takes by hand,
# `go build` of the same source with the builder's flags, then starting the binary with
# the namespace's MICRO_* environment until a go-micro client call to it succeeds (as
# deploy.sh measures it).
#
# It starts a real `platform server` in a temp data dir, creates the dev namespace
# acme-dev (--dev), copies examples/helloworld and runs `platform dev` on the copy (its
# first deploy warms the build cache and is reported, not compared). Then, EDITS times,
# interleaved:
#   - an edit: main.go rewritten so Helloworld.Call answers "Hello<N> NAME"; the time
#     from just before the write until a gateway call answers with the new greeting
#     (calls start once `platform dev` prints the release's verdict, read with bash
#     builtins every 10 ms, then curl every 10 ms: a poller starting processes all along
#     would take CPU from the build); also what `platform dev` printed for it ("vN live
#     in S s", from the first file event it saw);
#   - floor: a copy of examples/helloworld with one comment line appended,
#     `CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath`, then the binary started by
#     hand with the environment of the running instance and a name of its own, until a
#     go-micro client call to it succeeds (`loadgen -mode micro -wait`, retries every
#     10 ms); and the same with the dev build's flags (-ldflags=-s -w), for reference.
#
# Environment (see also lib.sh):
#   EDITS   default 10
#
# Output (stdout): every measurement, then medians with spread and the ratio to the floor
# (target: save → answering within 1.2x of the floor). Progress goes to stderr.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

EDITS="${EDITS:-10}"
NAMESPACE=acme-dev
SERVICE=helloworld

build_tools
DATA="$WORK/data"
start_server "$DATA"
log "platform server at $SERVER_URL"
pf namespaces create "$NAMESPACE" --dev >&2

SRC="$WORK/dev/$SERVICE"
mkdir -p "$SRC"
cp -r "$ROOT/examples/helloworld/." "$SRC/"
ORIG="$WORK/main.go.orig"
cp "$SRC/main.go" "$ORIG"
DEVLOG="$WORK/dev.log"

t0="$(now)"
"$PLATFORM" --server "$SERVER_URL" --token "$TOKEN" dev "$SRC" -n "$NAMESPACE" >"$DEVLOG" 2>&1 &
DEV_PID=$!
PIDS+=("$DEV_PID")

# dev_said TEXT reports whether platform dev's output holds TEXT. It reads the file with
# bash builtins only: a poll every 10 ms that started processes (grep, curl) would take
# CPU from the build it waits for, which the floor's in-process retries do not.
dev_said() {
	local lines l
	mapfile -t lines <"$DEVLOG"
	for l in ${lines[@]+"${lines[@]}"}; do
		[[ "$l" == *"$1"* ]] && return 0
	done
	return 1
}

# wait_for TEXT [SECONDS] waits until platform dev's output holds TEXT.
wait_for() {
	local i
	for ((i = 0; i < ${2:-120} * 100; i++)); do
		dev_said "$1" && return 0
		kill -0 "$DEV_PID" 2>/dev/null || {
			cat "$DEVLOG" >&2
			die "platform dev exited"
		}
		sleep 0.01
	done
	cat "$DEVLOG" >&2
	die "no \"$1\" from platform dev"
}

# answer prints what Helloworld.Call answers through the gateway for name "bench".
answer() {
	curl -sS -m 2 -H "Authorization: Bearer $TOKEN" -H "Micro-Namespace: $NAMESPACE" \
		-d '{"name":"bench"}' "$SERVER_URL/api/$SERVICE/Helloworld.Call" 2>/dev/null || true
}

wait_for "$SERVICE v1 live in" 300
FIRST="$(since "$t0")"
for _ in $(seq 500); do
	[[ "$(answer)" == *'"Hello bench"'* ]] && break
	sleep 0.01
done
[[ "$(answer)" == *'"Hello bench"'* ]] || die "v1 does not answer through the gateway"
PID="$(instance_of "$DATA" "$SERVICE")" || die "no running $SERVICE instance of this server"
mapfile -t MESH_ENV < <(mesh_env "$PID")

# edit N rewrites main.go to answer "HelloN NAME" and sets EDIT_T to the seconds until the
# gateway answers so, and DEV_T to what platform dev printed for the release. It waits
# for platform dev's "live" line first (builtins only, see dev_said), then calls the
# gateway every 10 ms until the new answer comes (the first call, as a rule).
edit() {
	local n="$1" want t0 version
	want="\"Hello$n bench\""
	version="v$((n + 1))"
	t0="$(now)"
	sed "s/\"Hello \" + req.Name/\"Hello$n \" + req.Name/" "$ORIG" >"$SRC/main.go.tmp"
	mv "$SRC/main.go.tmp" "$SRC/main.go" # an editor's atomic save
	wait_for "$SERVICE $version " 120
	while [[ "$(answer)" != *"$want"* ]]; do
		dev_said "$SERVICE $version build failed" && die "edit $n: the build failed"
		(($(awk -v t="$(since "$t0")" 'BEGIN { print (t > 120) }'))) && die "edit $n: no new answer after 120 s"
		sleep 0.01
	done
	EDIT_T="$(since "$t0")"
	wait_for "$SERVICE $version live in" 10
	DEV_T="$(sed -n "s/.*$SERVICE $version live in \([0-9.]*\) s.*/\1/p" "$DEVLOG" | head -1)"
}

# floor NAME FLAGS... builds a changed copy by hand with the builder's flags plus FLAGS and
# starts it as service NAME with the namespace's environment; it sets FLOOR_BUILD,
# FLOOR_START and FLOOR_TOTAL (seconds) and stops it.
floor() {
	local name="$1" dir t0 t1 pid
	shift
	dir="$(changed_copy "$name")"
	t0="$(now)"
	(cd "$dir" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local go build -trimpath "$@" -o "$dir/svc" .)
	FLOOR_BUILD="$(since "$t0")"
	t1="$(now)"
	env "${MESH_ENV[@]}" MICRO_SERVER_NAME="$name" "$dir/svc" >"$dir/out.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	env "${MESH_ENV[@]}" "$BIN/loadgen" -mode micro -service "$name" -endpoint Helloworld.Call \
		-body '{"name":"floor"}' -c 1 -n 1 -d 5s -timeout 2s -wait 60s >/dev/null 2>&1 || {
		cat "$dir/out.log" >&2
		die "hand-started $name never answered"
	}
	FLOOR_START="$(since "$t1")"
	FLOOR_TOTAL="$(since "$t0")"
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	forget "$pid"
}

ROWS=""
EDIT=() DEV=() FLOOR=() FBUILD=() FSTART=() SFLOOR=() SBUILD=() LOADS=()
for ((n = 1; n <= EDITS; n++)); do
	LOADS+=("$(loadavg)")
	log "edit $n/$EDITS: load average $(loadavg)"
	edit "$n"
	EDIT+=("$EDIT_T") DEV+=("$DEV_T")
	ROWS+="| $n | save → new answer through the gateway | $EDIT_T (platform dev: live in $DEV_T) |"$'\n'

	floor "floor$n"
	FLOOR+=("$FLOOR_TOTAL") FBUILD+=("$FLOOR_BUILD") FSTART+=("$FLOOR_START")
	ROWS+="| $n | floor: go build + start by hand until first call | $FLOOR_TOTAL (build $FLOOR_BUILD + start $FLOOR_START) |"$'\n'

	floor "sfloor$n" "-ldflags=-s -w"
	SFLOOR+=("$FLOOR_TOTAL") SBUILD+=("$FLOOR_BUILD")
	ROWS+="| $n | floor with -ldflags='-s -w' | $FLOOR_TOTAL (build $FLOOR_BUILD + start $FLOOR_START) |"$'\n'
done
kill -INT "$DEV_PID"
wait "$DEV_PID" || die "platform dev exited $? after SIGINT"
forget "$DEV_PID"
pf events -n "$NAMESPACE" --limit 1000 -o json >"$WORK/events.json"

# steps prints, from the server's events, the median and spread of each step of the
# redeploys v2 and later: created → build started → built → rolling out → instance
# started → live.
steps() {
	python3 - "$WORK/events.json" <<'PY'
import json, sys
from datetime import datetime
events = json.load(open(sys.argv[1]))
if isinstance(events, dict):
    events = events.get("events", [])
def ts(s):
    s = s.replace("Z", "+00:00")
    head, _, rest = s.partition(".")
    if rest:
        frac = "".join(c for c in rest if c.isdigit())
        tz = rest[len(frac):]
        s = head + "." + (frac + "000000")[:6] + tz
    return datetime.fromisoformat(s).timestamp()
by = {}
for e in events:
    v = (e.get("data") or {}).get("version")
    if e.get("type") == "instance.started":
        continue
    if v:
        by.setdefault(v, {})[e["type"]] = ts(e["time"])
# instance.started carries no version: take the first one after each rolling_out
starts = sorted(ts(e["time"]) for e in events if e.get("type") == "instance.started")
for v, t in by.items():
    ro = t.get("release.rolling_out")
    if ro is not None:
        after = [s for s in starts if s >= ro]
        if after:
            t["instance.started"] = after[0]
names = [("release.created", "build.started", "queue → build starts"),
         ("build.started", "build.succeeded", "build (extract, go build, docs)"),
         ("build.succeeded", "release.rolling_out", "build done → rollout starts"),
         ("release.rolling_out", "instance.started", "rollout → instance started (sandbox)"),
         ("instance.started", "release.rolled_out", "instance started → registered, healthy, live"),
         ("release.created", "release.rolled_out", "release created → live (server side)")]
def med(xs):
    xs = sorted(xs); return xs[(len(xs) - 1) // 2]
for a, b, what in names:
    xs = [t[b] - t[a] for v, t in by.items() if v != "v1" and a in t and b in t]
    if xs:
        print(f"| {what} | {med(xs):.3f} ({min(xs):.3f}–{max(xs):.3f}) |")
PY
}

echo "### platform dev: save → new answer, examples/helloworld, $EDITS edits"
echo
echo "$(machine)"
echo
echo "Load average (1/5/15 min) at the start of each edit: $(printf '%s; ' "${LOADS[@]}")"
echo
echo "| edit | what | seconds |"
echo "|---:|---|---:|"
printf '%s' "$ROWS"
echo
echo "First deploy by platform dev on a fresh server (build cache as found): ${FIRST} s."
echo
echo "| measurement | p50 s (spread) |"
echo "|---|---:|"
echo "| platform dev: save → new answer through the gateway | $(median "${EDIT[@]}") ($(spread "${EDIT[@]}")) |"
echo "| platform dev: its own \"live in\" (first file event → live) | $(median "${DEV[@]}") ($(spread "${DEV[@]}")) |"
echo "| floor: go build + start until first call | $(median "${FLOOR[@]}") ($(spread "${FLOOR[@]}")) |"
echo "| floor: go build only | $(median "${FBUILD[@]}") ($(spread "${FBUILD[@]}")) |"
echo "| floor: start until first call | $(median "${FSTART[@]}") ($(spread "${FSTART[@]}")) |"
echo "| floor with -s -w: go build + start | $(median "${SFLOOR[@]}") ($(spread "${SFLOOR[@]}")) |"
echo "| floor with -s -w: go build only | $(median "${SBUILD[@]}") ($(spread "${SBUILD[@]}")) |"
echo
echo "Where a redeploy's time goes on the server, from its events (v2 and later; p50 s and spread):"
echo
echo "| step | p50 s (spread) |"
echo "|---|---:|"
steps
echo
awk -v d="$(median "${EDIT[@]}")" -v f="$(median "${FLOOR[@]}")" -v s="$(median "${SFLOOR[@]}")" \
	'BEGIN { printf "save → answer / floor: %.2fx (target <= 1.2x); / floor with the dev build'"'"'s flags: %.2fx\n", d / f, d / s }'
