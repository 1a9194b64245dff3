#!/usr/bin/env bash
# coldstart.sh measures a new user's first path on a fresh machine, as the README gives it:
# a fresh clone, the platform compiled (module downloads included), `platform server`
# started, examples/helloworld deployed and its first call answered — with empty Go caches:
# GOCACHE, GOMODCACHE and the platform's data dir all point at new directories under the
# run's temp dir, so nothing earlier runs left behind is reused. Go modules still come from
# the module proxy the environment names (GOPROXY), over the network.
#
# The user's steps, each timed from the end of the one before:
#   1. clone          git clone of this repository (local, so it costs nothing)
#   2. platform       go build ./cmd/platform in the clone: downloads and compile
#   3. server ready   `platform server` spawned until /readyz answers 200
#   4. user steps     login + namespaces create (what the user types before deploying;
#                     WAIT_BEFORE_DEPLOY seconds of typing, default 0: the worst case)
#   5. deploy         `platform deploy examples/helloworld -n acme` until it exits 0 (live),
#                     split from the events into queue, service compile (build.started →
#                     build.succeeded) and rollout (→ release.rolled_out)
#   6. call           `platform call helloworld Helloworld.Call` answered
# and the total: fresh clone → answered call (target: < 4 min on this machine).
#
# Besides wall-clock seconds it reports the CPU seconds (user+system) of the platform's
# compile and of the server's finished child processes (the service's build and the
# build cache warm-up), which vary less than wall time on a shared machine, and the
# server's log lines about the warm-up.
#
# Environment (see also lib.sh):
#   WAIT_BEFORE_DEPLOY  seconds between the server's readiness and the deploy, default 0
#   KEEP_WORK=1         keep the temp dir (and its caches) afterwards
#   ONLY_PATHS          pathspecs (space-separated) limiting which uncommitted files of
#                       this checkout are copied into the clone, e.g. "builder server" when
#                       others' unfinished work shares the checkout; default: all of them
#   SERVER_FLAGS        extra server flags, e.g. "--build-warm=false" (lib.sh)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WAIT_BEFORE_DEPLOY="${WAIT_BEFORE_DEPLOY:-0}"
export GOCACHE="$WORK/gocache" GOMODCACHE="$WORK/gomodcache"
mkdir -p "$GOCACHE" "$GOMODCACHE"
# A fresh machine has nothing in the module cache: make sure no earlier run's is visible.
unset GOFLAGS
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

log "machine: $(machine); load $(loadavg)"
T_START="$(now)"

t0="$(now)"
git clone -q "$ROOT" "$WORK/clone"
# The tree as it is, uncommitted changes included, so a change can be measured before it
# is committed.
# shellcheck disable=SC2086 # ONLY_PATHS is a list of pathspecs
(cd "$ROOT" && git ls-files -z --others --modified --exclude-standard -- ${ONLY_PATHS:-}) |
	(cd "$ROOT" && xargs -0 -r cp --parents -t "$WORK/clone" 2>/dev/null || true)
T_CLONE="$(since "$t0")"
log "clone: ${T_CLONE}s"

# cpu_children sets CPU to the user+system CPU seconds of this shell's finished children
# (`times` in this shell: a command substitution would report its own children).
cpu_children() {
	times >"$WORK/times"
	CPU="$(awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } printf "%.1f", s }' "$WORK/times")"
}

t0="$(now)"
cpu_children
c0="$CPU"
# Each line of the go command's output is stamped with the time it came, so that the
# download part can be told from the compile: the go command loads every package, and
# downloads the modules they are in, before it compiles any.
(cd "$WORK/clone" && go build -o "$WORK/platform" ./cmd/platform) 2>&1 |
	while IFS= read -r line; do echo "$EPOCHREALTIME $line"; done >"$WORK/platform-build.log" || {
	cat "$WORK/platform-build.log" >&2
	die "platform build failed"
}
T_PLATFORM="$(since "$t0")"
last_dl="$(grep ' go: downloading ' "$WORK/platform-build.log" | tail -1 | cut -d' ' -f1)"
T_PLATFORM_DL="$(awk -v a="$t0" -v b="${last_dl:-$t0}" 'BEGIN { printf "%.3f", b - a }')"
N_PLATFORM_DL="$(grep -c ' go: downloading ' "$WORK/platform-build.log" || true)"
cpu_children
C_PLATFORM="$(awk -v a="$c0" -v b="$CPU" 'BEGIN { printf "%.1f", b - a }')"
log "platform compiled: ${T_PLATFORM}s (${C_PLATFORM} CPU s)"

