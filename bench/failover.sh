#!/usr/bin/env bash
# failover.sh measures how fast calls recover when a region is lost: a steady stream of
# calls goes through a region's gateway that does not run the service and forwards it to
# one of the two regions that do; each trial kills the agent of the region that answers and
# times until every call succeeds again. It also measures where builds run: the build on the
# control plane against the regions' fetch of the artifact. It prints markdown tables.
#
# Setup, all real processes on 127.0.0.1: one `platform server` (the control plane, with
# its own region `local`) and three `platform agent`s, lon1, fra1 and nyc1, each with its
# own data dir, NATS and gateway (a fixed port, kept across restarts). examples/helloworld
# is deployed to namespace acme, placed in lon1 and fra1.
#
# Where builds run: BUILDS deploys of a changed copy of examples/helloworld (one comment
# line appended, so it compiles; warm Go caches), each timed from the build's events
# (build.started to build.succeeded) and from each agent's log (`fetched artifact ...
# took=`; both agents fetch at once), and the deploy until live in both regions; then the
# same artifact fetched once more with curl from ControlService.FetchArtifact asking for
# no compression (connect-go's client, which the agent uses, accepts gzip, and its server
# then gzips every chunk): how much of the fetch is the transfer.
#
# Failover: loadgen sends CALLERS concurrent callers, each a call every INTERVAL, through
# nyc1's gateway for the whole run, and writes every call's start, end and outcome. Each of
# TRIALS trials:
#   1. finds the region that answers nyc1's calls (the one whose gateway's request counter
#      grows over 1 s; lon1 and fra1 alternate if neither does);
#   2. starts a second stream through the other region's own gateway (the sibling, which
#      runs helloworld itself: the comparison), and after 1 s
#   3. kills the answering region's agent with SIGKILL (MODE=stop: SIGSTOP, a hung machine
#      whose sockets stay open), waits SETTLE, then restarts it with the same arguments and
#      data dir (MODE=stop: SIGCONT), and waits until the control plane reports it
#      connected and a call through its own gateway succeeds; then PAUSE.
# Per trial, over the calls that were in flight at the kill or started before the restart:
# the failed calls, the "answered again" time — from the kill until the first successful
# answer after the last failure (0 when no call failed) — and the slowest call; and the
# calls through nyc1 that failed after the restart (the region's return). The machine's
# load average is recorded at each kill.
#
# Usage:
#   bench/failover.sh                                # ~7 min: 3 builds, 20 trials
#   TRIALS=5 MODE=stop BUILDS=0 bench/failover.sh    # ~2.5 min: a hung region instead
#
# Environment (see also lib.sh):
#   TRIALS    default 20
#   MODE      kill (default) or stop
#   CALLERS   default 4 concurrent callers per stream
#   INTERVAL  default 10ms between the starts of one caller's calls
#   TIMEOUT   default 5s, one call's timeout (loadgen -timeout)
#   SETTLE    seconds from the kill to the restart; default 6 (kill), 15 (stop)
#   PAUSE     seconds after the region serves again before the next trial; default 4
#   BUILDS    default 3 changed-source deploys for "where builds run" (0: skip)
#
# Instances run with --sandbox off: the measurement is the gateways' and the tunnel's, and
# three sandboxed agents would need three bridges. Needs go, curl, jq and GNU coreutils.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PLATFORM="${PLATFORM:-$BIN/platform}"
TRIALS="${TRIALS:-20}"
MODE="${MODE:-kill}"
CALLERS="${CALLERS:-4}"
INTERVAL="${INTERVAL:-10ms}"
TIMEOUT="${TIMEOUT:-5s}"
case "$MODE" in
kill) SETTLE="${SETTLE:-6}" ;;
stop) SETTLE="${SETTLE:-15}" ;;
*) die "MODE=$MODE: use kill or stop" ;;
esac
PAUSE="${PAUSE:-4}"
BUILDS="${BUILDS:-3}"
NAMESPACE=acme
SERVICE=helloworld
BODY='{"name":"Alice"}'
REGIONS=(lon1 fra1 nyc1)

