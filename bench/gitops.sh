#!/usr/bin/env bash
# gitops.sh measures GitOps push-to-serving and rollback-to-serving: how long after a
# signed GitHub push delivery for a one-line change reaches the platform the new version
# answers through the gateway, split into its parts from the namespace's events, against
# the floor (the same work by hand: `git fetch` + checkout, `go build`, start until a
# go-micro call answers); and how long after `platform rollback --no-wait` the previous
# version answers again.
#
# Setup, all real processes on 127.0.0.1: a `platform server` in a temp data dir, namespace
# acme, a git repository (branch main) holding a copy of examples/helloworld at its root,
# its bare clone served by `git daemon` (git://), and `platform repos link acme-inc/hello
# -n acme --clone-url git://...`, which gives the link's id and webhook secret. The service
# is named after the repository: hello. A first push delivery (created: true) deploys it
# and warms the caches (the link's clone, the Go build cache); it is reported, not compared.
#
# Then RUNS times, interleaved:
#   - push: main.go's reply changed on one line ("Hello " -> "Hello rN "), committed and
#     pushed to the bare repository; GitHub's push payload for it (ref, before, after,
#     commits[0].modified = [main.go], repository.full_name, head_commit) signed with the
#     link's secret (HMAC-SHA256, openssl) and POSTed to /webhooks/github/links/{link}.
#     t0 is taken just before the POST; then the gateway is called (POST
#     /api/hello/Helloworld.Call, the admin token, every 20 ms) until the answer has the
#     new text: push-to-serving. Its parts come from the namespace's events of the release
#     the push made: queue+fetch+pack (t0 -> build.started; of which t0 -> release.created
#     is the worker's queue, fetch, checkout, pack and upload), build (build.started ->
#     build.succeeded), rollout (build.succeeded -> release.rolled_out; of which
#     build.succeeded -> instance.started is the region starting the instance: its
#     sandbox and the exec) and the rest (release.rolled_out -> first new answer;
#     negative when the new instance answered before the platform promoted it: while a
#     release rolls out, both versions are registered and the gateway balances calls
#     between them).
#   - floor: in a separate clone of the served repository, `git fetch` of main and
#     `git checkout` of the pushed commit, then `CGO_ENABLED=0 GOFLAGS=-mod=mod go build
#     -trimpath -buildvcs=false` (the builder's flags, same Go caches; the builder's tree
#     has no .git, so no VCS stamp either), then the binary started by hand with the
#     namespace's MICRO_* environment until a go-micro call to it succeeds (`loadgen -mode
#     micro -wait`, as deploy.sh). Floor = fetch + build + start.
#
# Rollback: ROLLBACKS times, `platform rollback hello -n acme --no-wait` (no version: the
# release that served before the current one, so it goes back and forth between the last
# two pushes), t0 before the command, then the gateway every 20 ms until the previous text
# answers: rollback-to-serving. The script checks that the rollbacks added no build.started
# event.
#
# Environment (see also lib.sh):
#   RUNS       default 5
#   ROLLBACKS  default 5
#   SIZE       the service's instance size (nano, ..., xlarge); default: the platform's
#              default for a new service (nano, 0.1 CPU when sandboxed). When set, the
#              service is redeployed once after the first push with `platform deploy
#              --size SIZE` (same source: the artifact is reused), and the pushes keep it.
#
# Output (stdout): every measurement, medians with spread, the ratio to the floor and
# whether each target is met (push-to-serving within 1.3x of the floor and under 6 s;
# rollback-to-serving under 1 s). Progress goes to stderr. Needs go, git (git daemon),
# curl, jq, openssl and GNU coreutils.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS="${RUNS:-5}"
ROLLBACKS="${ROLLBACKS:-5}"
NAMESPACE=acme
REPO=acme-inc/hello
SERVICE=hello
NAME=x

export GIT_AUTHOR_NAME=Ada GIT_AUTHOR_EMAIL=ada@example.com GIT_COMMITTER_NAME=Ada GIT_COMMITTER_EMAIL=ada@example.com
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null

build_tools
DATA="$WORK/data"
start_server "$DATA"
log "platform server at $SERVER_URL"
pf namespaces create "$NAMESPACE" >&2

# ---- The repository, served by git daemon, and the link ----

