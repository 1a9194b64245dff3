package gateway

import (
	"errors"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// latencyBuckets span a fast in-region call to the default timeout.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// statuses are the HTTP statuses the gateway answers with; each gets a cached counter
// slot per series so the hot path never builds label values.
var statuses = [...]int{200, 400, 401, 403, 404, 405, 409, 413, 429, statusClientClosed, 500, 502, 503, 504}

func statusSlot(status int) int {
	for i, s := range statuses {
		if s == status {
			return i
		}
	}
	return -1
}

// metrics are the gateway's Prometheus collectors.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "platform_gateway_requests_total",
			Help: "Gateway requests by namespace, service and HTTP status; namespace and service are empty for requests that were not authorised.",
		}, []string{"namespace", "service", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "platform_gateway_request_duration_seconds",
			Help:    "Gateway request latency by namespace and service.",
			Buckets: latencyBuckets,
		}, []string{"namespace", "service"}),
	}
	if reg != nil {
		m.requests = register(reg, m.requests)
		m.duration = register(reg, m.duration)
	}
	return m
}

// register registers c, or returns the identical collector already registered (two
// gateways in one process, or a test), and panics on any other conflict.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic("gateway: register metrics: " + err.Error())
}

// seriesMetrics are the label handles of one (namespace, service), resolved once.
type seriesMetrics struct {
	vec      *prometheus.CounterVec
	labels   [2]string
	duration prometheus.Observer
	counters [len(statuses)]atomic.Pointer[prometheus.Counter]
}

func (m *metrics) series(ns, service string) *seriesMetrics {
	return &seriesMetrics{
		vec:      m.requests,
		labels:   [2]string{ns, service},
		duration: m.duration.WithLabelValues(ns, service),
	}
}

// observe counts one request. Counters are created on first use, so /metrics shows only
// statuses that happened.
func (s *seriesMetrics) observe(status int, seconds float64) {
	s.duration.Observe(seconds)
	i := statusSlot(status)
	if i < 0 {
		s.vec.WithLabelValues(s.labels[0], s.labels[1], strconv.Itoa(status)).Inc()
		return
	}
	c := s.counters[i].Load()
	if c == nil {
		counter := s.vec.WithLabelValues(s.labels[0], s.labels[1], strconv.Itoa(status))
		s.counters[i].CompareAndSwap(nil, &counter)
		c = s.counters[i].Load()
	}
	(*c).Inc()
}
