# lib.sh holds what the bench scripts share: building the binaries they drive, starting a
# real `platform server` in a temp data dir, finding the instances it runs, timing, and
# cleaning up every process a script started. Source it; do not run it.
#
# Environment:
#   CACHE_DIR         default ${XDG_CACHE_HOME:-$HOME/.cache}/micro-platform-bench: the
#                     built platform, loadgen and `micro` binaries
#   GO_MICRO_VERSION  default v5.30.0 (the version the platform requires)
#   KEEP_WORK         set to 1 to keep the temp dir (data dirs, logs) after the run
#   PLATFORM          a platform binary to run (server and CLI) instead of building one
#                     from this tree, e.g. one built from another commit to compare with;
#                     loadgen is still built from this tree
#   SERVER_FLAGS      extra flags of every `platform server` start_server starts, split
#                     on spaces, e.g. "--sandbox off"
#
# Everything listens on 127.0.0.1 with ports the kernel picks (--addr 127.0.0.1:0) or that
# free_port found unused.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/micro-platform-bench}"
GO_MICRO_VERSION="${GO_MICRO_VERSION:-v5.30.0}"
BIN="$CACHE_DIR/bin"
mkdir -p "$BIN"
PLATFORM="${PLATFORM:-$BIN/platform}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/platform-bench.XXXXXX")"
SCRIPT="$(basename "$0")"

# PIDS are the processes this script started itself; DATA_DIRS are the data dirs of the
# servers it started, whose instances (which outlive their server by design) it kills.
PIDS=()
DATA_DIRS=()

log() { echo "$SCRIPT: $*" >&2; }

die() {
	log "$*"
	exit 1
}

# cleanup stops the servers first (so no supervisor restarts an instance), then every
# instance of their data dirs and every other process the script started.
cleanup() {
	local rc=$? pid d
	trap - EXIT INT TERM
	for pid in ${PIDS[@]+"${PIDS[@]}"}; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for _ in $(seq 100); do
		local alive=0
		for pid in ${PIDS[@]+"${PIDS[@]}"}; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done
		((alive)) || break
		sleep 0.1
	done
	for pid in ${PIDS[@]+"${PIDS[@]}"}; do
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	for d in ${DATA_DIRS[@]+"${DATA_DIRS[@]}"}; do
		for pid in $(instance_pids "$d"); do
			# The local driver puts each instance in its own process group.
			kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
		done
	done
	if [[ "${KEEP_WORK:-}" == 1 ]]; then
		log "kept $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# forget PID drops a process that has been waited for from PIDS.
forget() {
	local keep=() pid
	for pid in ${PIDS[@]+"${PIDS[@]}"}; do
		[[ "$pid" == "$1" ]] || keep+=("$pid")
	done
	PIDS=(${keep[@]+"${keep[@]}"})
}

# now prints the wall clock in seconds with microseconds.
now() { echo "$EPOCHREALTIME"; }

# since T0 prints the seconds from T0 until now, to the millisecond.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }

# median prints the median of its arguments (the lower middle for an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# spread prints "min–max" of its arguments.
spread() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s–%s", lo, hi }'; }

# loadavg prints the 1, 5 and 15 minute load averages.
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# machine prints a one-line description of this machine.
machine() {
	local cpu
	cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
	echo "$(nproc) cores ($cpu), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(uname -sr), $(go version | cut -d' ' -f3)"
}

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
	die "no free port found"
}

# build_tools builds the platform command (unless PLATFORM names one) and loadgen from
# this tree.
build_tools() {
	if [[ "$PLATFORM" == "$BIN/platform" ]]; then
		log "building platform and loadgen"
		(cd "$ROOT" && go build -o "$BIN/platform" ./cmd/platform)
	else
		[[ -x "$PLATFORM" ]] || die "PLATFORM=$PLATFORM is not an executable"
		log "building loadgen; platform is $PLATFORM"
	fi
	(cd "$ROOT" && go build -o "$BIN/loadgen" ./bench/loadgen)
}

# build_micro builds go-micro's own `micro` CLI once, in a scratch module so the project's
# go.mod never depends on it, and prints its path.
build_micro() {
	local out="$BIN/micro-$GO_MICRO_VERSION" mod="$CACHE_DIR/micro-cli"
	if [[ ! -x "$out" ]]; then
		log "building go-micro's micro CLI $GO_MICRO_VERSION (first run only)"
		mkdir -p "$mod"
		(
			cd "$mod"
			[[ -f go.mod ]] || go mod init micro-platform-bench/micro-cli >/dev/null 2>&1
			go get "go-micro.dev/v5@$GO_MICRO_VERSION" "go-micro.dev/v5/cmd/micro@$GO_MICRO_VERSION" >&2
			go build -o "$out" go-micro.dev/v5/cmd/micro
		)
	fi
	echo "$out"
}