SRC="$WORK/repo/hello"   # where commits are made
BASE="$WORK/served"       # git daemon's base path
FLOOR_DIR="$WORK/floor"   # the floor's clone
mkdir -p "$SRC" "$BASE"
cp -r "$ROOT/examples/helloworld/." "$SRC/"
git -C "$SRC" init -q -b main
git -C "$SRC" add -A
git -C "$SRC" commit -q -m "helloworld"
git clone -q --bare "$SRC" "$BASE/hello.git"
git -C "$SRC" remote add origin "$BASE/hello.git"

GIT_PORT="$(free_port)"
git daemon --base-path="$BASE" --export-all --reuseaddr --listen=127.0.0.1 --port="$GIT_PORT" \
	>"$WORK/git-daemon.log" 2>&1 &
PIDS+=("$!")
CLONE_URL="git://127.0.0.1:$GIT_PORT/hello.git"
for ((i = 0; ; i++)); do
	git ls-remote "$CLONE_URL" >/dev/null 2>&1 && break
	((i < 500)) || die "git daemon did not serve $CLONE_URL (log: $WORK/git-daemon.log)"
	sleep 0.02
done
git clone -q "$CLONE_URL" "$FLOOR_DIR"

pf repos link "$REPO" -n "$NAMESPACE" --clone-url "$CLONE_URL" -o json >"$WORK/link.json"
LINK="$(jq -r .link.id "$WORK/link.json")"
SECRET="$(jq -r .setup.webhook_secret "$WORK/link.json")"
[[ -n "$LINK" && "$LINK" != null && -n "$SECRET" && "$SECRET" != null ]] || die "repos link printed no link id or secret: $(cat "$WORK/link.json")"
log "linked $REPO to $NAMESPACE as $LINK, served at $CLONE_URL"

# ---- Helpers ----

# epoch TIME prints an RFC 3339 time as seconds since the epoch.
epoch() { date -d "$1" +%s.%N; }

# sub A B prints B - A in seconds to the millisecond.
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# payload BEFORE AFTER CREATED prints GitHub's push payload for a push of AFTER over BEFORE
# on main that modified main.go.
payload() {
	local msg
	msg="$(git -C "$SRC" log -1 --format=%s "$2")"
	jq -cn --arg before "$1" --arg after "$2" --argjson created "$3" --arg repo "$REPO" --arg msg "$msg" '{
		ref: "refs/heads/main", before: $before, after: $after, created: $created, deleted: false, forced: false,
		commits: (if $created then [] else [{id: $after, message: $msg, author: {name: "Ada", username: "ada"},
			added: [], modified: ["main.go"], removed: []}] end),
		head_commit: {id: $after, message: $msg, author: {name: "Ada", username: "ada"}},
		repository: {full_name: $repo, clone_url: ""}, pusher: {name: "ada"}}'
}

# deliver BEFORE AFTER CREATED posts a signed push delivery; it sets T0 to the time just
# before the POST.
deliver() {
	local body="$WORK/payload.json" sig code
	payload "$1" "$2" "$3" >"$body"
	sig="sha256=$(openssl dgst -sha256 -hmac "$SECRET" -r <"$body" | cut -d' ' -f1)"
	T0="$(now)"
	code="$(curl -sS -o "$WORK/hook.out" -w '%{http_code}' -X POST \
		-H 'Content-Type: application/json' -H "X-Hub-Signature-256: $sig" \
		-H 'X-GitHub-Event: push' -H "X-GitHub-Delivery: bench-$RANDOM-$RANDOM-$2" \
		--data-binary "@$body" "$SERVER_URL/webhooks/github/links/$LINK")"
	[[ "$code" == 202 ]] || die "push delivery answered $code: $(cat "$WORK/hook.out")"
}

# call prints the gateway's answer to Helloworld.Call of $SERVICE.
call() {
	curl -sS -m 2 -H "Authorization: Bearer $TOKEN" -H "Micro-Namespace: $NAMESPACE" \
		-H 'Content-Type: application/json' -d "{\"name\":\"$NAME\"}" \
		"$SERVER_URL/api/$SERVICE/Helloworld.Call" 2>/dev/null || true
}