build_tools
start_server "$WORK/cp" --sandbox off
log "control plane at $SERVER_URL"

declare -A AGENT_PID AGENT_GW AGENT_DIR AGENT_TOKEN AGENT_LOG STARTS

# start_agent NAME starts NAME's agent with its token, data dir and gateway address, and
# waits until it logs that it started.
start_agent() {
	local name="$1" n log i
	n=$((${STARTS[$name]:-0} + 1))
	STARTS[$name]=$n
	log="$WORK/$name.$n.log"
	AGENT_LOG[$name]="$log"
	# The token goes in the environment, out of the process list.
	PLATFORM_REGION_TOKEN="${AGENT_TOKEN[$name]}" "$PLATFORM" agent --region "$name" \
		--control "$SERVER_URL" --data "${AGENT_DIR[$name]}" --gateway-addr "${AGENT_GW[$name]}" \
		--sandbox off >"$log" 2>&1 &
	AGENT_PID[$name]=$!
	PIDS+=("$!")
	for ((i = 0; ; i++)); do
		kill -0 "${AGENT_PID[$name]}" 2>/dev/null || {
			cat "$log" >&2
			die "agent $name exited at start"
		}
		grep -q 'msg="agent started"' "$log" && break
		((i < 6000)) || die "agent $name did not start within 60s (log: $log)"
		sleep 0.01
	done
}

# health NAME prints the control plane's view of region NAME: connected, lost or waiting.
health() { pf regions -o json | jq -r --arg n "$1" '.[] | select(.name == $n) | .health'; }

# wait_connected NAME waits until the control plane reports NAME connected.
wait_connected() {
	local i
	for ((i = 0; ; i++)); do
		[[ "$(health "$1")" == connected ]] && return
		((i < 1200)) || die "region $1 not connected within 60s"
		sleep 0.05
	done
}

# call_direct GW makes one call through the gateway at GW and reports whether it succeeded.
call_direct() {
	curl -fsS -o /dev/null --max-time 2 -X POST "http://$1/api/$SERVICE/Helloworld.Call" \
		-H "Authorization: Bearer $TOKEN" -H "Micro-Namespace: $NAMESPACE" \
		-H 'Content-Type: application/json' -d "$BODY" 2>/dev/null
}

# wait_serving NAME waits until a call through NAME's own gateway succeeds.
wait_serving() {
	local i
	for ((i = 0; ; i++)); do
		call_direct "${AGENT_GW[$1]}" && return
		((i < 3000)) || die "region $1 does not serve within 60s"
		sleep 0.02
	done
}

# served NAME prints how many calls for the service NAME's gateway answered with 200.
served() {
	curl -fsS --max-time 2 "http://${AGENT_GW[$1]}/metrics" 2>/dev/null |
		awk -v ns="$NAMESPACE" -v svc="$SERVICE" '/^platform_gateway_requests_total\{/ &&
			index($0, "namespace=\"" ns "\"") && index($0, "service=\"" svc "\"") && index($0, "code=\"200\"") { s += $NF }
			END { printf "%d\n", s }'
}

for name in "${REGIONS[@]}"; do
	pf regions create "$name" --provider local --location loopback >&2
	AGENT_TOKEN[$name]="$(pf regions token "$name" | sed -n 's/.*--token \([^ ]*\).*/\1/p' | head -1)"
	[[ -n "${AGENT_TOKEN[$name]}" ]] || die "regions token $name printed no token"
	AGENT_DIR[$name]="$WORK/$name"
	DATA_DIRS+=("$WORK/$name")
	AGENT_GW[$name]="127.0.0.1:$(free_port)"
	start_agent "$name"
done
for name in "${REGIONS[@]}"; do
	wait_connected "$name"
done
log "agents connected: $(pf regions | awk 'NR > 1 { printf "%s %s; ", $1, $2 }')"

pf namespaces create "$NAMESPACE" --regions lon1,fra1 >&2
t0="$(now)"
pf deploy "$ROOT/examples/helloworld" -n "$NAMESPACE" >&2
FIRST_DEPLOY="$(since "$t0")"
wait_serving lon1
wait_serving fra1
log "first deploy until live in lon1 and fra1: ${FIRST_DEPLOY}s"

