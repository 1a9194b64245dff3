package platform

import (
	"context"
	"time"
)

// RequestUsage aggregates gateway requests to one service in one minute, the unit that
// billing and alerting read.
type RequestUsage struct {
	Namespace string    `json:"namespace"`
	Service   string    `json:"service"`
	Minute    time.Time `json:"minute"` // start of the minute, UTC
	Requests  int64     `json:"requests"`
	Errors    int64     `json:"errors"` // responses with status >= 500
	// ClientErrors counts responses with 400 <= status < 500.
	ClientErrors int64 `json:"client_errors"`
	// LatencyMicros is the sum of request latencies, for the mean.
	LatencyMicros int64 `json:"latency_micros"`
	// MaxLatencyMicros is the slowest request of the minute.
	MaxLatencyMicros int64 `json:"max_latency_micros"`
}

// UsageStore keeps metered usage.
type UsageStore interface {
	// AddRequestUsage adds each record to the stored row of the same namespace, service
	// and minute (counts add up, max takes the maximum), creating it if needed.
	AddRequestUsage(ctx context.Context, records []*RequestUsage) error
	// ListRequestUsage returns a namespace's rows with from <= minute < to, ordered by
	// minute then service; service "" means all services.
	ListRequestUsage(ctx context.Context, namespace, service string, from, to time.Time) ([]*RequestUsage, error)
}
