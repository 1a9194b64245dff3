#!/usr/bin/env bash
# dashboard.sh measures the dashboard's two performance targets in real headless Chromium
# against a real `platform server` on 127.0.0.1, and prints markdown tables of what it
# measured beside the targets:
#   - the services page of a namespace with SERVICES services (copies of
#     examples/helloworld, size nano, all running): first contentful paint and time to
#     interactive (DOMContentLoaded ended) of LOADS loads after a warm-up, median and max,
#     and of the first load with an empty cache; when the table's first row was painted
#     (element timing); the server's part (navigation timing: responseStart -
#     requestStart to the first byte, responseEnd - requestStart to the last: the page
#     streams its layout and heading before its table). Target: FCP < 200 ms. For
#     comparison, the same page with one service, the namespaces page (no registry
#     query), a page of one paragraph served by the test (what Chromium on this machine
#     needs to paint anything) and the HTML of the services page served at once by the
#     test (the browser's part alone).
#   - the logs page of a service writing 1,000 lines/s (e2e/testdata/logflood), streaming
#     for STREAM seconds: animation frame times (requestAnimationFrame intervals, p50, p99,
#     max), the main thread's work (DevTools Performance metrics: task, script, layout,
#     style), the JS heap after a forced GC at the start and the end of the window and a
#     third of the window later, the DOM rows of the view at the end, lines written by the
#     service and received by the page, and the server's CPU. The control: frames and work
#     of the namespaces page in the same tab for a third of the window, while the service
#     floods. Target: responsive (p50 one 60 Hz frame, p99 under 50 ms: no long task) and
#     bounded (at most 1,000 rows; the heap does not grow with the lines received).
#
# It runs TestDashboardPerformance (e2e/dashboard_perf_test.go) with
# PLATFORM_BENCH_DASHBOARD=1: the test starts the server (as root its instances are
# sandboxed), deploys, drives Chromium through internal/browsertest and writes its figures
# as JSON, which this script turns into tables. The test removes what it started (server,
# instances, Chromium) when it ends. Needs Chromium (PLATFORM_TEST_CHROMIUM or
# /usr/bin/chromium), go and jq; ~3 GiB RAM for 100 instances. Takes ~4 min.
#
# Environment (see also lib.sh; PLATFORM and SERVER_FLAGS do not apply: the test builds
# its own binary from this tree):
#   SERVICES  default 100
#   LOADS     default 10
#   STREAM    default 30 (seconds)
#
# Output (stdout): markdown tables. Progress (the test's log) goes to stderr.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SERVICES="${SERVICES:-100}"
LOADS="${LOADS:-10}"
STREAM="${STREAM:-30}"
command -v jq >/dev/null || die "needs jq"

OUT="$WORK/dashboard.json"
LOAD_START="$(loadavg)"
T0="$(now)"
log "running TestDashboardPerformance: $SERVICES services, $LOADS loads, ${STREAM}s of logs (log: $WORK/test.log)"
set +o pipefail
(
	cd "$ROOT" &&
		PLATFORM_BENCH_DASHBOARD=1 PLATFORM_BENCH_DASHBOARD_OUT="$OUT" PLATFORM_BENCH_SERVICES="$SERVICES" \
			PLATFORM_BENCH_LOADS="$LOADS" PLATFORM_BENCH_STREAM_SECONDS="$STREAM" \
			go test ./e2e/ -run 'TestDashboardPerformance$' -count=1 -v -timeout 40m 2>&1
) | tee "$WORK/test.log" | grep --line-buffered -E '^(=== RUN|--- |ok|FAIL|\s+dashboard_perf_test.go:[0-9]+: (logs page|services page|[0-9]+ services))' >&2
rc="${PIPESTATUS[0]}"
set -o pipefail
if [[ "$rc" != 0 || ! -s "$OUT" ]]; then
	tail -60 "$WORK/test.log" >&2
	die "TestDashboardPerformance failed (exit $rc); KEEP_WORK=1 keeps $WORK/test.log"
fi
ELAPSED="$(since "$T0")"