# ---- Where builds run ----

# epoch TIME prints an RFC 3339 time as Unix seconds.
epoch() { date -d "$1" +%s.%N; }

# fetches NAME prints the took= of every `fetched artifact` line of NAME's first log, in ms.
fetches() {
	sed -n 's/.*msg="fetched artifact".* took=\([^ ]*\).*/\1/p' "$WORK/$1.1.log" |
		awk '/ms$/ { print $0 + 0; next } /µs$|us$/ { print $0 / 1000; next } /s$/ { print $0 * 1000 }'
}

# fetch_identity RELEASE prints the seconds curl takes to stream RELEASE's artifact from
# the control plane as lon1's agent would, but without gzip; "–" if that fails.
fetch_identity() {
	local id="$1" t0
	# A Connect streaming request: a 5-byte envelope (flags, length) around the
	# FetchArtifactRequest, whose field 1 is the release.
	printf "\\x00\\x00\\x00\\x00\\x$(printf %02x $((${#id} + 2)))\\x0a\\x$(printf %02x ${#id})%s" "$id" >"$WORK/fetch.req"
	t0="$(now)"
	curl -fsS -o "$WORK/fetch.out" --max-time 120 -X POST "$SERVER_URL/platform.runtime.v1.ControlService/FetchArtifact" \
		-H 'Content-Type: application/connect+proto' -H 'Connect-Accept-Encoding: identity' \
		-H "Authorization: Bearer ${AGENT_TOKEN[lon1]}" -H 'Micro-Region: lon1' --data-binary @"$WORK/fetch.req" 2>/dev/null ||
		{ echo "–"; return; }
	t0="$(since "$t0")"
	# The stream ends with an end-of-stream message, which carries any error: a complete
	# one is at least the artifact's size.
	if (($(stat -c %s "$WORK/fetch.out") < $(stat -c %s "${AGENT_DIR[lon1]}/artifacts/$id/$SERVICE"))); then
		echo "–"
	else
		echo "$t0"
	fi
}

BUILD_ROWS=""
declare -A FETCH_MS
BUILD_S=() DEPLOY_S=() RAW_S=()
for ((b = 1; b <= BUILDS; b++)); do
	src="$WORK/src/$b"
	mkdir -p "$src"
	cp -r "$ROOT/examples/helloworld/." "$src/"
	echo "// bench: failover build $b $EPOCHREALTIME" >>"$src/main.go"
	n_lon="$(fetches lon1 | wc -l)" n_fra="$(fetches fra1 | wc -l)"
	load="$(loadavg)"
	t0="$(now)"
	pf deploy "$src" -n "$NAMESPACE" --name "$SERVICE" >"$WORK/deploy.out" 2>&1 || {
		cat "$WORK/deploy.out" >&2
		die "deploy $b failed"
	}
	d="$(since "$t0")"
	evs="$(pf events -n "$NAMESPACE" -o json)"
	started="$(jq -r '[.[] | select(.type == "build.started")] | max_by(.id) | .time' <<<"$evs")"
	succeeded="$(jq -r '[.[] | select(.type == "build.succeeded")] | max_by(.id) | .time' <<<"$evs")"
	build="$(awk -v a="$(epoch "$started")" -v b="$(epoch "$succeeded")" 'BEGIN { printf "%.2f", b - a }')"
	fl="$(fetches lon1 | sed -n "$((n_lon + 1))p")" ff="$(fetches fra1 | sed -n "$((n_fra + 1))p")"
	[[ -n "$fl" && -n "$ff" ]] || die "deploy $b: an agent logged no fetch (lon1 '$fl', fra1 '$ff')"
	release="$(ls -t "${AGENT_DIR[lon1]}/artifacts" | head -1)"
	raw="$(fetch_identity "$release")"
	BUILD_S+=("$build") DEPLOY_S+=("$d") RAW_S+=("$raw")
	FETCH_MS[lon1]+="$fl " FETCH_MS[fra1]+="$ff "
	BUILD_ROWS+="| $b | $build | $fl | $ff | $raw | $d | $load |"$'\n'
	log "build $b: ${build}s on the control plane, fetch ${fl} ms (lon1) ${ff} ms (fra1), ${raw}s without gzip, deploy until live ${d}s"
