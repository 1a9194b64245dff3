package platform

import (
	"encoding/json"
	"time"
)

// Bounds of the window of ControlPlane.ServiceMetrics.
const (
	// DefaultMetricsWindow is the window when the caller gives none.
	DefaultMetricsWindow = time.Hour
	// MaxMetricsWindow is the longest window: 1440 points of a minute.
	MaxMetricsWindow = 24 * time.Hour
)

// ServiceMetrics is a service's traffic as its regions' gateways metered it
// (RequestUsage) and the resources its instances used (ResourceUsage), one point per
// minute with no gaps: a minute without requests is a
// point of zeros, so that a chart needs no filling.
type ServiceMetrics struct {
	Namespace string `json:"namespace"`
	Service   string `json:"service"`
	// From is the first point's minute; To is the end of the last point's minute. The
	// last point is the current minute, still being counted (gateways flush every few
	// seconds).
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Points are the minutes from From to To, oldest first.
	Points []*MetricPoint `json:"points"`
	// Total is the whole window as one point (its Minute is From): counts add up, the
	// percentiles are those of every request of the window, CPU is the mean of the
	// minutes sampled and Memory their peak.
	Total *MetricPoint `json:"total"`
}

// MetricPoint is a service's traffic and resource use in one minute. Latencies are measured at the
// gateway, from the request's arrival to the end of its response. In JSON the latencies
// are milliseconds (fractional) in fields named *_ms.
type MetricPoint struct {
	// Minute is the start of the minute, UTC.
	Minute   time.Time
	Requests int64
	// Errors counts responses with status >= 500, ClientErrors those with 400 <= status
	// < 500.
	Errors       int64
	ClientErrors int64
	// P50 and P99 are estimated from the latency histogram (RequestUsage.Quantile): the
	// upper bound of the bucket the quantile falls in, never more than Max. 0 without
	// requests, and for minutes metered before the histogram.
	P50, P99 time.Duration
	// Mean and Max are exact.
	Mean, Max time.Duration
	// CPU (cores) and Memory (bytes) are what the service's running instances used,
	// summed over instances and regions: the control plane's last sample of the minute
	// (ResourceUsage). 0 when nothing was sampled: no running instance, or a runtime
	// that reports no figures.
	CPU    float64
	Memory int64
}

// NewMetricPoint makes the point of a usage row (or the sum of several).
func NewMetricPoint(minute time.Time, u *RequestUsage) *MetricPoint {
	return &MetricPoint{
		Minute:       minute,
		Requests:     u.Requests,
		Errors:       u.Errors,
		ClientErrors: u.ClientErrors,
		P50:          u.Quantile(0.5),
		P99:          u.Quantile(0.99),
		Mean:         u.MeanLatency(),
		Max:          u.MaxLatency(),
	}
}

// metricPointJSON is MetricPoint on the wire.
type metricPointJSON struct {
	Minute       time.Time `json:"minute"`
	Requests     int64     `json:"requests"`
	Errors       int64     `json:"errors"`
	ClientErrors int64     `json:"client_errors"`
	P50          float64   `json:"p50_ms"`
	P99          float64   `json:"p99_ms"`
	Mean         float64   `json:"mean_ms"`
	Max          float64   `json:"max_ms"`
	CPU          float64   `json:"cpu_cores"`
	Memory       int64     `json:"memory_bytes"`
}

// MarshalJSON writes the latencies as milliseconds.
func (p MetricPoint) MarshalJSON() ([]byte, error) {
	return json.Marshal(metricPointJSON{
		Minute: p.Minute, Requests: p.Requests, Errors: p.Errors, ClientErrors: p.ClientErrors,
		P50: millis(p.P50), P99: millis(p.P99), Mean: millis(p.Mean), Max: millis(p.Max),
		CPU: p.CPU, Memory: p.Memory,
	})
}

// UnmarshalJSON reads what MarshalJSON writes, to the microsecond.
func (p *MetricPoint) UnmarshalJSON(b []byte) error {
	var j metricPointJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*p = MetricPoint{
		Minute: j.Minute, Requests: j.Requests, Errors: j.Errors, ClientErrors: j.ClientErrors,
		P50: fromMillis(j.P50), P99: fromMillis(j.P99), Mean: fromMillis(j.Mean), Max: fromMillis(j.Max),
		CPU: j.CPU, Memory: j.Memory,
	}
	return nil
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fromMillis rounds to the microsecond, the resolution of the usage rows.
func fromMillis(ms float64) time.Duration {
	return time.Duration(ms * float64(time.Millisecond)).Round(time.Microsecond)
}