# wait_text TEXT T0 calls the gateway every 20 ms until the answer's message is TEXT; it
# sets SERVED to the seconds from T0 until that answer arrived and T_SERVED to its time.
# One curl process makes the calls over one kept-alive connection (--rate 50/s, a URL
# glob: the gateway ignores the query), printing one answer a line, so that the polling
# itself costs little CPU next to the build it waits for; a process per call would
# compete with the compiler on the 2 cores.
wait_text() {
	local want="\"message\":\"$1\"" deadline=$((EPOCHSECONDS + 180)) line fd pid
	exec {fd}< <(exec curl -sS -N --rate 50/s -m 2 -H "Authorization: Bearer $TOKEN" -H "Micro-Namespace: $NAMESPACE" \
		-H 'Content-Type: application/json' -d "{\"name\":\"$NAME\"}" -w '\n' \
		"$SERVER_URL/api/$SERVICE/Helloworld.Call?[1-9000]" 2>/dev/null)
	pid=$!
	while IFS= read -r -t 5 -u "$fd" line || [[ -n "$line" ]]; do
		if [[ "$line" == *"$want"* ]]; then
			T_SERVED="$(now)"
			SERVED="$(sub "$2" "$T_SERVED")"
			kill "$pid" 2>/dev/null || true
			exec {fd}<&-
			return 0
		fi
		((EPOCHSECONDS < deadline)) || break
		line=""
	done
	kill "$pid" 2>/dev/null || true
	exec {fd}<&-
	die "no answer \"$1\" within 180 s (last: $line; server log: $SERVER_LOG)"
}

# release_of FIELD VALUE waits until the release of $SERVICE whose FIELD (a jq path) is
# VALUE has ended; it sets REL_ID, REL_VERSION and REL_STATUS.
release_of() {
	local deadline=$((EPOCHSECONDS + 120)) line
	while :; do
		line="$(pf releases "$SERVICE" -n "$NAMESPACE" -o json |
			jq -r --arg v "$2" "[.[] | select($1 == \$v)] | first | select(. != null) | \"\(.id) \(.version) \(.status)\"")"
		if [[ -n "$line" ]]; then
			read -r REL_ID REL_VERSION REL_STATUS <<<"$line"
			case "$REL_STATUS" in
			live | superseded | failed) return 0 ;;
			esac
		fi
		((EPOCHSECONDS < deadline)) || die "release with $1 = $2 did not end (last: $line)"
		sleep 0.1
	done
}

# event_time TYPE prints the time (epoch seconds) of the event TYPE of release $REL_ID,
# or nothing.
event_time() {
	local t
	t="$(jq -r --arg r "$REL_ID" --arg t "$1" '[.[] | select(.type == $t and .data.release == $r)] | first | .time // empty' "$WORK/events.json")"
	[[ -n "$t" ]] && epoch "$t"
}

# events saves the namespace's recent events of $SERVICE.
events() { pf events -n "$NAMESPACE" --service "$SERVICE" --limit 1000 -o json >"$WORK/events.json"; }

# build_starts prints how many build.started events the namespace has.
build_starts() { pf events -n "$NAMESPACE" --type build.started --limit 1000 -o json | jq length; }

# settle waits until every answer, 10 in a row, is TEXT: the previous release's instance is
# drained and stopped.
settle() {
	local ok=0 deadline=$((EPOCHSECONDS + 60)) out
	while ((ok < 10)); do
		out="$(call)"
		if [[ "$out" == *"\"message\":\"$1\""* ]]; then ok=$((ok + 1)); else ok=0; fi
		((EPOCHSECONDS < deadline)) || die "answers did not settle on \"$1\" (last: $out)"
		sleep 0.05
	done
}

# floor COMMIT NAME fetches and checks out COMMIT in the floor's clone, builds it and starts
# it by hand as service NAME; it sets FLOOR_FETCH, FLOOR_BUILD, FLOOR_START, FLOOR_TOTAL.
floor() {
	local t0 t1 t2 pid
	t0="$(now)"
	git -C "$FLOOR_DIR" fetch -q origin main
	git -C "$FLOOR_DIR" checkout -q --detach "$1"
	FLOOR_FETCH="$(since "$t0")"
	t1="$(now)"
	# The builder's flags. -buildvcs=false: the builder compiles an extracted tree without
	# .git, so it stamps no VCS information (and runs no git); neither does the floor.
	(cd "$FLOOR_DIR" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local go build -trimpath -buildvcs=false -o "$WORK/floor-svc" .)
	FLOOR_BUILD="$(since "$t1")"
	t2="$(now)"
	env "${MESH_ENV[@]}" MICRO_SERVER_NAME="$2" "$WORK/floor-svc" >"$WORK/floor.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	env "${MESH_ENV[@]}" "$BIN/loadgen" -mode micro -service "$2" -endpoint Helloworld.Call \
		-body '{"name":"floor"}' -c 1 -n 1 -d 5s -timeout 2s -wait 60s >/dev/null 2>&1 || {
		cat "$WORK/floor.log" >&2
		die "hand-started $2 never answered"
	}
	FLOOR_START="$(since "$t2")"
	FLOOR_TOTAL="$(since "$t0")"
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	forget "$pid"
}

