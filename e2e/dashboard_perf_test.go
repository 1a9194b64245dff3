package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/heapprofiler"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	cdpperf "github.com/chromedp/cdproto/performance"
	"github.com/chromedp/chromedp"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/browsertest"
)

// dashboardPerf is what TestDashboardPerformance measured. With
// PLATFORM_BENCH_DASHBOARD_OUT set it is written there as JSON, for bench/dashboard.sh;
// durations are in milliseconds.
type dashboardPerf struct {
	Services *servicesPerf `json:"services,omitempty"`
	Logs     *logsPerf     `json:"logs,omitempty"`
}

// pageLoad is one load of a page, from the browser's navigation and paint timing.
type pageLoad struct {
	// RequestStart and ResponseStart bound the server's time: the request went out, the
	// first byte of the HTML came back (loopback, a kept-alive connection).
	RequestStart  float64 `json:"request_start_ms"`
	ResponseStart float64 `json:"response_start_ms"`
	// ResponseEnd is when the last byte of the HTML arrived. The services page streams:
	// its layout and heading come first (ResponseStart), its table when the server has
	// listed the services.
	ResponseEnd float64 `json:"response_end_ms"`
	FCP         float64 `json:"fcp_ms"`
	// TablePaint is when the first row of the services table was painted (element
	// timing: the render time of its name cell, marked by tablePaintScript as the parser
	// adds it); -1 on a page without the table.
	TablePaint float64 `json:"table_paint_ms"`
	// TTI is browsertest.TimeToInteractive: DOMContentLoaded ended, the page's script
	// has attached its handlers.
	TTI   float64 `json:"tti_ms"`
	Load  float64 `json:"load_ms"`
	Bytes int     `json:"html_bytes"`
	Rows  int     `json:"rows"`
	// Work is what the tab's main thread did for the document until the figures were
	// read (the load, its script and putting in the sparklines), in milliseconds.
	Work busy `json:"main_thread_ms"`
	// Sparklines is when the services page's sparklines were all in (ms since the
	// navigation started, ±10 ms; -1 when their fetch failed or they were not in 10 s
	// after the load).
	Sparklines float64 `json:"sparklines_ms"`
}

// loadStats summarises loads of one page.
type loadStats struct {
	Loads        []pageLoad `json:"loads"`
	ServerMedian float64    `json:"server_median_ms"` // responseStart - requestStart
	ServerMax    float64    `json:"server_max_ms"`
	// LastByteMedian and LastByteMax are responseEnd - requestStart: the whole HTML.
	LastByteMedian float64 `json:"last_byte_median_ms"`
	LastByteMax    float64 `json:"last_byte_max_ms"`
	// TablePaintMedian and TablePaintMax are of the loads' TablePaint.
	TablePaintMedian float64 `json:"table_paint_median_ms"`
	TablePaintMax    float64 `json:"table_paint_max_ms"`
	ResponseStart    float64 `json:"response_start_median_ms"`
	FCPMedian        float64 `json:"fcp_median_ms"`
	FCPMax           float64 `json:"fcp_max_ms"`
	TTIMedian        float64 `json:"tti_median_ms"`
	TTIMax           float64 `json:"tti_max_ms"`
	Bytes            int     `json:"html_bytes"`
	Rows             int     `json:"rows"`
	// WorkMedian is the median main-thread work of a load (Task), in milliseconds.
	WorkMedian float64 `json:"main_thread_median_ms"`
	// SparklinesMedian is the median of the loads' Sparklines.
	SparklinesMedian float64 `json:"sparklines_median_ms"`
}

