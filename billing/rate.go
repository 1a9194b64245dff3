package billing

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	platform "github.com/micro/platform"
)

// Assignment puts an organisation on a plan from From on, until the next assignment
// of its history. It carries the plan itself, not its name, so an invoice prices
// usage as the plan stood when it was assigned.
type Assignment struct {
	Plan platform.Plan `json:"plan"`
	// From is when the plan takes effect; rating reads it to the second.
	From time.Time `json:"from"`
}

// PlanAt returns the plan of history in force at t: that of the latest assignment
// from at or before t (the last of those listed at the same time). ok is false when
// none is.
func PlanAt(history []Assignment, t time.Time) (plan platform.Plan, ok bool) {
	var at time.Time
	for _, a := range history {
		if !a.From.After(t) && (!ok || !a.From.Before(at)) {
			plan, at, ok = a.Plan, a.From, true
		}
	}
	return plan, ok
}

// segment is a stretch of a period under one plan: [from, to), where to is the next
// plan's start or the period's end. chargedTo is where its base amount stops
// accruing: to, or the as-of time of a draft.
type segment struct {
	plan      platform.Plan
	from, to  time.Time
	chargedTo time.Time
	usage     map[platform.Meter]int64
}

// maxProblems bounds how many bad rollups an error lists.
const maxProblems = 10

// Rate rates org's usage during period under its plan history, as of asOf, into an
// invoice: final (InvoiceOpen) when asOf is at or after the period's end, a draft of
// what accrues so far otherwise. history is every assignment of the org (in any
// order; those from after asOf or the period's end are not yet in force and are
// ignored); rollups are its usage rollups of the period.
//
// The invoice has, in this order, a base line for every stretch of the period under
// a plan with a base amount, then for each meter in platform.Meters order a line for
// every stretch whose plan prices the meter or that used it. A stretch's base amount
// and included quantities are those of its plan prorated by its share of the period
// in whole seconds; a rollup counts in the stretch whose plan was in force at the
// start of its hour (one from before the first plan counts in the first stretch).
// Each line's amount is
//
//	round_half_up(max(0, quantity − included) × unit_amount / per)
//
// computed in 128 bits; Total is the sum of the lines. A draft's last stretch
// accrues its base amount up to asOf but already has its whole allowance (the
// included quantities up to the period's end), so a draft's total only grows with
// time and usage, and equals the final invoice's if nothing else happens.
//
// Errors are EINVALID: a bad period or plan, no plan in force during the period,
// plans of different currencies, a rollup of another org, meter or period, or an
// amount beyond int64 (never wrapped).
func Rate(org string, period Period, history []Assignment, rollups []platform.UsageRollup, asOf time.Time) (*platform.Invoice, error) {
	if org == "" {
		return nil, platform.Errorf(platform.EINVALID, "rate: no organisation")
	}
	if err := period.Validate(); err != nil {
		return nil, err
	}
	period = Period{Start: period.Start.UTC(), End: period.End.UTC()}
	asOf = asOf.UTC().Truncate(time.Second)
	if asOf.Before(period.Start) {
		return nil, platform.Errorf(platform.EINVALID, "rate: period %s has not begun at %s", period, asOf.Format(time.RFC3339))
	}
	final := !asOf.Before(period.End)
	segs, err := segments(org, period, history, asOf)
	if err != nil {
		return nil, err
	}
	if err := addUsage(org, period, segs, rollups); err != nil {
		return nil, err
	}
	inv := &platform.Invoice{
		ID:          InvoiceID(org, period),
		Org:         org,
		PeriodStart: period.Start,
		PeriodEnd:   period.End,
		Currency:    segs[0].plan.Currency,
		Lines:       []platform.InvoiceLine{},
		Status:      platform.InvoiceDraft,
		CreatedAt:   asOf,
	}
	if final {
		inv.Status = platform.InvoiceOpen
	}
	periodSeconds := int64(period.Duration() / time.Second)
	for _, s := range segs {
		if s.plan.BaseAmount == 0 {
			continue
		}
		l, err := baseLine(s, periodSeconds, inv.Currency)
		if err != nil {
			return nil, err
		}
		inv.Lines = append(inv.Lines, l)
	}
	for _, m := range platform.Meters {
		for _, s := range segs {
			price, priced := s.plan.Prices[m]
			if !priced && s.usage[m] == 0 {
				continue
			}
			l, err := meterLine(s, m, price, periodSeconds, inv.Currency)
			if err != nil {
				return nil, err
			}
			inv.Lines = append(inv.Lines, l)
		}
	}
	for _, l := range inv.Lines {
		if inv.Total, err = add(inv.Total, l.Amount); err != nil {
			return nil, overflowError("the invoice's total")
		}
	}
	return inv, nil
}