# ---- First push: deploys hello, warms the caches ----

log "first push (warms the link's clone and the build cache; not compared)"
HEAD="$(git -C "$SRC" rev-parse HEAD)"
git -C "$SRC" push -q origin main
deliver 0000000000000000000000000000000000000000 "$HEAD" true
wait_text "Hello $NAME" "$T0"
FIRST="$SERVED"
release_of .origin.commit "$HEAD"
[[ "$REL_STATUS" == live ]] || die "first release $REL_VERSION is $REL_STATUS"
settle "Hello $NAME"
log "first push served after ${FIRST}s ($REL_VERSION)"
if [[ -n "${SIZE:-}" ]]; then
	log "redeploying $SERVICE with --size $SIZE"
	pf deploy "$SRC" -n "$NAMESPACE" --name "$SERVICE" --size "$SIZE" >"$WORK/size.out" 2>&1 || {
		cat "$WORK/size.out" >&2
		die "deploy --size $SIZE failed"
	}
	settle "Hello $NAME"
fi
PID="$(instance_of "$DATA" "$SERVICE")" || die "no running $SERVICE instance of this server"
mapfile -t MESH_ENV < <(mesh_env "$PID")

# ---- Runs ----

ROWS="" LOADS=()
PUSH=() QFP=() QUEUE=() BUILD=() ROLL=() REST=() TOLIVE=() SPAWN=() ANSWER=()
FLOOR=() FFETCH=() FBUILD=() FSTART=() RATIO=()
# The newest release serving "Hello x" (the --size redeploy's, when SIZE is set).
TEXTS=("Hello $NAME") VERSIONS=("$(pf releases "$SERVICE" -n "$NAMESPACE" -o json | jq -r '.[0].version')")
for ((run = 1; run <= RUNS; run++)); do
	LOADS+=("$(loadavg)")
	log "run $run/$RUNS: load average $(loadavg)"
	BEFORE="$(git -C "$SRC" rev-parse HEAD)"
	sed -i -E "s/rsp\.Message = \"Hello [^\"]*\" \+ req\.Name/rsp.Message = \"Hello r$run \" + req.Name/" "$SRC/main.go"
	git -C "$SRC" commit -q -am "reply with r$run"
	AFTER="$(git -C "$SRC" rev-parse HEAD)"
	[[ "$(git -C "$SRC" diff --name-only "$BEFORE" "$AFTER")" == main.go ]] || die "the change is not one line of main.go"
	git -C "$SRC" push -q origin main

	deliver "$BEFORE" "$AFTER" false
	wait_text "Hello r$run $NAME" "$T0"
	push="$SERVED" t_served="$T_SERVED" t0="$T0"
	release_of .origin.commit "$AFTER"
	[[ "$REL_STATUS" == live ]] || die "release $REL_VERSION of $AFTER is $REL_STATUS"
	events
	created="$(event_time release.created)" started="$(event_time build.started)"
	succeeded="$(event_time build.succeeded)" rolled="$(event_time release.rolled_out)" inst="$(event_time instance.started)"
	[[ -n "$created" && -n "$started" && -n "$succeeded" && -n "$rolled" && -n "$inst" ]] ||
		die "release $REL_VERSION lacks an event (release.created '$created', build.started '$started', build.succeeded '$succeeded', instance.started '$inst', release.rolled_out '$rolled')"
	qfp="$(sub "$t0" "$started")" queue="$(sub "$t0" "$created")" build="$(sub "$started" "$succeeded")"
	roll="$(sub "$succeeded" "$rolled")" rest="$(sub "$rolled" "$t_served")" tolive="$(sub "$t0" "$rolled")"
	spawn="$(sub "$succeeded" "$inst")" answer="$(sub "$inst" "$t_served")"
	PUSH+=("$push") QFP+=("$qfp") QUEUE+=("$queue") BUILD+=("$build") ROLL+=("$roll") REST+=("$rest") TOLIVE+=("$tolive")
	SPAWN+=("$spawn") ANSWER+=("$answer")
	TEXTS+=("Hello r$run $NAME") VERSIONS+=("$REL_VERSION")
	log "run $run: $REL_VERSION served after ${push}s (queue+fetch+pack $qfp [to release.created $queue], build $build, rollout $roll [to instance.started $spawn], rest $rest; live at $tolive)"
	settle "Hello r$run $NAME"

	floor "$AFTER" "floor$run"
	FLOOR+=("$FLOOR_TOTAL") FFETCH+=("$FLOOR_FETCH") FBUILD+=("$FLOOR_BUILD") FSTART+=("$FLOOR_START")
	ratio="$(awk -v a="$push" -v b="$FLOOR_TOTAL" 'BEGIN { printf "%.2f", a / b }')"
	RATIO+=("$ratio")
	log "run $run: floor ${FLOOR_TOTAL}s (fetch $FLOOR_FETCH + build $FLOOR_BUILD + start $FLOOR_START): ${ratio}x"
	ROWS+="| $run | $REL_VERSION | **$push** | $qfp ($queue) | $build | $roll ($spawn) | $rest | $tolive | $FLOOR_TOTAL ($FLOOR_FETCH + $FLOOR_BUILD + $FLOOR_START) | ${ratio}× | ${LOADS[-1]} |"$'\n'