func summarise(loads []pageLoad) loadStats {
	pick := func(f func(pageLoad) float64) []float64 {
		var v []float64
		for _, l := range loads {
			v = append(v, f(l))
		}
		slices.Sort(v)
		return v
	}
	server := pick(func(l pageLoad) float64 { return l.ResponseStart - l.RequestStart })
	last := pick(func(l pageLoad) float64 { return l.ResponseEnd - l.RequestStart })
	table := pick(func(l pageLoad) float64 { return l.TablePaint })
	fcp := pick(func(l pageLoad) float64 { return l.FCP })
	tti := pick(func(l pageLoad) float64 { return l.TTI })
	return loadStats{
		Loads:            loads,
		ServerMedian:     median(server),
		ServerMax:        server[len(server)-1],
		LastByteMedian:   median(last),
		LastByteMax:      last[len(last)-1],
		TablePaintMedian: median(table),
		TablePaintMax:    table[len(table)-1],
		ResponseStart:    median(pick(func(l pageLoad) float64 { return l.ResponseStart })),
		FCPMedian:        median(fcp),
		FCPMax:           fcp[len(fcp)-1],
		TTIMedian:        median(tti),
		TTIMax:           tti[len(tti)-1],
		Bytes:            loads[len(loads)-1].Bytes,
		Rows:             loads[len(loads)-1].Rows,
		WorkMedian:       median(pick(func(l pageLoad) float64 { return l.Work.Task })),
		SparklinesMedian: median(pick(func(l pageLoad) float64 { return l.Sparklines })),
	}
}

// median of sorted values (the mean of the middle two for an even count).
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// servicesPerf is the services page's measurement.
type servicesPerf struct {
	// Services is how many services ran in the namespace, all of them running.
	Services int `json:"services"`
	// DeploySeconds is the time from the first deploy until all Services were running.
	DeploySeconds float64 `json:"deploy_s"`
	// Floor is a static page of one paragraph (no style, no script) from a server in the
	// test: what this browser on this machine takes to paint anything. Control is the
	// namespaces page (the layout, its stylesheet and script; no registry query).
	Floor   loadStats `json:"floor"`
	Control loadStats `json:"control"`
	// Baseline is the same page with one service, before the others were deployed.
	Baseline loadStats `json:"baseline"`
	// Cold is the first load in a fresh browser context (nothing cached).
	Cold pageLoad `json:"cold"`
	// Warm are the loads after the warm-up.
	Warm loadStats `json:"warm"`
	// Browser are loads of the HTML the server rendered for the page, served at once
	// from the test (its stylesheet and script from the server, cached): the browser's
	// part alone. Its sparklines' fetch fails (another origin), after the paint.
	Browser loadStats `json:"browser"`
	// API is the API's service listing (GET /v1/namespaces/{ns}/services, the
	// ControlPlane call the page makes), timed from the test over loopback, LOADS times.
	APIMedian float64 `json:"api_list_median_ms"`
	APIMax    float64 `json:"api_list_max_ms"`
}

// frameTimes are animation frame intervals over a window, in milliseconds.
type frameTimes struct {
	Frames int     `json:"frames"`
	P50    float64 `json:"p50_ms"`
	P99    float64 `json:"p99_ms"`
	Max    float64 `json:"max_ms"`
}

// logsPerf is the logs page's measurement while the service floods.
type logsPerf struct {
	WindowSeconds float64 `json:"window_s"`
	// Produced is how many lines the service wrote during the window (its own counter),
	// Delivered how many the page received (its "Live · N lines").
	Produced  int64 `json:"produced"`
	Delivered int64 `json:"delivered"`
	// Stream are the logs page's frames during the window; Idle those of the namespaces
	// page in the same tab for a third of the window before, while the service flooded
	// (the control: what the machine alone does to frames).
	Stream frameTimes `json:"stream"`
	Idle   frameTimes `json:"idle"`
	// Busy and IdleBusy are the main thread's work during those windows.
	Busy     busy `json:"busy_ms_per_s"`
	IdleBusy busy `json:"idle_busy_ms_per_s"`
	// HeapBefore and HeapAfter are the page's JS heap after a forced GC, in bytes, at
	// the start and the end of the window; HeapLater LaterSeconds after the end, when
	// LaterLines more lines had arrived.
	HeapBefore   int64   `json:"heap_before"`
	HeapAfter    int64   `json:"heap_after"`
	HeapLater    int64   `json:"heap_later"`
	LaterSeconds float64 `json:"later_s"`
	LaterLines   int64   `json:"later_lines"`
	// Rows are the DOM rows of [data-log-view] at the end, Nodes the page's elements.
	Rows  int `json:"rows"`
	Nodes int `json:"elements"`
	// ServerCPU is the platform server's CPU time over the window, in % of one core.
	ServerCPU float64 `json:"server_cpu_pct"`
	// State is the page's status text at the end.
	State string `json:"state"`
}

