package billing

import (
	"time"

	platform "github.com/micro/platform"
)

// Period is a billing period: the half-open interval [Start, End). Invoices cover one
// each; by default periods are calendar months in UTC (MonthOf).
type Period struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// MonthOf returns the calendar month, in UTC, that contains t: the default period.
func MonthOf(t time.Time) Period {
	t = t.UTC()
	start := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	return Period{Start: start, End: start.AddDate(0, 1, 0)}
}

// Next returns the calendar month after p's start month. It is meant for monthly
// periods: for another period it still returns a month.
func (p Period) Next() Period { return MonthOf(p.Start.UTC().AddDate(0, 1, 0)) }

// Duration is how long p lasts.
func (p Period) Duration() time.Duration { return p.End.Sub(p.Start) }

// Contains reports whether t is in [Start, End).
func (p Period) Contains(t time.Time) bool { return !t.Before(p.Start) && t.Before(p.End) }

// Validate returns EINVALID unless Start is before End and both are whole hours (so
// that every hourly rollup lies wholly inside or outside the period).
func (p Period) Validate() error {
	switch {
	case p.Start.IsZero() || p.End.IsZero() || !p.Start.Before(p.End):
		return platform.Errorf(platform.EINVALID, "period %s needs a start before its end", p)
	case !p.Start.Equal(p.Start.Truncate(time.Hour)) || !p.End.Equal(p.End.Truncate(time.Hour)):
		return platform.Errorf(platform.EINVALID, "period %s must start and end on whole hours", p)
	}
	return nil
}

// String renders p as "2026-11-01T00:00:00Z/2026-12-01T00:00:00Z" (ISO 8601 interval).
func (p Period) String() string {
	return p.Start.UTC().Format(time.RFC3339) + "/" + p.End.UTC().Format(time.RFC3339)
}

// InvoiceID is the ID of org's invoice for p: the same for its draft and its final
// version, so storing and exporting it again replaces rather than duplicates it
// (the Stripe export derives its idempotency keys from it). Periods of one org must
// therefore start on different days.
func InvoiceID(org string, p Period) string {
	return "in-" + org + "-" + p.Start.UTC().Format("20060102")
}