done

# ---- Rollbacks ----

BUILDS_BEFORE="$(build_starts)"
RB_ROWS="" RB=() RB_CLI=() RB_LIVE=() RB_SPAWN=()
cur=$RUNS prev=$((RUNS - 1))
for ((k = 1; k <= ROLLBACKS; k++)); do
	want="${TEXTS[prev]}"
	log "rollback $k/$ROLLBACKS: back to \"$want\" (${VERSIONS[prev]}); load average $(loadavg)"
	T0="$(now)"
	pf rollback "$SERVICE" -n "$NAMESPACE" --no-wait -o json >"$WORK/rollback.json"
	cli="$(since "$T0")"
	t0="$T0"
	wait_text "$want" "$t0"
	rb="$SERVED"
	REL_ID="$(jq -r .id "$WORK/rollback.json")"
	of="$(jq -r .origin.rollback_of "$WORK/rollback.json")"
	# The newest release with the previous text: the push's, or the rollback before last.
	[[ "$of" == "${VERSIONS[prev]}" ]] || die "rollback $k went back to $of, not ${VERSIONS[prev]}"
	release_of .id "$REL_ID"
	[[ "$REL_STATUS" == live ]] || die "rollback release $REL_VERSION is $REL_STATUS"
	events
	rolled="$(event_time release.rolled_out)" inst="$(event_time instance.started)"
	[[ -n "$rolled" && -n "$inst" ]] || die "rollback release $REL_VERSION lacks instance.started ('$inst') or release.rolled_out ('$rolled')"
	tolive="$(sub "$t0" "$rolled")" spawn="$(sub "$t0" "$inst")"
	RB+=("$rb") RB_CLI+=("$cli") RB_LIVE+=("$tolive") RB_SPAWN+=("$spawn")
	RB_ROWS+="| $k | $REL_VERSION, back to ${VERSIONS[prev]} | **$rb** | $cli | $spawn | $tolive | $(loadavg) |"$'\n'
	log "rollback $k: $REL_VERSION served after ${rb}s (CLI ${cli}s, instance.started at ${spawn}s, live at ${tolive}s)"
	settle "$want"
	VERSIONS[prev]="$REL_VERSION"
	tmp=$cur cur=$prev prev=$tmp
done
BUILDS_AFTER="$(build_starts)"
[[ "$BUILDS_AFTER" == "$BUILDS_BEFORE" ]] || log "warning: the rollbacks added $((BUILDS_AFTER - BUILDS_BEFORE)) build.started events"

# ---- Report ----

# verdict V OP T prints met when V OP T (OP is <= or <), else not met.
verdict() {
	awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN { ok = op == "<" ? v + 0 < t + 0 : v + 0 <= t + 0; print ok ? "met" : "**not met**" }'
}
MP="$(median "${PUSH[@]}")" MF="$(median "${FLOOR[@]}")" MR="$(median "${RB[@]}")"
RMAX="$(printf '%s\n' "${RB[@]}" | sort -g | tail -1)"
MRATIO="$(awk -v a="$MP" -v b="$MF" 'BEGIN { printf "%.2f", a / b }')"

