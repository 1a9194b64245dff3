package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	platform "github.com/micro/platform"
)

// meterShards spreads series lookups over independently locked maps.
const meterShards = 32

type seriesKey struct{ ns, service string }

// usageKey identifies one stored usage row.
type usageKey struct {
	ns, service string
	minute      int64 // Unix seconds at the start of the minute
}

// bucket counts one series' requests in one minute.
type bucket struct {
	minute                         int64
	requests, errors, clientErrors int64
	// billed and egress are what the organisation is billed for: its calls, forwarded
	// ones included (the region that serves them does not bill them), and the response
	// bytes sent.
	billed, egress                  int64
	latencyMicros, maxLatencyMicros int64
	// latency counts the requests by platform.LatencyBucket.
	latency [platform.LatencyBucketCount]int64
}

// series is the metering state of one (namespace, service). Its mutex guards only a few
// additions, never a call.
type series struct {
	key     seriesKey
	org     string // the namespace's organisation, for billing
	billed  bool
	metrics *seriesMetrics

	mu      sync.Mutex
	buckets []bucket // not yet taken by a flush, oldest first
}

type meterShard struct {
	mu sync.RWMutex
	m  map[seriesKey]*series
}

// meter aggregates requests per (namespace, service, minute) and hands them to the
// UsageStore in batches. Only registered services get a series of their own: requests
// to any other name are counted in their namespace's UnknownService series, so the
// series (and the usage rows and metric labels they make) are bounded by the services
// that exist, not by the names callers send.
type meter struct {
	metrics    *metrics
	registered func(ns, service string) bool
	seed       maphash.Seed
	shards     [meterShards]meterShard
	unassigned *series // requests that were never authorised: metrics only
	maxSeries  int64
	nseries    atomic.Int64

	flushMu sync.Mutex
	pending map[usageKey]*platform.RequestUsage // taken from series, not yet accepted

	// The billing side (metering), when a publisher is set: usage taken from series
	// and not yet made events, and events made but not yet known to be published,
	// re-emitted with the same IDs until they are (the pipeline counts an ID once).
	publisher UsagePublisher
	instance  string // names this gateway in event IDs, fresh each start
	region    string
	flushSeq  uint64
	billing   map[usageKey]*billedUsage
	unsent    []platform.UsageEvent
}

// billedUsage is what one (namespace, service, minute) owes, not yet made events.
type billedUsage struct {
	org              string
	requests, egress int64
}

func newMeter(m *metrics, maxSeries int, registered func(ns, service string) bool) *meter {
	mt := &meter{
		metrics:    m,
		registered: registered,
		maxSeries:  int64(maxSeries),
		seed:       maphash.MakeSeed(),
		unassigned: &series{metrics: m.series("", "")},
		pending:    make(map[usageKey]*platform.RequestUsage),
	}
	for i := range mt.shards {
		mt.shards[i].m = make(map[seriesKey]*series)
	}
	return mt
}

// record meters one request that started at start and took latency.
func (mt *meter) record(t target, status int, start time.Time, latency time.Duration) {
	s := mt.unassigned
	if t.authorized {
		s = mt.series(seriesKey{t.ns, t.service}, t.org, status == http.StatusOK)
	}
	s.metrics.observe(status, latency.Seconds())
	if !s.billed || t.throttled {
		return
	}
	sec := start.Unix()
	minute := sec - ((sec%60)+60)%60
	micros := latency.Microseconds()

	s.mu.Lock()
	n := len(s.buckets)
	if n == 0 || s.buckets[n-1].minute != minute {
		s.buckets = append(s.buckets, bucket{minute: minute})
		n++
	}
	b := &s.buckets[n-1]
	if !t.forwardedIn { // billed where it entered the platform
		b.billed++
		b.egress += t.egress
	}
	if !t.forwarded { // the serving region's gateway records it
		b.requests++
		switch {
		case status >= 500:
			b.errors++
		case status >= 400:
			b.clientErrors++
		}
		b.latencyMicros += micros
		b.maxLatencyMicros = max(b.maxLatencyMicros, micros)
		b.latency[platform.LatencyBucket(latency)]++
	}
	s.mu.Unlock()
}

