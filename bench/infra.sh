#!/usr/bin/env bash
# infra.sh measures `platform infra plan` and `platform infra apply` for a platform.yaml of
# REGIONS `local` regions (local state backend), driving the real OpenTofu that
# scripts/build-tofu builds, and compares the platform with the engine it drives:
#
#   (a) `platform infra plan` wall time with --parallel 1 and with the default 4, on a work
#       dir the platform already rendered and initialised (one cold plan first, reported);
#   (b) the engine's own plan time summed over regions: `tofu plan -input=false -lock=false
#       -out=/dev/null` run directly in each region's dir (.platform/infra/<region>) with the
#       same TF_CLI_CONFIG_FILE. Overhead = platform plan (--parallel 1) - that sum. For the
#       breakdown it also sums the three engine commands the platform runs per region
#       (init, plan -out FILE, show -json FILE), run by hand the same way;
#   (c) `platform infra apply --register=false` with --parallel 1 and with --parallel 4,
#       each on a fresh config dir (fresh work dir and state), and the speed-up.
#
# Each measurement is repeated RUNS times, interleaved; the tables give every run with the
# load average at its start, then the median and spread.
#
# Environment (see also lib.sh):
#   RUNS     default 3
#   REGIONS  default 10
#   TOFU_DIR default ${PLATFORM_TEST_CACHE:-$HOME/.cache/micro-platform-test}/tofu; built by
#            scripts/build-tofu when missing (offline: Go module proxy only)
#   LIMIT    default 300: seconds any one command may take before the script gives up
#
# Nothing listens on any port and nothing reaches the network: the local region kind uses
# only the built-in terraform_data resource and the CLI config installs providers from a
# filesystem mirror only. Output (stdout): markdown tables. Progress goes to stderr.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS="${RUNS:-3}"
REGIONS="${REGIONS:-10}"
LIMIT="${LIMIT:-300}"
TOFU_DIR="${TOFU_DIR:-${PLATFORM_TEST_CACHE:-$HOME/.cache/micro-platform-test}/tofu}"

"$ROOT/scripts/build-tofu" "$TOFU_DIR" >&2 || die "scripts/build-tofu failed"
TOFU="$TOFU_DIR/tofu"
[[ -x "$TOFU" && -f "$TOFU_DIR/tofurc" ]] || die "no tofu or tofurc in $TOFU_DIR"

log "building platform"
(cd "$ROOT" && go build -o "$WORK/platform" ./cmd/platform)

# The engine's environment, the same for the platform and for tofu run by hand: no
# credentials, a home of its own, the mirror-only CLI config.
export HOME="$WORK/home" TF_CLI_CONFIG_FILE="$TOFU_DIR/tofurc" PLATFORM_INFRA_ENGINE="$TOFU" CHECKPOINT_DISABLE=1
mkdir -p "$HOME"
unset TF_LOG TF_CLI_ARGS TF_DATA_DIR

# write_config DIR writes DIR/platform.yaml: $REGIONS local regions, state under DIR/state.
write_config() {
	local dir="$1" i
	mkdir -p "$dir"
	{
		printf 'platform:\n  name: bench\n  domain: bench.test\n'
		printf '  state: { backend: local, path: %s/state }\n' "$dir"
		printf 'regions:\n'
		for ((i = 1; i <= REGIONS; i++)); do
			printf '  - name: r%02d\n    provider: local\n' "$i"
		done
	} >"$dir/platform.yaml"
}

# timed CMD... runs CMD (output to $WORK/last.log), bounded by $LIMIT, and sets T to its
# wall time in seconds; it dies when CMD fails.
timed() {
	local t0
	t0="$(now)"
	timeout "$LIMIT" "$@" >"$WORK/last.log" 2>&1 || {
		tail -20 "$WORK/last.log" >&2
		die "failed: $*"
	}
	T="$(since "$t0")"
}

# pf_infra VERB DIR ARGS... runs `platform infra VERB` on DIR/platform.yaml.
pf_infra() {
	local verb="$1" dir="$2"
	shift 2
	timed "$WORK/platform" infra "$verb" -c "$dir/platform.yaml" "$@"
}

# engine_by_hand DIR sets PLAN_SUM to the summed wall time of `tofu plan` run directly in
# each region's dir of DIR, and CMDS_SUM to the summed time of init + plan -out + show -json.
engine_by_hand() {
	local dir="$1" r rdir
	PLAN_SUM=0 CMDS_SUM=0
	for ((r = 1; r <= REGIONS; r++)); do
		rdir="$dir/.platform/infra/$(printf 'r%02d' "$r")"
		timed "$TOFU" -chdir="$rdir" plan -input=false -lock=false -out=/dev/null
		PLAN_SUM="$(add "$PLAN_SUM" "$T")"
		timed "$TOFU" -chdir="$rdir" init -input=false
		CMDS_SUM="$(add "$CMDS_SUM" "$T")"
		timed "$TOFU" -chdir="$rdir" plan -input=false -lock-timeout=0s -out="$WORK/bench.tfplan"
		CMDS_SUM="$(add "$CMDS_SUM" "$T")"
		timed "$TOFU" -chdir="$rdir" show -json "$WORK/bench.tfplan"
		CMDS_SUM="$(add "$CMDS_SUM" "$T")"
		rm -f "$WORK/bench.tfplan"
	done
}

