package main

import (
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// tableHeader is the markdown header of the rows loadgen prints.
const tableHeader = "| target | requests | errors | req/s | p50 | p99 |\n|---|---:|---:|---:|---:|---:|\n"

// maxSampleErrors is how many distinct error messages a run reports.
const maxSampleErrors = 3

// recorder hands out request slots up to a maximum across workers.
type recorder struct {
	left atomic.Int64
}

func newRecorder(max int64) *recorder {
	r := &recorder{}
	r.left.Store(max)
	return r
}

// take reports whether another request may be made.
func (r *recorder) take() bool { return r.left.Add(-1) >= 0 }

// workerResult is what one worker saw; workers never share one, so recording is free of
// contention.
type workerResult struct {
	latencies []time.Duration
	errors    int64
	samples   []string
}

func (w *workerResult) add(lat time.Duration, err error) {
	w.latencies = append(w.latencies, lat)
	if err == nil {
		return
	}
	w.errors++
	if msg := err.Error(); len(w.samples) < maxSampleErrors && !slices.Contains(w.samples, msg) {
		w.samples = append(w.samples, msg)
	}
}

// result summarises a run.
type result struct {
	requests, errors int64
	elapsed          time.Duration
	p50, p99         time.Duration
	sampleErrors     []string
}

func summarise(workers []workerResult, elapsed time.Duration) result {
	res := result{elapsed: elapsed}
	var all []time.Duration
	for _, w := range workers {
		all = append(all, w.latencies...)
		res.errors += w.errors
		for _, s := range w.samples {
			if len(res.sampleErrors) < maxSampleErrors && !slices.Contains(res.sampleErrors, s) {
				res.sampleErrors = append(res.sampleErrors, s)
			}
		}
	}
	res.requests = int64(len(all))
	slices.Sort(all)
	res.p50, res.p99 = percentile(all, 50), percentile(all, 99)
	return res
}

// percentile returns the nearest-rank p-th percentile of sorted, or 0 for none.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}

// rate is requests per second over the run.
func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

// row is the markdown table row of r.
func (r result) row(label string) string {
	return fmt.Sprintf("| %s | %d | %d | %.0f | %s | %s |", label, r.requests, r.errors, r.rate(), ms(r.p50), ms(r.p99))
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}