done
ARTIFACT_BYTES="$(find "${AGENT_DIR[lon1]}/artifacts" -type f -name "$SERVICE" -printf '%s\n' 2>/dev/null | tail -1)"

# ---- Failover ----

URL_OF() { echo "http://${AGENT_GW[$1]}/api/$SERVICE/Helloworld.Call"; }

# stream NAME TRACE DURATION starts loadgen through NAME's gateway; STREAM_PID is its pid.
stream() {
	"$BIN/loadgen" -label "$1" -body "$BODY" -c "$CALLERS" -interval "$INTERVAL" -timeout "$TIMEOUT" \
		-d "$3" -n 1000000000 -wait 30s -trace "$2" -url "$(URL_OF "$1")" \
		-H "Authorization: Bearer $TOKEN" -H "Micro-Namespace: $NAMESPACE" \
		>>"$WORK/loadgen.out" 2>>"$WORK/loadgen.err" &
	STREAM_PID=$!
	PIDS+=("$STREAM_PID")
}

# wait_trace FILE waits until loadgen has written a call to FILE (its -wait succeeded).
wait_trace() {
	local i
	for ((i = 0; ; i++)); do
		[[ -s "$1" ]] && return
		((i < 3000)) || die "no call through $1's stream within 60s ($(cat "$WORK/loadgen.err" 2>/dev/null))"
		sleep 0.02
	done
}

# stop_stream PID ends a loadgen early (SIGINT: it writes its trace and row) and waits.
stop_stream() {
	kill -INT "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	forget "$1"
}

NYC_TRACE="$WORK/nyc1.trace"
stream nyc1 "$NYC_TRACE" 24h
NYC_PID=$STREAM_PID
wait_trace "$NYC_TRACE"
sleep 2
log "calls through nyc1's gateway flowing; $TRIALS trials, MODE=$MODE, SETTLE=${SETTLE}s"

EVENTS="$WORK/trials.txt" # trial killed sibling how kill restart connected serving load1
: >"$EVENTS"
prev=fra1
for ((trial = 1; trial <= TRIALS; trial++)); do
	l0="$(served lon1)" f0="$(served fra1)"
	sleep 1
	l1="$(served lon1)" f1="$(served fra1)"
	dl=$((l1 - l0)) df=$((f1 - f0))
	if ((dl > df)); then
		victim=lon1 how=measured
	elif ((df > dl)); then
		victim=fra1 how=measured
	else
		victim=lon1 how=alternated
		[[ $prev == lon1 ]] && victim=fra1
	fi
	prev=$victim
	sibling=fra1
	[[ $victim == fra1 ]] && sibling=lon1
	sib_trace="$WORK/sibling.$trial.trace"
	stream "$sibling" "$sib_trace" 24h
	sib_pid=$STREAM_PID
	wait_trace "$sib_trace"
	sleep 1
	load="$(cut -d' ' -f1 /proc/loadavg)"
	pid="${AGENT_PID[$victim]}"
	tk="$(now)"
	if [[ $MODE == kill ]]; then
		kill -KILL "$pid"
		wait "$pid" 2>/dev/null || true
		forget "$pid"
	else
		kill -STOP "$pid"
	fi
	sleep "$SETTLE"
	stop_stream "$sib_pid"
	tr="$(now)"
	if [[ $MODE == kill ]]; then
		start_agent "$victim"
	else
		kill -CONT "$pid"
	fi
	wait_connected "$victim"
	tc="$(now)"
	wait_serving "$victim"
	ts="$(now)"
	echo "$trial $victim $sibling $how $tk $tr $tc $ts $load" >>"$EVENTS"
	log "trial $trial: $victim ($how) down ${SETTLE}s; back: connected $(awk -v a="$tr" -v b="$tc" 'BEGIN { printf "%.2f", b - a }')s, serving $(awk -v a="$tr" -v b="$ts" 'BEGIN { printf "%.2f", b - a }')s after the restart; load $load"
	sleep "$PAUSE"