add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a + b }'; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

PLAN_DIR="$WORK/plan"
write_config "$PLAN_DIR"
LOAD0="$(loadavg)"
pf_infra plan "$PLAN_DIR" --parallel 1
COLD="$T"
grep -c ': 3 to create' "$WORK/last.log" | grep -qx "$REGIONS" || die "cold plan did not plan $REGIONS regions: $(cat "$WORK/last.log")"
log "cold plan (render + init + plan) took ${COLD}s"

P1=() P4=() EP=() EC=() OV=() A1=() A4=() SU=() ROWS=()
for ((k = 1; k <= RUNS; k++)); do
	load="$(loadavg)"
	log "run $k/$RUNS (load $load)"
	pf_infra plan "$PLAN_DIR" --parallel 1
	p1="$T"
	pf_infra plan "$PLAN_DIR" # default --parallel 4
	p4="$T"
	engine_by_hand "$PLAN_DIR"
	ov="$(sub "$p1" "$PLAN_SUM")"

	write_config "$WORK/apply-$k-p1"
	pf_infra apply "$WORK/apply-$k-p1" --register=false --parallel 1
	a1="$T"
	write_config "$WORK/apply-$k-p4"
	pf_infra apply "$WORK/apply-$k-p4" --register=false --parallel 4
	a4="$T"
	n="$(find "$WORK/apply-$k-p4/state" -name terraform.tfstate | wc -l)"
	((n == REGIONS)) || die "apply --parallel 4 left $n states, want $REGIONS"
	su="$(ratio "$a1" "$a4")"

	P1+=("$p1") P4+=("$p4") EP+=("$PLAN_SUM") EC+=("$CMDS_SUM") OV+=("$ov") A1+=("$a1") A4+=("$a4") SU+=("$su")
	ROWS+=("| $k | $load | $p1 | $p4 | $PLAN_SUM | $CMDS_SUM | $ov | $a1 | $a4 | ${su}× |")
done

mP1="$(median "${P1[@]}")" mEP="$(median "${EP[@]}")" mA1="$(median "${A1[@]}")" mA4="$(median "${A4[@]}")"

echo "## infra.sh: $REGIONS local regions, $RUNS runs"
echo
echo "- $(machine); $("$TOFU" version | head -1)"
echo "- $(date -u '+%Y-%m-%d %H:%M UTC'); load average before the cold plan: $LOAD0"
echo "- cold \`platform infra plan --parallel 1\` (render, init, plan of a new work dir): ${COLD}s"
echo
echo "Seconds of wall time. Engine plan = \`tofu plan -lock=false -out=/dev/null\` run by hand in"
echo "each region's dir, summed; engine init+plan+show = the three commands the platform runs"
echo "per region, run by hand and summed; overhead = platform plan --parallel 1 − engine plan."
echo
echo "| run | load 1/5/15 | plan -p1 | plan -p4 | engine plan Σ | engine init+plan+show Σ | overhead | apply -p1 | apply -p4 | apply speed-up |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo
echo "| measurement | median | spread |"
echo "|---|---:|---|"
echo "| platform plan, --parallel 1 | $mP1 s | $(spread "${P1[@]}") |"
echo "| platform plan, --parallel 4 | $(median "${P4[@]}") s | $(spread "${P4[@]}") |"
echo "| plan speed-up -p1 / -p4 | $(ratio "$mP1" "$(median "${P4[@]}")")× | – |"
echo "| engine plan summed over regions | $mEP s | $(spread "${EP[@]}") |"
echo "| engine init + plan + show summed | $(median "${EC[@]}") s | $(spread "${EC[@]}") |"
echo "| overhead (platform -p1 − engine plan Σ) | $(median "${OV[@]}") s ($(ratio "$mP1" "$mEP")× the engine plan) | $(spread "${OV[@]}") |"
echo "| platform apply, --parallel 1 | $mA1 s | $(spread "${A1[@]}") |"
echo "| platform apply, --parallel 4 | $mA4 s | $(spread "${A4[@]}") |"
echo "| apply speed-up -p1 / -p4 | $(median "${SU[@]}")× | $(spread "${SU[@]}")× |"