echo "### GitOps push-to-serving: examples/helloworld, $RUNS runs"
echo
echo "Seconds$([[ -n "${SIZE:-}" ]] && echo ", size $SIZE" || echo ", default size"). Push parts from the release's events, t0 = just before the"
echo "delivery's POST: queue+fetch+pack = t0 → build.started (in brackets t0 → release.created),"
echo "build = build.started → build.succeeded, rollout = build.succeeded → release.rolled_out (in"
echo "brackets → instance.started), rest = release.rolled_out → first new answer (negative: answered"
echo "before the promotion), live = t0 → release.rolled_out. Floor = git fetch + checkout, go build,"
echo "start until a call answers."
echo
echo "| run | release | push → serving | queue+fetch+pack (→ created) | build | rollout (→ instance.started) | rest | live | floor (fetch + build + start) | ratio | load avg |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
printf '%s' "$ROWS"
echo
echo "First push on a fresh server (new clone, build cache as found): ${FIRST} s until it served."
echo
echo "### Rollback-to-serving, $ROLLBACKS rollbacks"
echo
echo "| # | release | rollback → serving | CLI (--no-wait) | → instance.started | → live | load avg |"
echo "|---:|---|---:|---:|---:|---:|---|"
printf '%s' "$RB_ROWS"
echo
echo "build.started events before the rollbacks: $BUILDS_BEFORE, after: $BUILDS_AFTER" \
	"($([[ "$BUILDS_AFTER" == "$BUILDS_BEFORE" ]] && echo "no build" || echo "**rollbacks built**"))."
echo
echo "| measurement | median s (spread) |"
echo "|---|---:|"
echo "| push → serving | $MP ($(spread "${PUSH[@]}")) |"
echo "| &nbsp; queue+fetch+pack (t0 → build.started) | $(median "${QFP[@]}") ($(spread "${QFP[@]}")) |"
echo "| &nbsp; of which t0 → release.created | $(median "${QUEUE[@]}") ($(spread "${QUEUE[@]}")) |"
echo "| &nbsp; build | $(median "${BUILD[@]}") ($(spread "${BUILD[@]}")) |"
echo "| &nbsp; rollout (build.succeeded → release.rolled_out) | $(median "${ROLL[@]}") ($(spread "${ROLL[@]}")) |"
echo "| &nbsp;&nbsp; of which build.succeeded → instance.started (region, sandbox, exec) | $(median "${SPAWN[@]}") ($(spread "${SPAWN[@]}")) |"
echo "| &nbsp;&nbsp; instance.started → first new answer | $(median "${ANSWER[@]}") ($(spread "${ANSWER[@]}")) |"
echo "| &nbsp; rest (release.rolled_out → first new answer) | $(median "${REST[@]}") ($(spread "${REST[@]}")) |"
echo "| push → release.rolled_out | $(median "${TOLIVE[@]}") ($(spread "${TOLIVE[@]}")) |"
echo "| floor: fetch + build + start | $MF ($(spread "${FLOOR[@]}")) |"
echo "| &nbsp; git fetch + checkout | $(median "${FFETCH[@]}") ($(spread "${FFETCH[@]}")) |"
echo "| &nbsp; go build | $(median "${FBUILD[@]}") ($(spread "${FBUILD[@]}")) |"
echo "| &nbsp; start until first call | $(median "${FSTART[@]}") ($(spread "${FSTART[@]}")) |"
echo "| rollback → serving | $MR ($(spread "${RB[@]}")), max $RMAX |"
echo "| rollback → instance.started | $(median "${RB_SPAWN[@]}") ($(spread "${RB_SPAWN[@]}")) |"
echo "| rollback → release.rolled_out | $(median "${RB_LIVE[@]}") ($(spread "${RB_LIVE[@]}")) |"
echo
echo "push → serving / floor: ${MRATIO}x by medians (runs $(spread "${RATIO[@]}")); target <= 1.3x: $(verdict "$MRATIO" "<=" 1.3)"
echo "push → serving: $MP s; target < 6 s: $(verdict "$MP" "<" 6)"
echo "rollback → serving: median $MR s, max $RMAX s; target < 1 s: $(verdict "$MR" "<" 1) (median), $(verdict "$RMAX" "<" 1) (max)"