PLATFORM="$WORK/platform"
# The server's builder takes its caches from `go env` in an environment of its own (HOME,
# PATH, the proxy settings), which does not see the GOCACHE and GOMODCACHE variables
# exported above: name them in its config, as they are a fresh machine's only caches.
printf 'go_cache: %s\ngo_mod_cache: %s\n' "$GOCACHE" "$GOMODCACHE" >"$WORK/server.yaml"
t0="$(now)"
start_server "$WORK/data" --config "$WORK/server.yaml"
T_READY="$(since "$t0")"
log "server ready: ${T_READY}s at $SERVER_URL"

t0="$(now)"
sleep "$WAIT_BEFORE_DEPLOY"
pf namespaces create acme >&2
T_USER="$(since "$t0")"

t0="$(now)"
pf deploy "$WORK/clone/examples/helloworld" -n acme >"$WORK/deploy.out" 2>&1 || {
	cat "$WORK/deploy.out" >&2
	die "deploy failed"
}
T_DEPLOY="$(since "$t0")"
log "deployed: ${T_DEPLOY}s"

t0="$(now)"
out="$(pf call helloworld Helloworld.Call '{"name":"cold"}' -n acme)"
T_CALL="$(since "$t0")"
[[ "$out" == *"Hello cold"* ]] || die "unexpected answer: $out"
T_TOTAL="$(since "$T_START")"
# The CPU the server's finished children used: the service's go build and the warm-up's
# go commands (instances still run, so they are not counted).
C_SERVER="$(awk '{ sub(/^.*\) /, ""); printf "%.1f", ($14 + $15) / 100 }' "/proc/$SERVER_PID/stat")"

# event_at TYPE prints the Unix time (seconds, fractional) of the first event of TYPE.
event_at() {
	pf events -n acme -o json | jq -r --arg t "$1" '[.[] | select(.type == $t)][0].time' |
		xargs -I{} date -d {} +%s.%N
}
deploy_start="$(awk -v a="$T_START" -v b="$T_CLONE" -v c="$T_PLATFORM" -v d="$T_READY" -v e="$T_USER" 'BEGIN { printf "%.3f", a + b + c + d + e }')"
b0="$(event_at build.started)"
b1="$(event_at build.succeeded)"
r1="$(event_at release.rolled_out)"
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

echo "# coldstart: fresh clone → answered call, empty Go caches ($(date -u +%Y-%m-%dT%H:%MZ))"
echo "# $(machine); load at end $(loadavg)"
echo
echo "| step | seconds |"
echo "|---|---|"
echo "| clone | $T_CLONE |"
echo "| platform: go build ./cmd/platform (downloads + compile; $C_PLATFORM CPU s) | $T_PLATFORM |"
echo "|   until the last of $N_PLATFORM_DL module downloads started | $T_PLATFORM_DL |"
echo "| server: spawn → /readyz | $T_READY |"
echo "| user steps (namespaces create; WAIT_BEFORE_DEPLOY=$WAIT_BEFORE_DEPLOY) | $T_USER |"
echo "| deploy → live | $T_DEPLOY |"
echo "|   queue (deploy → build.started) | $(sub "$deploy_start" "$b0") |"
echo "|   service compile (build.started → build.succeeded) | $(sub "$b0" "$b1") |"
echo "|   rollout (build.succeeded → release.rolled_out) | $(sub "$b1" "$r1") |"
echo "| first call answered | $T_CALL |"
echo "| **total: fresh clone → answered call** | **$T_TOTAL** |"
echo
echo "CPU seconds of the server's finished go commands (service build + warm-up): $C_SERVER"
echo
echo "Warm-up in the server log:"
echo
grep -E 'build cache|warm' "$SERVER_LOG" | sed 's/^/    /' || echo "    (none)"