done
stop_stream "$NYC_PID"

# ---- Analysis ----

# analyse EVENTS TRACE... prints, per trial, over the calls of the trace(s) that ended after
# the kill and started before the restart: failed calls, the answered-again time (s), the
# slowest call (s); and the calls that failed between the restart and the next kill.
# With one trace per trial (the siblings'), TRACE is a pattern with % for the trial.
analyse() {
	awk '
		FNR == 1 { file++ }
		file == 1 { n++; K[n] = $5; R[n] = $6; next }
		function trial(s, e,   i) { # the trial whose loss window holds a call, else 0
			for (i = 1; i <= n; i++) if (e >= K[i] && s < R[i]) return i
			return 0
		}
		function back(s,   i) { # the trial whose return (restart to next kill) holds a call
			for (i = n; i >= 1; i--) if (s >= R[i]) return (i == n || s < K[i + 1]) ? i : 0
			return 0
		}
		{ s = $1 / 1e9; e = $2 / 1e9; ok = ($3 == "ok") }
		file == 2 {
			calls++
			i = trial(s, e)
			if (i) {
				if (e - s > slow[i]) slow[i] = e - s
				if (!ok) {
					failed[i]++
					if (!(i in lfs) || s > lfs[i]) { lfs[i] = s; lfe[i] = e }
				}
			} else if (!ok && (i = back(s))) {
				ret[i]++
			} else if (!ok) {
				other++
			}
			next
		}
		file == 3 { # second pass: the first success after the last failure
			i = trial(s, e)
			if (i && ok && (i in lfs) && s >= lfs[i] && (!(i in first) || e < first[i])) first[i] = e
		}
		END {
			for (i = 1; i <= n; i++) {
				if (!failed[i]) a = "0"
				else if (!(i in first)) a = sprintf(">%.3f", R[i] - K[i])
				else a = sprintf("%.3f", (first[i] > lfe[i] ? first[i] : lfe[i]) - K[i])
				printf "%d %d %s %.3f %d\n", i, failed[i] + 0, a, slow[i], ret[i] + 0
			}
			printf "calls %d other_failures %d\n", calls, other + 0 > "/dev/stderr"
		}' "$1" "$2" "$2"
}

NYC_RESULTS="$(analyse "$EVENTS" "$NYC_TRACE" 2>"$WORK/nyc1.summary")"
SIB_RESULTS=""
for ((trial = 1; trial <= TRIALS; trial++)); do
	one="$WORK/trial.$trial.txt"
	sed -n "${trial}p" "$EVENTS" >"$one"
	SIB_RESULTS+="$(analyse "$one" "$WORK/sibling.$trial.trace" 2>/dev/null | sed "s/^1 /$trial /")"$'\n'
done

# pct P VALUES... prints the nearest-rank P-th percentile; ">x" values sort as x.
pct() {
	local p="$1"
	shift
	printf '%s\n' "$@" | sed 's/^>//' | sort -g | awk -v p="$p" '{ v[NR] = $1 }
		END { r = int((p * NR + 99) / 100); if (r < 1) r = 1; print v[r] }'
}

col() { awk -v c="$2" '{ print $c }' <<<"$1"; }

echo "### Failover: $(machine)"
echo
if [[ $MODE == kill ]]; then
	what="its agent is killed (SIGKILL) and restarted ${SETTLE} s later with the same arguments and data dir"
else
	what="its agent is stopped (SIGSTOP: a hung machine, its sockets open) and resumed (SIGCONT) ${SETTLE} s later"
fi
read -r _ total _ outside <"$WORK/nyc1.summary"
echo "MODE=$MODE: in each trial the region answering nyc1's calls is lost: $what." \
	"$CALLERS callers through nyc1's gateway, a call every $INTERVAL each, call timeout $TIMEOUT;" \
	"$total calls, $outside failed outside the trials. Load average (1/5/15 min) at the end: $(loadavg)."