// benchEnv reads a numeric knob of the benchmark.
func benchEnv(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

// TestDashboardPerformance measures the dashboard's two performance targets in real
// Chromium against the real server on loopback. It is a benchmark, not a pass/fail test:
// it reports what it measured (t.Log, and JSON to PLATFORM_BENCH_DASHBOARD_OUT) and fails
// only when it could not measure. It runs only with PLATFORM_BENCH_DASHBOARD=1, for
// minutes; bench/dashboard.sh runs it and prints the table (docs/performance.md,
// "Dashboard").
//
//   - logs: a service writing 1,000 lines/s (testdata/logflood); its logs page is open and
//     streaming, then animation frames and the JS heap are sampled for
//     PLATFORM_BENCH_STREAM_SECONDS (30). Target: the page stays responsive, and the view
//     holds at most 1,000 rows.
//   - services: PLATFORM_BENCH_SERVICES (100) copies of examples/helloworld (size nano) in
//     one namespace; the services page is loaded once cold, twice to warm up, then
//     PLATFORM_BENCH_LOADS (10) times, reading first contentful paint and time to
//     interactive of each load. Target: FCP < 200 ms.
func TestDashboardPerformance(t *testing.T) {
	skipShort(t)
	if os.Getenv("PLATFORM_BENCH_DASHBOARD") != "1" {
		t.Skip("a benchmark of several minutes: set PLATFORM_BENCH_DASHBOARD=1 (bench/dashboard.sh does)")
	}
	s := startServer(t, t.TempDir())
	var res dashboardPerf
	t.Cleanup(func() {
		b, _ := json.MarshalIndent(res, "", "  ")
		t.Logf("dashboard performance:\n%s", b)
		if out := os.Getenv("PLATFORM_BENCH_DASHBOARD_OUT"); out != "" {
			if err := os.WriteFile(out, b, 0o644); err != nil {
				t.Error(err)
			}
		}
	})
	t.Run("logs", func(t *testing.T) { res.Logs = benchLogs(t, s) })
	t.Run("services", func(t *testing.T) { res.Services = benchServices(t, s) })
}

var logLinesRE = regexp.MustCompile(`(\d+) lines`)

// logLines is the page's count of received lines, from [data-log-state].
func logLines(t *testing.T, p *browsertest.Page) (int64, string) {
	t.Helper()
	state := p.Text("[data-log-state]")
	m := logLinesRE.FindStringSubmatch(state)
	if m == nil {
		t.Fatalf("the log state says %q", state)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n, state
}

// floodCount asks logflood how many lines it has written.
func floodCount(t *testing.T, s *serverProc, ns string) int64 {
	t.Helper()
	code, body, err := s.gateway(s.token, ns, "logflood", "Flood.Count", `{}`)
	if err != nil || code != 200 {
		t.Fatalf("Flood.Count: %d %s %v", code, body, err)
	}
	var r struct {
		Lines int64 `json:"lines"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("Flood.Count: %s: %v", body, err)
	}
	return r.Lines
}

// cpuTicks is the user+system CPU time of pid in clock ticks (100 a second on Linux).
func cpuTicks(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command name, which may hold spaces, in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return u + k
}

func benchLogs(t *testing.T, s *serverProc) *logsPerf {
	ctx := context.Background()
	const ns = "flood"
	window := time.Duration(benchEnv(t, "PLATFORM_BENCH_STREAM_SECONDS", 30)) * time.Second
	_, err := s.client().CreateNamespace(ctx, ns)
	must(t, err)
	s.must(t, "deploy", "./e2e/testdata/logflood", "-n", ns, "--size", "nano")

	p := browsertest.NewPage(t)
	tour := &dashboardTour{t: t, p: p, base: s.url(), pages: map[string]string{}}
	tour.signIn(s.token)
	fctx, cancel := context.WithTimeout(p.Context(), 3*window+3*time.Minute)
	defer cancel()
	if _, err := chromedp.Call(fctx, cdpperf.Enable, cdpperf.EnableParams{}); err != nil {
		t.Fatalf("enable performance metrics: %v", err)
	}
	res := &logsPerf{}

	// The control: the same tab on a page without script work, while the service floods
	// (the server ingests its lines) — what this machine's load alone does to frames.
	p.Navigate(s.url()+"/ui/namespaces", "main h1")
	m0 := mainThread(t, fctx)
	idle, err := browsertest.FrameStats(fctx, window/3)
	must(t, err)
	res.Idle = frameTimes{Frames: idle.Count, P50: ms(idle.P50), P99: ms(idle.P99), Max: ms(idle.Max)}
	res.IdleBusy = mainThread(t, fctx).since(m0, window/3)

	p.Navigate(s.url()+"/ui/n/"+ns+"/s/logflood/logs", "[data-log-view]")
	p.WaitText("[data-log-state]", "Live")
	// Streaming in its steady state: the first tail is in and lines keep coming.
	p.Timeout = time.Minute
	eventually(t, "the page has received 3,000 lines", func() bool {
		n, _ := logLines(t, p)
		return n >= 3000
	})
	p.Timeout = 0

	n0, _ := logLines(t, p)
	c0 := floodCount(t, s, ns)
	m0 = mainThread(t, fctx)
	cpu0, t0 := cpuTicks(t, s.cmd.Process.Pid), time.Now()
	f, err := browsertest.FrameStats(fctx, window)
	must(t, err)
	elapsed := time.Since(t0)
	cpu1 := cpuTicks(t, s.cmd.Process.Pid)
	res.Busy = mainThread(t, fctx).since(m0, elapsed)
	n1, state := logLines(t, p)
	c1 := floodCount(t, s, ns)
	var rows int
	p.Eval(`document.querySelector("[data-log-view]").childElementCount`, &rows)

	res.WindowSeconds = elapsed.Seconds()
	res.Produced, res.Delivered = c1-c0, n1-n0
	res.Stream = frameTimes{Frames: f.Count, P50: ms(f.P50), P99: ms(f.P99), Max: ms(f.Max)}
	res.HeapBefore, res.HeapAfter = f.HeapBefore, f.HeapAfter
	res.Rows, res.State = rows, state
	res.ServerCPU = float64(cpu1-cpu0) / 100 / elapsed.Seconds() * 100
	t.Logf("logs page, %s at 1,000 lines/s: %s; %d rows; %d lines produced, %d delivered (%.0f/s); server CPU %.1f%%; %q",
		elapsed.Round(time.Millisecond), f, rows, res.Produced, res.Delivered, float64(res.Delivered)/elapsed.Seconds(), res.ServerCPU, state)
	t.Logf("logs page main thread: %+v; the namespaces page meanwhile (control): %s, %+v", res.Busy, idle, res.IdleBusy)
	p.Screenshot("logs-flood")
	if rows > 1000 {
		t.Errorf("the log view holds %d rows, more than its window of 1,000", rows)
	}

	// Bounded: the heap again after a third of the window more (the page's ring of
	// lines is full by then, so the heap must not grow further).
	res.LaterSeconds = (window / 3).Seconds()
	res.HeapLater, res.LaterLines = heapLater(t, fctx, p, window/3, n1)
	p.Eval(`document.getElementsByTagName("*").length`, &res.Nodes)
	t.Logf("JS heap %d s later: %.2f MiB (%d more lines); %d DOM elements", int(res.LaterSeconds), float64(res.HeapLater)/(1<<20), res.LaterLines, res.Nodes)

	// Stop the flood, so it does not load the machine during the services page's part.
	must(t, s.client().DeleteService(ctx, ns, "logflood"))
	eventually(t, "logflood is deleted", func() bool {
		list, err := s.client().ListServices(ctx, ns)
		return err == nil && len(list) == 0
	})
	return res
}

// heapLater lets the logs page stream for d more, then returns its JS heap after a
// forced GC and how many lines it received since it had received n.
func heapLater(t *testing.T, ctx context.Context, p *browsertest.Page, d time.Duration, n int64) (heap, lines int64) {
	t.Helper()
	time.Sleep(d)
	if _, err := chromedp.Call(ctx, heapprofiler.CollectGarbage, cdp.Empty{}); err != nil {
		t.Fatalf("collect garbage: %v", err)
	}
	p.Eval(`performance.memory.usedJSHeapSize`, &heap)
	now, _ := logLines(t, p)
	return heap, now - n
}

// busy is the page's main-thread work, from the DevTools Performance domain's metrics
// (TaskDuration and its parts): milliseconds, or milliseconds per second of a window.
type busy struct {
	Task   float64 `json:"task"`
	Script float64 `json:"script"`
	Layout float64 `json:"layout"`
	Style  float64 `json:"style"`
}

// metrics are the Performance domain's cumulative metrics (durations in seconds).
type metrics map[string]float64

func mainThread(t *testing.T, ctx context.Context) metrics {
	t.Helper()
	r, err := chromedp.Call(ctx, cdpperf.GetMetrics, cdp.Empty{})
	if err != nil {
		t.Fatalf("performance metrics: %v", err)
	}
	m := metrics{}
	for _, x := range r.Metrics {
		m[x.Name] = x.Value
	}
	return m
}

// since is the main thread's work from m0 to m, per second of d.
func (m metrics) since(m0 metrics, d time.Duration) busy {
	w := m.work(m0)
	per := d.Seconds()
	return busy{Task: w.Task / per, Script: w.Script / per, Layout: w.Layout / per, Style: w.Style / per}
}

// work is the main thread's work from m0 to m, in milliseconds.
func (m metrics) work(m0 metrics) busy {
	ms := func(name string) float64 { return (m[name] - m0[name]) * 1000 }
	return busy{Task: ms("TaskDuration"), Script: ms("ScriptDuration"), Layout: ms("LayoutDuration"), Style: ms("RecalcStyleDuration")}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// tablePaintScript runs in every document of a measured tab before the page's own: it
// marks the first row's name cell of the services table for element timing as soon as the
// parser has added it, so the load can read when the table was first painted. The page
// itself carries no such attribute.
const tablePaintScript = `(() => {
	const mark = () => {
		const th = document.querySelector("table.services tbody th");
		if (!th) return false;
		th.setAttribute("elementtiming", "first-service");
		return true;
	};
	const mo = new MutationObserver(() => { if (mark()) mo.disconnect(); });
	mo.observe(document, {childList: true, subtree: true});
})();`

// loadPage loads url and reads its timing; Rows counts the services table's rows.
func loadPage(t *testing.T, p *browsertest.Page, url string) pageLoad {
	t.Helper()
	if code := p.Navigate(url, "main h1, p"); code != 200 {
		t.Fatalf("%s: HTTP %d", url, code)
	}
	ctx, cancel := context.WithTimeout(p.Context(), 30*time.Second)
	defer cancel()
	fcp, err := browsertest.FirstContentfulPaint(ctx)
	must(t, err)
	nav, err := browsertest.NavigationTiming(ctx)
	must(t, err)
	var extra struct {
		RequestStart float64 `json:"requestStart"`
		ResponseEnd  float64 `json:"responseEnd"`
		Bytes        int     `json:"bytes"`
		Rows         int     `json:"rows"`
		TablePaint   float64 `json:"tablePaint"`
	}
	p.Eval(`new Promise(resolve => {
		const n = performance.getEntriesByType('navigation')[0];
		const done = table => resolve({requestStart: n.requestStart, responseEnd: n.responseEnd, bytes: n.decodedBodySize,
			rows: document.querySelectorAll("table.services tbody tr").length, tablePaint: table});
		if (!document.querySelector("table.services tbody th")) return done(-1);
		new PerformanceObserver(list => {
			const e = list.getEntries().find(e => e.identifier === "first-service");
			if (e) done(e.renderTime || e.startTime);
		}).observe({type: "element", buffered: true});
		setTimeout(() => done(-1), 10000);
	})`, &extra)
	// The services page fetches its sparklines after it painted; wait for them, so that
	// the next load does not start while the server still answers this one's.
	var spark float64
	p.Eval(`new Promise(resolve => {
		const t0 = performance.now();
		const table = document.querySelector("table.services");
		const src = table && new URL(table.dataset.activitySrc, location.href).href;
		const check = () => {
			if (!table || !document.querySelector("td[data-spark-requests].muted")) return resolve(performance.now());
			const e = performance.getEntriesByName(src)[0];
			if (e && e.responseStatus && e.responseStatus !== 200) return resolve(-1); // a static copy's
			if (performance.now() - t0 > 10000) return resolve(-1);
			setTimeout(check, 10);
		};
		check();
	})`, &spark)
	return pageLoad{
		RequestStart: extra.RequestStart, ResponseStart: ms(nav.ResponseStart), ResponseEnd: extra.ResponseEnd,
		FCP: ms(fcp), TablePaint: extra.TablePaint, TTI: ms(nav.DOMContentLoaded), Load: ms(nav.Load), Bytes: extra.Bytes, Rows: extra.Rows,
		// The metrics start again with each document.
		Work:       mainThread(t, p.Context()).work(metrics{}),
		Sparklines: spark,
	}
}

// measurePage signs in a fresh browser context, loads url once cold, twice to warm up,
// then loads times.
func measurePage(t *testing.T, s *serverProc, url string, loads int) (cold pageLoad, warm loadStats) {
	t.Helper()
	p := browsertest.NewPage(t)
	tour := &dashboardTour{t: t, p: p, base: s.url(), pages: map[string]string{}}
	tour.signIn(s.token)
	if _, err := chromedp.Call(p.Context(), cdpperf.Enable, cdpperf.EnableParams{}); err != nil {
		t.Fatalf("enable performance metrics: %v", err)
	}
	if _, err := chromedp.Call(p.Context(), page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: tablePaintScript}); err != nil {
		t.Fatalf("add the table paint script: %v", err)
	}
	// The sign-in page loaded the stylesheet and the script already; clear the cache so
	// that the cold load fetches them as a first visit would.
	if _, err := chromedp.Call(p.Context(), network.ClearBrowserCache, cdp.Empty{}); err != nil {
		t.Fatalf("clear the browser's cache: %v", err)
	}
	cold = loadPage(t, p, url)
	loadPage(t, p, url)
	loadPage(t, p, url)
	var list []pageLoad
	for range loads {
		list = append(list, loadPage(t, p, url))
	}
	return cold, summarise(list)
}

// servicesRunning counts the services of ns running their live release with every
// instance running and registered.
func servicesRunning(ctx context.Context, s *serverProc, ns string) (int, error) {
	list, err := s.client().ListServices(ctx, ns)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, sv := range list {
		if sv.Status != platform.ServiceRunning || sv.Release == nil || sv.Release.Status != platform.ReleaseLive || len(sv.Instances) == 0 {
			continue
		}
		if !slices.ContainsFunc(sv.Instances, func(in *platform.Instance) bool { return in.State != platform.InstanceRunning || !in.Registered }) {
			n++
		}
	}
	return n, nil
}

// staticPage serves html on 127.0.0.1 (the dashboard's site: no new renderer process),
// at once and never cached, and returns its URL.
func staticPage(t *testing.T, html string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, html)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

// floorPage is the page of servicesPerf.Floor.
const floorPage = `<!doctype html><html lang="en"><title>floor</title><p>Hello</p></html>`

// renderedCopy is the HTML the server renders for path, as the admin, with the
// dashboard's assets addressed to the server: the same page without the server's time.
func renderedCopy(t *testing.T, s *serverProc, path string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url()+path, nil)
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(t, err)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: HTTP %d", path, resp.StatusCode)
	}
	return strings.NewReplacer(`"/ui/static/`, `"`+s.url()+`/ui/static/`).Replace(string(b))
}

func benchServices(t *testing.T, s *serverProc) *servicesPerf {
	ctx := context.Background()
	const ns = "perf"
	count := benchEnv(t, "PLATFORM_BENCH_SERVICES", 100)
	loads := benchEnv(t, "PLATFORM_BENCH_LOADS", 10)
	_, err := s.client().CreateNamespace(ctx, ns)
	must(t, err)
	res := &servicesPerf{}

	// One service (the one compile), and the page with it as the baseline.
	t0 := time.Now()
	name := func(i int) string { return fmt.Sprintf("hello-%03d", i) }
	s.must(t, "deploy", "./examples/helloworld", "-n", ns, "--name", name(1), "--size", "nano")
	_, res.Floor = measurePage(t, s, staticPage(t, floorPage), loads)
	_, res.Control = measurePage(t, s, s.url()+"/ui/namespaces", loads)
	_, res.Baseline = measurePage(t, s, s.url()+"/ui/n/"+ns, loads)

	// The others from the same source (the artifact is reused), four CLIs at a time.
	next := make(chan int)
	var mu sync.Mutex
	var failed []string
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := s.platform(t, "deploy", "./examples/helloworld", "-n", ns, "--name", name(i), "--size", "nano", "--detach")
				if r.code != 0 {
					mu.Lock()
					failed = append(failed, fmt.Sprintf("%s: %s", name(i), r))
					mu.Unlock()
				}
			}
		}()
	}
	for i := 2; i <= count; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d deploys failed; the first: %s", len(failed), failed[0])
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		n, err := servicesRunning(ctx, s, ns)
		if err == nil && n == count {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d services running after 10 minutes (%v)", n, count, err)
		}
		time.Sleep(time.Second)
	}
	res.Services, res.DeploySeconds = count, time.Since(t0).Seconds()
	t.Logf("%d services running %.1fs after the first deploy", count, res.DeploySeconds)

	res.Cold, res.Warm = measurePage(t, s, s.url()+"/ui/n/"+ns, loads)
	_, res.Browser = measurePage(t, s, staticPage(t, renderedCopy(t, s, "/ui/n/"+ns)), loads)
	var api []float64
	for range loads {
		t0 := time.Now()
		_, err := s.client().ListServices(ctx, ns)
		must(t, err)
		api = append(api, ms(time.Since(t0)))
	}
	slices.Sort(api)
	res.APIMedian, res.APIMax = median(api), api[len(api)-1]
	t.Logf("API service listing, %d services: median %.1f ms, max %.1f ms", count, res.APIMedian, res.APIMax)
	if res.Warm.Rows != count {
		t.Errorf("the services page shows %d rows, want %d", res.Warm.Rows, count)
	}
	for _, l := range res.Warm.Loads {
		t.Logf("services page, %d services: server %.1f ms to the first byte, %.1f ms to the last (responseStart %.1f), FCP %.1f ms, table painted %.1f ms, TTI %.1f ms, load %.1f ms, %d bytes; main thread %+v",
			count, l.ResponseStart-l.RequestStart, l.ResponseEnd-l.RequestStart, l.ResponseStart, l.FCP, l.TablePaint, l.TTI, l.Load, l.Bytes, l.Work)
	}
	return res
}