j() { jq -r "$@" "$OUT"; }
# r1 rounds to one decimal.
r1() { awk -v v="$1" 'BEGIN { printf "%.1f", v }'; }
# mb prints bytes in MiB with two decimals.
mb() { awk -v v="$1" 'BEGIN { printf "%.2f MiB", v / 1048576 }'; }
yes_no() { awk -v v="$1" -v lim="$2" 'BEGIN { print (v < lim) ? "yes" : "**no**" }'; }

# stats_row LABEL KEY prints a row of a loadStats: server to the first and the last byte,
# FCP, the table's first row painted, TTI (median, max), the tab's main-thread work per
# load (median).
stats_row() {
	local table="–"
	if [[ "$(j ".services.$2.table_paint_median_ms")" != -1 ]]; then
		table="$(r1 "$(j ".services.$2.table_paint_median_ms")") ($(r1 "$(j ".services.$2.table_paint_max_ms")"))"
	fi
	echo "| $1 | $(r1 "$(j ".services.$2.server_median_ms")") ($(r1 "$(j ".services.$2.server_max_ms")")) |" \
		"$(r1 "$(j ".services.$2.last_byte_median_ms")") ($(r1 "$(j ".services.$2.last_byte_max_ms")")) |" \
		"$(r1 "$(j ".services.$2.fcp_median_ms")") ($(r1 "$(j ".services.$2.fcp_max_ms")")) | $table |" \
		"$(r1 "$(j ".services.$2.tti_median_ms")") ($(r1 "$(j ".services.$2.tti_max_ms")")) |" \
		"$(r1 "$(j ".services.$2.main_thread_median_ms")") | $(j ".services.$2.html_bytes") |"
}

N="$(j .services.services)"
FCP="$(j .services.warm.fcp_median_ms)"
FCP_MAX="$(j .services.warm.fcp_max_ms)"
P50="$(j .logs.stream.p50_ms)" P99="$(j .logs.stream.p99_ms)" MAXF="$(j .logs.stream.max_ms)"
ROWS="$(j .logs.rows)"
WIN="$(j .logs.window_s)"