echo
echo "| trial | lost | how chosen | nyc1: failed calls | nyc1: answered again (s) | nyc1: slowest call (s) | sibling's own gateway: failed | sibling: slowest (s) | back → connected (s) | back → serves (s) | nyc1: failed during the return | load (1 min) |"
echo "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
paste -d' ' "$EVENTS" <(echo "$NYC_RESULTS") <(echo "${SIB_RESULTS%$'\n'}") |
	awk '{ printf "| %d | %s | %s | %d | %s | %s | %d | %s | %.2f | %.2f | %d | %s |\n",
		$1, $2, $4, $11, $12, $13, $16, $18, $7 - $6, $8 - $6, $14, $9 }'
echo
A=($(col "$NYC_RESULTS" 3)) F=($(col "$NYC_RESULTS" 2)) S=($(col "$NYC_RESULTS" 4)) RF=($(col "$NYC_RESULTS" 5))
SF=($(col "$SIB_RESULTS" 2)) SS=($(col "$SIB_RESULTS" 4))
echo "| over $TRIALS trials | p50 | p99 | max |"
echo "|---|---:|---:|---:|"
echo "| nyc1: answered again (s) | $(pct 50 "${A[@]}") | $(pct 99 "${A[@]}") | $(pct 100 "${A[@]}") |"
echo "| nyc1: failed calls per trial | $(pct 50 "${F[@]}") | $(pct 99 "${F[@]}") | $(pct 100 "${F[@]}") |"
echo "| nyc1: slowest call per trial (s) | $(pct 50 "${S[@]}") | $(pct 99 "${S[@]}") | $(pct 100 "${S[@]}") |"
echo "| nyc1: failed calls during the region's return | $(pct 50 "${RF[@]}") | $(pct 99 "${RF[@]}") | $(pct 100 "${RF[@]}") |"
echo "| sibling's own gateway: failed calls per trial | $(pct 50 "${SF[@]}") | $(pct 99 "${SF[@]}") | $(pct 100 "${SF[@]}") |"
echo "| sibling's own gateway: slowest call per trial (s) | $(pct 50 "${SS[@]}") | $(pct 99 "${SS[@]}") | $(pct 100 "${SS[@]}") |"

echo
echo "The streams as loadgen summarised them (every call, the trials' included; the siblings' streams summed over the trials, their p50 and p99 the medians of the trials'):"
echo
echo "| stream | requests | errors | req/s | p50 | p99 |"
echo "|---|---:|---:|---:|---:|---:|"
grep '^| nyc1 ' "$WORK/loadgen.out" | sed 's/^| nyc1 |/| through nyc1 (forwarded) |/'
grep -v '^| nyc1 ' "$WORK/loadgen.out" | awk -F'|' '{ r += $3; e += $4; q[NR] = $5 + 0; p50[NR] = $6 + 0; p99[NR] = $7 + 0 }
	function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }; return a[int((n + 1) / 2)] }
	END { if (NR) printf "| through the sibling'"'"'s own gateway (%d streams) | %d | %d | %.0f | %.2f ms | %.2f ms |\n", NR, r, e, med(q, NR), med(p50, NR), med(p99, NR) }'

if ((BUILDS > 0)); then
	echo
	echo "### Where builds run: $(machine)"
	echo
	echo "examples/helloworld with one line changed, warm Go caches; artifact ${ARTIFACT_BYTES:-?} bytes." \
		"First deploy (fetch into both regions included): ${FIRST_DEPLOY} s."
	echo
	echo "| deploy | build on the control plane (s) | agent's fetch, lon1 (ms) | agent's fetch, fra1 (ms) | same stream without gzip, curl (s) | deploy until live in both (s) | load (1/5/15 min) |"
	echo "|---:|---:|---:|---:|---:|---:|---|"
	printf '%s' "$BUILD_ROWS"
	echo "| median | $(median "${BUILD_S[@]}") | $(median ${FETCH_MS[lon1]}) | $(median ${FETCH_MS[fra1]}) | $(median "${RAW_S[@]}") | $(median "${DEPLOY_S[@]}") | |"
fi
