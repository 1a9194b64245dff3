package http

import (
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's own request metrics, labelled by route pattern (not path),
// method and status.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	labels := []string{"route", "method", "status"}
	return &metrics{
		requests: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "platform_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status.",
		}, labels)),
		duration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "platform_http_request_duration_seconds",
			Help:    "Time to serve HTTP requests (event streams included), by route pattern, method and status.",
			Buckets: prometheus.DefBuckets,
		}, labels)),
		inFlight: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "platform_http_requests_in_flight",
			Help: "HTTP requests being served, open event streams included.",
		})),
	}
}

// register registers c, or returns the identical collector already registered, so that
// two servers may share one registry (as tests and restarts within a process do).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a metric name clash with another package is a wiring mistake
	}
	return c
}

// metricsHandler serves the registry in the Prometheus exposition format.
func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{
		ErrorLog:      slogPromLogger{s},
		Registry:      s.registry,
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// slogPromLogger passes promhttp's gathering errors to the server's logger.
type slogPromLogger struct{ s *Server }

func (l slogPromLogger) Println(v ...any) {
	l.s.log.Error("gather metrics", "error", v)
}
