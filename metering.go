package platform

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// UsageHour returns the start of t's hour in UTC: the hour of a UsageRollup.
func UsageHour(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }

// UsageCommit is what MeteringStore.CommitUsage writes in one transaction: the events a
// folder read from a stream between two positions, and the move of the stream's
// position past them.
type UsageCommit struct {
	// Stream names the position: the stream (and its incarnation) the events were
	// read from.
	Stream string
	// From is the position the stream must be at (compare-and-set: ECONFLICT when it
	// is not; a stream never committed is at 0); To, above From, is where it moves: the
	// sequence of the last message read.
	From, To uint64
	// Events are the events read. Each counts once: one whose ID the store remembers
	// for the same hour (from an earlier commit, or earlier in this one) is a
	// duplicate, one of an hour the store has forgotten (PruneUsageEvents) is late, and
	// neither adds to a rollup.
	Events []*UsageEvent
}

// UsageCommitResult says what a commit counted.
type UsageCommitResult struct {
	// Counted events were added to the rollups.
	Counted int
	// Duplicates were events already counted.
	Duplicates int
	// Late were events of an hour before the store's horizon: not counted, because
	// whether they were already cannot be told any more.
	Late int
}

// UsageRollupFilter selects rollups. Empty fields select all.
type UsageRollupFilter struct {
	Org       string
	Namespace string
	Service   string
	Region    string
	Meter     Meter
	// From and To bound the hours: From <= Hour < To. Zero means unbounded.
	From, To time.Time
}

// ErrUsageConflict is the ECONFLICT CommitUsage returns when the stream's position is
// not where the commit starts: another folder committed those events, or the caller's
// view is stale.
var ErrUsageConflict = Errorf(ECONFLICT, "usage stream position moved concurrently")

// MeteringStore keeps the metering pipeline's state: hourly usage rollups, the position
// of each stream folded into them, and the IDs of the events counted (for a window), so
// that every event counts exactly once however often it is delivered.
//
// The contract that makes folding exactly once: CommitUsage adds events to rollups,
// remembers their IDs and moves the stream's position in one transaction, over the
// position it expects; a folder restarted after a crash resumes at the stored position,
// so it neither skips nor re-adds a message. An event delivered twice (published twice,
// or re-emitted) is remembered by ID and hour and counted once, as long as its hour is
// not older than the horizon PruneUsageEvents has moved to; events of older hours are
// refused as late. Duplicates therefore never double count, whatever their delay; a
// delay beyond the retention window loses the event (and says so).
type MeteringStore interface {
	// CommitUsage counts the commit's events that are neither duplicates nor late into
	// the rollups of their org, namespace, service, region, meter and hour, remembers
	// their IDs, and moves c.Stream from c.From to c.To, all in one transaction.
	// ErrUsageConflict (ECONFLICT), writing nothing, when the stream is not at c.From;
	// EINVALID, writing nothing, without a stream, with To <= From, or with an event
	// that fails Validate. It keeps no reference to c's events once it returns.
	CommitUsage(ctx context.Context, c *UsageCommit) (UsageCommitResult, error)
	// UsageOffset returns a stream's position: the To of its last commit, 0 if none.
	UsageOffset(ctx context.Context, stream string) (uint64, error)
	// ListUsageRollups returns the matching rollups ordered by hour, org, namespace,
	// service, region and meter.
	ListUsageRollups(ctx context.Context, f UsageRollupFilter) ([]*UsageRollup, error)
	// PruneUsageEvents forgets the IDs of events of the hours before before's hour and
	// moves the horizon there (never back), so that events of those hours are refused
	// as late from then on. It returns how many IDs it forgot.
	PruneUsageEvents(ctx context.Context, before time.Time) (int64, error)
	// UsageHorizon returns the hour before which events are refused as late (zero:
	// none are).
	UsageHorizon(ctx context.Context) (time.Time, error)
}

// UsageRollupKey is what a rollup sums over: everything of a UsageRollup but its
// quantity.
type UsageRollupKey struct {
	Org, Namespace, Service, Region string
	Meter                           Meter
	Hour                            time.Time
}

// RollupKey returns the key of the rollup e counts in (its hour in UTC).
func (e *UsageEvent) RollupKey() UsageRollupKey {
	return UsageRollupKey{Org: e.Org, Namespace: e.Namespace, Service: e.Service, Region: e.Region,
		Meter: e.Meter, Hour: UsageHour(e.Time)}
}

// SumUsage returns the rollups of events, summed by RollupKey, in the order of
// ListUsageRollups. It counts every event given: deduplication is the caller's.
func SumUsage(events []*UsageEvent) []*UsageRollup {
	sums := make(map[UsageRollupKey]int64)
	for _, e := range events {
		sums[e.RollupKey()] += e.Quantity
	}
	list := make([]*UsageRollup, 0, len(sums))
	for k, q := range sums {
		list = append(list, &UsageRollup{Org: k.Org, Namespace: k.Namespace, Service: k.Service, Region: k.Region,
			Meter: k.Meter, Hour: k.Hour, Quantity: q})
	}
	SortUsageRollups(list)
	return list
}

// SortUsageRollups sorts rollups as ListUsageRollups returns them: by hour, org,
// namespace, service, region and meter.
func SortUsageRollups(list []*UsageRollup) {
	slices.SortFunc(list, func(a, b *UsageRollup) int {
		return cmp.Or(a.Hour.Compare(b.Hour), cmp.Compare(a.Org, b.Org), cmp.Compare(a.Namespace, b.Namespace),
			cmp.Compare(a.Service, b.Service), cmp.Compare(a.Region, b.Region), cmp.Compare(a.Meter, b.Meter))
	})
}