echo "### Dashboard: services page with $N services, logs page at 1,000 lines/s"
echo
echo "Machine: $(machine). Load average (1/5/15 min): $LOAD_START at the start, $(loadavg) at the end; the run took $(r1 "$ELAPSED") s."
echo
echo "| measurement | measured | target | met? |"
echo "|---|---|---|---|"
echo "| services page, $N services: FCP, median (max) of $LOADS warm loads | **$(r1 "$FCP") ms** ($(r1 "$FCP_MAX")) | < 200 ms | $(yes_no "$FCP" 200) (max: $(yes_no "$FCP_MAX" 200)) |"
echo "| services page, $N services: first row of the table painted (element timing), median (max) | $(r1 "$(j .services.warm.table_paint_median_ms)") ms ($(r1 "$(j .services.warm.table_paint_max_ms)")) | – | – |"
echo "| services page, $N services: time to interactive, median (max) | $(r1 "$(j .services.warm.tti_median_ms)") ms ($(r1 "$(j .services.warm.tti_max_ms)")) | – | – |"
echo "| services page, $N services: server to the first byte (responseStart − requestStart), median (max) | $(r1 "$(j .services.warm.server_median_ms)") ms ($(r1 "$(j .services.warm.server_max_ms)")) | – | – |"
echo "| services page, $N services: server to the last byte (responseEnd − requestStart), median (max) | $(r1 "$(j .services.warm.last_byte_median_ms)") ms ($(r1 "$(j .services.warm.last_byte_max_ms)")) | – | – |"
echo "| services page, $N services, first load, empty cache: FCP / table painted / TTI | $(r1 "$(j .services.cold.fcp_ms)") / $(r1 "$(j .services.cold.table_paint_ms)") / $(r1 "$(j .services.cold.tti_ms)") ms | < 200 ms | $(yes_no "$(j .services.cold.fcp_ms)" 200) |"
echo "| logs page, ${STREAM} s at 1,000 lines/s: frame time p50 / p99 / max ($(j .logs.stream.frames) frames) | **$(r1 "$P50") / $(r1 "$P99") / $(r1 "$MAXF") ms** | p50 16.7 ms (60 Hz), p99 < 50 ms | $(yes_no "$P99" 50) |"
echo "| control: namespaces page in the same tab while the service floods, frame time p50 / p99 / max | $(r1 "$(j .logs.idle.p50_ms)") / $(r1 "$(j .logs.idle.p99_ms)") / $(r1 "$(j .logs.idle.max_ms)") ms | – | – |"
echo "| logs page: main thread busy (task; of it script / layout / style) | $(r1 "$(j .logs.busy_ms_per_s.task)") ms/s ($(r1 "$(j .logs.busy_ms_per_s.script)") / $(r1 "$(j .logs.busy_ms_per_s.layout)") / $(r1 "$(j .logs.busy_ms_per_s.style)")); control $(r1 "$(j .logs.idle_busy_ms_per_s.task)") ms/s | – | – |"
echo "| logs page: JS heap (forced GC) at the start → end of the window → $(j .logs.later_s | cut -d. -f1) s later | $(mb "$(j .logs.heap_before)") → $(mb "$(j .logs.heap_after)") → $(mb "$(j .logs.heap_later)") ($(j .logs.later_lines) more lines) | bounded | $(awk -v a="$(j .logs.heap_after)" -v b="$(j .logs.heap_later)" 'BEGIN { print (b <= a * 1.1) ? "yes" : "**no**" }') |"
echo "| logs page: DOM rows of the view at the end (elements in the page) | $ROWS ($(j .logs.elements)) | ≤ 1,000 | $(yes_no "$ROWS" 1001) |"
echo "| logs page: lines written by the service / received by the page | $(j .logs.produced) / $(j .logs.delivered) in $(r1 "$WIN") s ($(awk -v n="$(j .logs.delivered)" -v s="$WIN" 'BEGIN { printf "%.0f", n / s }')/s delivered) | 1,000/s | $(awk -v p="$(j .logs.produced)" -v d="$(j .logs.delivered)" 'BEGIN { print (d >= 0.95 * p) ? "yes" : "**no**" }') |"
echo "| logs page: platform server CPU during the stream | $(r1 "$(j .logs.server_cpu_pct)") % of a core | – | – |"
echo
echo "Page state at the end of the stream: \"$(j .logs.state)\". $N services were running $(r1 "$(j .services.deploy_s)") s after the first deploy."
echo
echo "Services page, where the time goes (ms, median (max) of $LOADS warm loads; server = responseStart − requestStart on loopback, to the first byte; last byte = responseEnd − requestStart):"
echo
echo "| page | server | last byte | FCP | table painted | TTI | main thread busy per load | HTML bytes |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
stats_row "floor: a static page of one paragraph (no style or script), from the test" floor
stats_row "namespaces page (control: layout, style and script, no registry query)" control
stats_row "services page, 1 service" baseline
stats_row "services page, $N services" warm
stats_row "services page, $N services: its HTML served at once by the test (the browser's part)" browser
echo
echo "The API's service listing (GET /v1/namespaces/{ns}/services: the ControlPlane call the page makes), from the test over loopback: median $(r1 "$(j .services.api_list_median_ms)") ms, max $(r1 "$(j .services.api_list_max_ms)") ms." \
	"The sparklines, which the page fetches after it painted (/ui/n/{ns}/activity: the same listing again, then the metrics), were all in $(r1 "$(j .services.warm.sparklines_median_ms)") ms after the navigation started (median; $(r1 "$(j .services.baseline.sparklines_median_ms)") ms with 1 service)."
echo
echo "Each warm load of the services page with $N services (ms since navigation start):"
echo
echo "| load | requestStart | responseStart | responseEnd | FCP | table painted | TTI (DOMContentLoaded end) | load event | main thread busy (script / layout / style) |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
j '.services.warm.loads | to_entries[] | .value as $l | def r: . * 10 | round / 10; "| \(.key + 1) | \($l.request_start_ms | r) | \($l.response_start_ms | r) | \($l.response_end_ms | r) | \($l.fcp_ms | r) | \($l.table_paint_ms | r) | \($l.tti_ms | r) | \($l.load_ms | r) | \($l.main_thread_ms.task | r) (\($l.main_thread_ms.script | r) / \($l.main_thread_ms.layout | r) / \($l.main_thread_ms.style | r)) |"'