// series returns the series of k, creating it on first use if k's service is registered
// (answered is true when it just answered a call); otherwise it returns the series of
// k's namespace's UnknownService.
func (mt *meter) series(k seriesKey, org string, answered bool) *series {
	if s := mt.lookup(k); s != nil {
		return s
	}
	if k.service != UnknownService && !answered && !mt.registered(k.ns, k.service) {
		return mt.series(seriesKey{k.ns, UnknownService}, org, true)
	}
	sh := &mt.shards[maphash.Comparable(mt.seed, k)%meterShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := sh.m[k]
	if s == nil {
		// The request's strings point into its header and URL; keep copies only.
		k = seriesKey{strings.Clone(k.ns), strings.Clone(k.service)}
		label := k.service
		if label != UnknownService && mt.nseries.Add(1) > mt.maxSeries {
			label = OtherService
		}
		s = &series{key: k, org: strings.Clone(org), billed: true, metrics: mt.metrics.series(k.ns, label)}
		sh.m[k] = s
	}
	return s
}

// lookup returns the series of k, nil if there is none yet.
func (mt *meter) lookup(k seriesKey) *series {
	sh := &mt.shards[maphash.Comparable(mt.seed, k)%meterShards]
	sh.mu.RLock()
	s := sh.m[k]
	sh.mu.RUnlock()
	return s
}

// flush takes every series' buckets into the pending records and offers all pending
// records to store; they are dropped only once the store accepts them.
func (mt *meter) flush(ctx context.Context, store platform.UsageStore) error {
	mt.flushMu.Lock()
	defer mt.flushMu.Unlock()
	for i := range mt.shards {
		sh := &mt.shards[i]
		sh.mu.RLock()
		all := make([]*series, 0, len(sh.m))
		for _, s := range sh.m {
			all = append(all, s)
		}
		sh.mu.RUnlock()
		for _, s := range all {
			mt.take(s)
		}
	}
	err := mt.publish(ctx)
	if len(mt.pending) == 0 {
		return err
	}
	records := make([]*platform.RequestUsage, 0, len(mt.pending))
	for _, r := range mt.pending {
		records = append(records, r)
	}
	slices.SortFunc(records, func(a, b *platform.RequestUsage) int {
		return cmp.Or(a.Minute.Compare(b.Minute), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Service, b.Service))
	})
	if serr := store.AddRequestUsage(ctx, records); serr != nil {
		return errors.Join(fmt.Errorf("flush %d usage records: %w", len(records), serr), err)
	}
	clear(mt.pending)
	return err
}

// publish makes events of the usage taken since the last flush and hands them, with
// those not yet known to be published, to the publisher, waiting until it has published
// them. Events it could not publish are kept, IDs and all, for the next flush.
func (mt *meter) publish(ctx context.Context) error {
	if mt.publisher == nil {
		return nil
	}
	if len(mt.billing) > 0 {
		mt.flushSeq++
		keys := slices.SortedFunc(maps.Keys(mt.billing), func(a, b usageKey) int {
			return cmp.Or(cmp.Compare(a.minute, b.minute), cmp.Compare(a.ns, b.ns), cmp.Compare(a.service, b.service))
		})
		for _, k := range keys {
			u := mt.billing[k]
			id := fmt.Sprintf("gw/%s/%d/%s/%s/%d/", mt.instance, mt.flushSeq, k.ns, k.service, k.minute)
			e := platform.UsageEvent{Org: u.org, Namespace: k.ns, Service: k.service, Region: mt.region,
				Time: time.Unix(k.minute, 0).UTC()}
			if u.requests > 0 {
				e.ID, e.Meter, e.Quantity = id+"requests", platform.MeterRequests, u.requests
				mt.unsent = append(mt.unsent, e)
			}
			if u.egress > 0 {
				e.ID, e.Meter, e.Quantity = id+"egress", platform.MeterEgressBytes, u.egress
				mt.unsent = append(mt.unsent, e)
			}
		}
		clear(mt.billing)
	}
	if len(mt.unsent) == 0 {
		return nil
	}
	for _, e := range mt.unsent {
		if err := mt.publisher.PublishWait(ctx, e); err != nil {
			return fmt.Errorf("meter %d usage events: %w", len(mt.unsent), err)
		}
	}
	if err := mt.publisher.Flush(ctx); err != nil {
		return fmt.Errorf("meter %d usage events: %w", len(mt.unsent), err)
	}
	mt.unsent = mt.unsent[:0]
	return nil
}

// take moves s's buckets into the pending records, merging with any a failed flush left.
func (mt *meter) take(s *series) {
	s.mu.Lock()
	buckets := s.buckets
	s.buckets = nil
	s.mu.Unlock()
	for _, b := range buckets {
		k := usageKey{s.key.ns, s.key.service, b.minute}
		if mt.publisher != nil && s.org != "" && s.key.service != UnknownService {
			u := mt.billing[k]
			if u == nil {
				u = &billedUsage{org: s.org}
				mt.billing[k] = u
			}
			u.requests += b.billed
			u.egress += b.egress
		}
		if b.requests == 0 {
			continue
		}
		r := mt.pending[k]
		if r == nil {
			r = &platform.RequestUsage{Namespace: k.ns, Service: k.service, Minute: time.Unix(b.minute, 0).UTC(),
				LatencyBuckets: make([]int64, platform.LatencyBucketCount)}
			mt.pending[k] = r
		}
		r.Requests += b.requests
		r.Errors += b.errors
		r.ClientErrors += b.clientErrors
		r.LatencyMicros += b.latencyMicros
		r.MaxLatencyMicros = max(r.MaxLatencyMicros, b.maxLatencyMicros)
		for i, c := range b.latency {
			r.LatencyBuckets[i] += c
		}
	}
}
