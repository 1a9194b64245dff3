package platform

import (
	"context"
	"time"
)

// Event types. Every failure a user must know about is an event with a reason.
const (
	EventNamespaceCreated     = "namespace.created"
	EventBuildStarted         = "build.started"
	EventBuildSucceeded       = "build.succeeded"
	EventBuildFailed          = "build.failed"
	EventReleaseCreated       = "release.created"
	EventReleaseRollingOut    = "release.rolling_out"
	EventReleaseRolledOut     = "release.rolled_out"
	EventReleaseCanary        = "release.canary" // runs beside the live release with a share of the calls
	EventReleaseFailed        = "release.failed"
	EventReleaseSuperseded    = "release.superseded"
	EventInstanceStarted      = "instance.started"
	EventInstanceCrashed      = "instance.crashed"
	EventInstanceCrashLoop    = "instance.crashloop"
	EventInstanceUnregistered = "instance.unregistered" // never appeared in the namespace registry
	EventInstanceStopped      = "instance.stopped"
	EventInstanceRestarted    = "instance.restarted" // restarted in place by the platform
	EventServiceDeleted       = "service.deleted"
	EventRegionLost           = "region.lost"       // a region of the service's placement stopped answering
	EventRegionReturned       = "region.returned"   // it is connected again
	EventServiceUnplaced      = "service.unplaced"  // no region of its placement is connected
	EventNamespaceRefused     = "namespace.refused" // a region's mesh could not set the namespace up

	// EventSpendThreshold: the organisation's spend of the period reached 75, 90 or
	// 100 % of its plan's spend limit (Data threshold, amount, limit, currency).
	EventSpendThreshold = "billing.spend_threshold"
)

// Event is something that happened in a namespace, for `platform events`, the dashboard
// and alerting.
type Event struct {
	// ID increases with every event appended, so clients resume a stream after an ID.
	ID        int64  `json:"id"`
	Namespace string `json:"namespace"`
	Service   string `json:"service,omitempty"`
	// Region is where it happened, for events a region reported.
	Region  string            `json:"region,omitempty"`
	Type    string            `json:"type"`
	Message string            `json:"message"`
	Data    map[string]string `json:"data,omitempty"`
	Time    time.Time         `json:"time"`
}

// EventFilter selects events.
type EventFilter struct {
	Namespace string // required
	Service   string // optional
	Type      string // optional, exact or prefix ending in "." (e.g. "build.")
	Region    string // optional
	AfterID   int64  // only events with a larger ID
	Limit     int    // at most this many (newest when AfterID is 0); 0 means 100
}

// EventStore keeps events.
type EventStore interface {
	// AppendEvent stores e, setting its ID (and Time when zero).
	AppendEvent(ctx context.Context, e *Event) error
	// ListEvents returns matching events in ascending ID order.
	ListEvents(ctx context.Context, f EventFilter) ([]*Event, error)
}

// EventPublisher appends events and delivers them to live subscribers.
type EventPublisher interface {
	Publish(ctx context.Context, e *Event)
}