# start_server DATA [FLAGS...] starts `platform server` on DATA and waits until /readyz is
# 200. It sets SERVER_PID, SERVER_URL, SERVER_LOG, TOKEN, NATS_PORT and SERVER_READY (the
# seconds from spawning the process until the first 200 from /readyz, polled every ~10 ms).
start_server() {
	local data="$1" addr="" t0 i
	shift
	SERVER_LOG="$WORK/server.$RANDOM.log"
	[[ " ${DATA_DIRS[*]-} " == *" $data "* ]] || DATA_DIRS+=("$data")
	t0="$(now)"
	# shellcheck disable=SC2086 # SERVER_FLAGS is a list of flags
	"$PLATFORM" server --data "$data" --addr 127.0.0.1:0 ${SERVER_FLAGS:-} "$@" >"$SERVER_LOG" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	for ((i = 0; ; i++)); do
		kill -0 "$SERVER_PID" 2>/dev/null || {
			cat "$SERVER_LOG" >&2
			die "platform server exited at start"
		}
		if [[ -z "$addr" ]]; then
			addr="$(sed -n 's/.*msg="platform server started" addr=\([^ ]*\).*/\1/p' "$SERVER_LOG" | head -1)"
		fi
		if [[ -n "$addr" ]] && curl -fsS -o /dev/null "http://$addr/readyz" 2>/dev/null; then
			break
		fi
		((i < 12000)) || die "platform server not ready after 120s (log: $SERVER_LOG)"
		sleep 0.01
	done
	SERVER_READY="$(since "$t0")"
	SERVER_URL="http://$addr"
	TOKEN="$(tr -d '[:space:]' <"$data/admin.token")"
	NATS_PORT="$(tr -d '[:space:]' <"$data/nats.port")"
}

# stop_server stops the server started last with SIGTERM; its instances keep running, as
# designed, and are killed at exit.
stop_server() {
	kill -TERM "$SERVER_PID" 2>/dev/null || true
	local i
	for ((i = 0; i < 300; i++)); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	forget "$SERVER_PID"
}

# pf runs the platform CLI against the server started last.
pf() { "$PLATFORM" --server "$SERVER_URL" --token "$TOKEN" "$@"; }

# instance_pids DATA prints the pids of the live instances the server of DATA started: the
# processes with a MICRO_SERVER_ID whose MICRO_REGISTRY_ADDRESS points at its NATS port.
instance_pids() {
	local port p
	port="$(tr -d '[:space:]' <"$1/nats.port" 2>/dev/null)" || return 0
	[[ -n "$port" ]] || return 0
	for p in /proc/[0-9]*; do
		# NATS is on 127.0.0.1, or on the sandbox bridge's address.
		grep -qzx "MICRO_REGISTRY_ADDRESS=.*@[0-9.]*:$port" "$p/environ" 2>/dev/null &&
			grep -qz '^MICRO_SERVER_ID=' "$p/environ" 2>/dev/null &&
			echo "${p#/proc/}"
	done
	return 0
}

# instance_of DATA NAME prints the pid of one live instance named NAME of DATA's server.
instance_of() {
	local pid
	for pid in $(instance_pids "$1"); do
		if grep -qzx "MICRO_SERVER_NAME=$2" "/proc/$pid/environ" 2>/dev/null; then
			echo "$pid"
			return 0
		fi
	done
	return 1
}

# mesh_env PID prints the namespace's go-micro environment (registry, transport and broker
# with their addresses) from a running instance, one VAR=value a line.
mesh_env() {
	tr '\0' '\n' <"/proc/$1/environ" | grep -E '^MICRO_(REGISTRY|TRANSPORT|BROKER)(_ADDRESS)?='
}

# rss_kb PID prints the resident set size of PID in KiB.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# cpu_ticks PID prints the user+system CPU time PID has used, in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# mib KIB prints KIB in MiB with one decimal.
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

# perf_report DATA TITLE prints the top of a `perf record -g` profile: self time by symbol,
# then time including callees for the project's and its main libraries' frames.
perf_report() (
	set +o pipefail # head closes the pipe early
	report() { perf report -i "$1" --sort symbol --stdio -g none "${@:2}" 2>/dev/null | grep -v '^#' | grep -v '^$'; }
	echo "## perf: $2, self time by symbol (top 30)"
	report "$1" --no-children | head -30
	echo
	echo "## perf: $2, time including callees, project and library frames (top 60)"
	report "$1" --children |
		grep -E 'micro/platform|net/http|nats|encoding/json|sqlite|prometheus|gcBgMarkWorker|mallocgc|syscall\.|\[k\] (entry_SYSCALL|do_syscall)' |
		head -60
)

# changed_copy NAME prints the path of a fresh copy of examples/helloworld whose main.go
# ends with a comment unique to NAME: a changed source, so a deploy compiles it.
changed_copy() {
	local dir="$WORK/src/$1"
	mkdir -p "$dir"
	cp -r "$ROOT/examples/helloworld/." "$dir/"
	echo "// bench: $1 $EPOCHREALTIME" >>"$dir/main.go"
	echo "$dir"
}