// segments cuts period into stretches under one plan each, from history as it
// stands at asOf. Adjacent stretches of an identical plan are one.
func segments(org string, period Period, history []Assignment, asOf time.Time) ([]*segment, error) {
	var problems []string
	var inForce []Assignment
	for i, a := range history {
		if a.From.IsZero() {
			problems = append(problems, fmt.Sprintf("plan assignment %d (%s) has no time", i, a.Plan.Name))
			continue
		}
		a.From = a.From.UTC().Truncate(time.Second)
		if !a.From.Before(period.End) || a.From.After(asOf) {
			continue
		}
		problems = append(problems, PlanProblems(a.Plan)...)
		inForce = append(inForce, a)
	}
	if len(problems) > 0 {
		return nil, platform.Errorf(platform.EINVALID, "rate %s: %s", org, strings.Join(problems, "; "))
	}
	slices.SortStableFunc(inForce, func(a, b Assignment) int { return a.From.Compare(b.From) })
	// Of the assignments at one time, the last listed wins; of those at or before
	// the period's start, the latest is in force at its start.
	first := 0
	var kept []Assignment
	for _, a := range inForce {
		if n := len(kept); n > 0 && kept[n-1].From.Equal(a.From) {
			kept = kept[:n-1]
		}
		kept = append(kept, a)
		if !a.From.After(period.Start) {
			first = len(kept) - 1
		}
	}
	kept = kept[first:]
	if len(kept) == 0 {
		return nil, platform.Errorf(platform.EINVALID, "rate %s: no plan is in force during %s", org, period)
	}
	var segs []*segment
	for i, a := range kept {
		from := a.From
		if from.Before(period.Start) {
			from = period.Start
		}
		to := period.End
		if i+1 < len(kept) {
			to = kept[i+1].From
		}
		if n := len(segs); n > 0 && samePlan(segs[n-1].plan, a.Plan) {
			segs[n-1].to = to
			continue
		}
		plan := a.Plan
		plan.Prices = maps.Clone(plan.Prices)
		normalizePlan(&plan)
		segs = append(segs, &segment{plan: plan, from: from, to: to, usage: map[platform.Meter]int64{}})
	}
	for _, s := range segs {
		s.chargedTo = s.to
		if asOf.Before(s.to) {
			s.chargedTo = asOf
		}
		if s.plan.Currency != segs[0].plan.Currency {
			return nil, platform.Errorf(platform.EINVALID, "rate %s: plan %s (%s) and plan %s (%s) within %s: one invoice has one currency",
				org, segs[0].plan.Name, segs[0].plan.Currency, s.plan.Name, s.plan.Currency, period).
				WithHint("change an organisation's plan to one of another currency only at a period's start")
		}
	}
	return segs, nil
}

// samePlan reports whether a and b are the same plan with the same prices.
func samePlan(a, b platform.Plan) bool {
	return a.Name == b.Name && a.Currency == b.Currency && a.BaseAmount == b.BaseAmount &&
		a.Quotas == b.Quotas && maps.EqualFunc(a.Prices, b.Prices, func(x, y platform.Price) bool {
		return x.UnitAmount == y.UnitAmount && max(x.Per, 1) == max(y.Per, 1) && x.Included == y.Included
	})
}

// addUsage sums rollups into the segment in force at the start of each one's hour.
func addUsage(org string, period Period, segs []*segment, rollups []platform.UsageRollup) error {
	var problems []string
	bad := 0
	for _, r := range rollups {
		problem := ""
		h := r.Hour.UTC()
		switch {
		case r.Org != org:
			problem = fmt.Sprintf("a rollup of org %q", r.Org)
		case !r.Meter.Valid():
			problem = fmt.Sprintf("a rollup of unknown meter %q", r.Meter)
		case r.Quantity < 0:
			problem = fmt.Sprintf("a negative %s rollup (%d) at %s", r.Meter, r.Quantity, h.Format(time.RFC3339))
		case !h.Equal(h.Truncate(time.Hour)):
			problem = fmt.Sprintf("a %s rollup at %s, not a whole hour", r.Meter, h.Format(time.RFC3339))
		case !period.Contains(h):
			problem = fmt.Sprintf("a %s rollup at %s, outside the period", r.Meter, h.Format(time.RFC3339))
		}
		if problem != "" {
			if bad++; bad <= maxProblems {
				problems = append(problems, problem)
			}
			continue
		}
		s := segs[0]
		for _, c := range segs[1:] {
			if c.from.After(h) {
				break
			}
			s = c
		}
		sum, err := add(s.usage[r.Meter], r.Quantity)
		if err != nil {
			return overflowError(fmt.Sprintf("rate %s: the %s usage under plan %s", org, r.Meter, s.plan.Name))
		}
		s.usage[r.Meter] = sum
	}
	if bad > maxProblems {
		problems = append(problems, fmt.Sprintf("and %d more", bad-maxProblems))
	}
	if len(problems) > 0 {
		return platform.Errorf(platform.EINVALID, "rate %s over %s: %s", org, period, strings.Join(problems, "; "))
	}
	return nil
}

