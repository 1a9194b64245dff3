package browsertest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/heapprofiler"
	"github.com/chromedp/chromedp"
)

// The measurements below read the browser's own clocks (the Performance API of the page
// of ctx, a chromedp tab), so a slow test machine shows in them as it would on a slow
// laptop; they are durations since the navigation of the current document started.

// FirstContentfulPaint returns when the current document first painted text or an image
// (the paint timing entry first-contentful-paint), waiting up to 10 s for it: a page that
// shows nothing has none.
func FirstContentfulPaint(ctx context.Context) (time.Duration, error) {
	const js = `new Promise(resolve => {
		const name = 'first-contentful-paint';
		const e = performance.getEntriesByName(name)[0];
		if (e) return resolve(e.startTime);
		new PerformanceObserver((list, obs) => {
			const e = list.getEntriesByName(name)[0];
			if (e) { obs.disconnect(); resolve(e.startTime); }
		}).observe({type: 'paint', buffered: true});
		setTimeout(() => resolve(-1), 10000);
	})`
	var ms float64
	if err := evalJSON(ctx, js, &ms); err != nil {
		return 0, fmt.Errorf("first contentful paint: %w", err)
	}
	if ms < 0 {
		return 0, errors.New("first contentful paint: none in 10s (does the page show anything?)")
	}
	return millis(ms), nil
}

// Navigation is the navigation timing entry of the current document.
type Navigation struct {
	// ResponseStart is when the first byte of the HTML arrived.
	ResponseStart time.Duration
	// DOMInteractive is when the HTML was parsed, before deferred scripts ran.
	DOMInteractive time.Duration
	// DOMContentLoaded is when the DOMContentLoaded event ended (domContentLoadedEventEnd):
	// the HTML is parsed, deferred and module scripts ran and their DOMContentLoaded
	// handlers returned — so a server-rendered page's own script has attached its handlers.
	DOMContentLoaded time.Duration
	// Load is when the load event ended (images and styles in), 0 while it has not.
	Load time.Duration
}

// NavigationTiming returns the navigation timing of the current document, waiting up to
// 10 s for its DOMContentLoaded event to end.
func NavigationTiming(ctx context.Context) (Navigation, error) {
	const js = `new Promise(resolve => {
		const t0 = performance.now();
		const check = () => {
			const n = performance.getEntriesByType('navigation')[0];
			if (n && n.domContentLoadedEventEnd > 0) {
				resolve({responseStart: n.responseStart, domInteractive: n.domInteractive,
					domContentLoaded: n.domContentLoadedEventEnd, load: n.loadEventEnd});
			} else if (performance.now() - t0 > 10000) {
				resolve(null);
			} else {
				setTimeout(check, 20);
			}
		};
		check();
	})`
	var n *struct {
		ResponseStart    float64 `json:"responseStart"`
		DOMInteractive   float64 `json:"domInteractive"`
		DOMContentLoaded float64 `json:"domContentLoaded"`
		Load             float64 `json:"load"`
	}
	if err := evalJSON(ctx, js, &n); err != nil {
		return Navigation{}, fmt.Errorf("navigation timing: %w", err)
	}
	if n == nil {
		return Navigation{}, errors.New("navigation timing: the document has not loaded in 10s")
	}
	return Navigation{
		ResponseStart:    millis(n.ResponseStart),
		DOMInteractive:   millis(n.DOMInteractive),
		DOMContentLoaded: millis(n.DOMContentLoaded),
		Load:             millis(n.Load),
	}, nil
}

// TimeToInteractive returns the current document's [Navigation].DOMContentLoaded: for a
// server-rendered page with a little script, the moment its controls work. It is not
// Lighthouse's TTI, which also waits for 5 s without long tasks; use [FrameStats] to see
// the main thread stay free afterwards.
func TimeToInteractive(ctx context.Context) (time.Duration, error) {
	n, err := NavigationTiming(ctx)
	return n.DOMContentLoaded, err
}

// Frames is what [FrameStats] measured.
type Frames struct {
	// Count is the number of frame intervals sampled.
	Count int
	// P50, P99 and Max are frame times: the intervals between requestAnimationFrame
	// callbacks. An idle page in headless Chromium gets one every 16.7 ms (60 Hz); a main
	// thread busy with a long task shows as one long frame.
	P50, P99, Max time.Duration
	// HeapBefore and HeapAfter are performance.memory.usedJSHeapSize in bytes, each read
	// after a forced garbage collection, so they count what the page keeps.
	HeapBefore, HeapAfter int64
}

func (f Frames) String() string {
	return fmt.Sprintf("%d frames, p50 %v, p99 %v, max %v; JS heap %s → %s",
		f.Count, f.P50.Round(100*time.Microsecond), f.P99.Round(100*time.Microsecond),
		f.Max.Round(100*time.Microsecond), mib(f.HeapBefore), mib(f.HeapAfter))
}

// FrameStats samples the page's animation frames for d, while whatever the test set going
// (a stream of log lines) runs, and reads the JS heap before and after. A hidden page gets
// no animation frames; every tab of this package is visible (each has its own window).
func FrameStats(ctx context.Context, d time.Duration) (Frames, error) {
	var f Frames
	var err error
	if f.HeapBefore, err = usedHeap(ctx); err != nil {
		return f, err
	}
	ms := strconv.FormatInt(d.Milliseconds(), 10)
	js := `new Promise(resolve => {
		const frames = [];
		const end = performance.now() + ` + ms + `;
		let last = null;
		const tick = now => {
			if (last !== null) frames.push(now - last);
			last = now;
			if (now < end) requestAnimationFrame(tick); else resolve(frames);
		};
		requestAnimationFrame(tick);
		setTimeout(() => resolve(frames), ` + ms + ` + 2000);
	})`
	var frames []float64
	if err := evalJSON(ctx, js, &frames); err != nil {
		return f, fmt.Errorf("frame stats: %w", err)
	}
	if len(frames) == 0 {
		return f, errors.New("frame stats: no animation frame (is the tab in the background?)")
	}
	slices.Sort(frames)
	f.Count = len(frames)
	f.P50, f.P99, f.Max = millis(rank(frames, 0.50)), millis(rank(frames, 0.99)), millis(frames[len(frames)-1])
	if f.HeapAfter, err = usedHeap(ctx); err != nil {
		return f, err
	}
	return f, nil
}

// usedHeap collects garbage in the page and returns performance.memory.usedJSHeapSize
// (precise, Chromium runs with --enable-precise-memory-info), or -1 where there is none.
func usedHeap(ctx context.Context) (int64, error) {
	if _, err := chromedp.Call(ctx, heapprofiler.CollectGarbage, cdp.Empty{}); err != nil {
		return 0, fmt.Errorf("collect garbage: %w", err)
	}
	var n int64
	if err := evalJSON(ctx, `performance.memory ? performance.memory.usedJSHeapSize : -1`, &n); err != nil {
		return 0, fmt.Errorf("read the JS heap: %w", err)
	}
	return n, nil
}

// rank is the nearest-rank q-quantile of sorted values.
func rank(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func millis(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

func mib(n int64) string {
	if n < 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