// baseLine charges s's plan's base amount for its share of the period so far:
// base × seconds / period seconds, rounded half up. The line says so in its own
// terms: Quantity seconds at UnitAmount per Per (the period's seconds).
func baseLine(s *segment, periodSeconds int64, currency string) (platform.InvoiceLine, error) {
	secs := int64(s.chargedTo.Sub(s.from) / time.Second)
	amount, err := mulDiv(secs, s.plan.BaseAmount, periodSeconds)
	if err != nil {
		return platform.InvoiceLine{}, overflowError(fmt.Sprintf("the base amount of plan %s", s.plan.Name))
	}
	return platform.InvoiceLine{
		Plan:       s.plan.Name,
		From:       s.from,
		To:         s.chargedTo,
		Quantity:   secs,
		UnitAmount: s.plan.BaseAmount,
		Per:        periodSeconds,
		Amount:     amount,
		Description: fmt.Sprintf("Plan %s, %s: %s a period, for %s of its %s seconds",
			s.plan.Name, span(s.from, s.chargedTo), FormatAmount(s.plan.BaseAmount, currency),
			FormatQuantity(secs), FormatQuantity(periodSeconds)),
	}, nil
}

// meterLine charges s's usage of m: the part beyond the included quantity prorated
// to s's share of the period, at the price's unit amount per Per, rounded half up.
func meterLine(s *segment, m platform.Meter, price platform.Price, periodSeconds int64, currency string) (platform.InvoiceLine, error) {
	per := cmp.Or(price.Per, 1)
	included, err := mulDiv(price.Included, int64(s.to.Sub(s.from)/time.Second), periodSeconds)
	if err != nil {
		return platform.InvoiceLine{}, overflowError(fmt.Sprintf("the included %s of plan %s", m, s.plan.Name))
	}
	q := s.usage[m]
	billable := max(q-included, 0)
	amount, err := mulDiv(billable, price.UnitAmount, per)
	if err != nil {
		return platform.InvoiceLine{}, overflowError(fmt.Sprintf("the %s charge under plan %s (%d at %d per %d)", m, s.plan.Name, billable, price.UnitAmount, per))
	}
	to := s.to
	if s.chargedTo.Before(to) {
		to = s.chargedTo
	}
	desc := fmt.Sprintf("%s, plan %s, %s: %s used", m.Label(), s.plan.Name, span(s.from, to), FormatQuantity(q))
	if price.UnitAmount == 0 {
		desc += ", not charged"
	} else {
		desc += fmt.Sprintf(", %s included, %s at %s per %s", FormatQuantity(included), FormatQuantity(billable), FormatAmount(price.UnitAmount, currency), FormatQuantity(per))
	}
	return platform.InvoiceLine{
		Meter:       m,
		Plan:        s.plan.Name,
		From:        s.from,
		To:          to,
		Quantity:    q,
		Included:    included,
		UnitAmount:  price.UnitAmount,
		Per:         per,
		Amount:      amount,
		Description: desc,
	}, nil
}

// span renders [from, to) for a line's description.
func span(from, to time.Time) string {
	return stamp(from) + " to " + stamp(to) + " UTC"
}

func stamp(t time.Time) string {
	if t.Second() != 0 {
		return t.UTC().Format("2006-01-02 15:04:05")
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// Rater rates invoices against a clock: the control plane's entry to Rate.
type Rater struct {
	// Clock is the time a draft is rated at and a final invoice is dated; nil is
	// the system's.
	Clock platform.Clock
	// PeriodOf returns the billing period that contains a time; nil is MonthOf
	// (calendar months, UTC).
	PeriodOf func(time.Time) Period
}

func (r Rater) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

// CurrentPeriod returns the period that contains the clock's now.
func (r Rater) CurrentPeriod() Period {
	if r.PeriodOf == nil {
		return MonthOf(r.now())
	}
	return r.PeriodOf(r.now())
}

// Draft rates the current period so far: a draft invoice of what accrues until now.
// Errors as Rate.
func (r Rater) Draft(org string, history []Assignment, rollups []platform.UsageRollup) (*platform.Invoice, error) {
	return Rate(org, r.CurrentPeriod(), history, rollups, r.now())
}

// Final rates a period that has ended into its final invoice, dated now: EINVALID
// if the period has not ended yet, otherwise errors as Rate.
func (r Rater) Final(org string, period Period, history []Assignment, rollups []platform.UsageRollup) (*platform.Invoice, error) {
	now := r.now()
	if now.Before(period.End) {
		return nil, platform.Errorf(platform.EINVALID, "rate %s: period %s has not ended", org, period).
			WithHint("rate a period that has not ended as a draft")
	}
	return Rate(org, period, history, rollups, now)
}
