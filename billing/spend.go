package billing

import (
	"math"

	platform "github.com/micro/platform"
)

// SpendThresholds are the percentages of a spend limit at which the control plane
// emits an event (alerting routes them); at the last, 100, the limit is reached: new
// deploys are refused and previews scale to zero.
var SpendThresholds = []int{75, 90, 100}

// Spend is where an organisation's charges of the current period stand against its
// plan's spend limit.
type Spend struct {
	Plan     string `json:"plan"`
	Currency string `json:"currency"`
	// Amount is the charges so far: the draft invoice's total, base amount included.
	Amount int64 `json:"amount"`
	// Limit is the plan's spend limit; 0 is none.
	Limit int64 `json:"limit,omitempty"`
	// Percent is Amount as a percentage of Limit, rounded down (so 74.99 % is 74
	// and never reads as crossing 75); 0 without a limit.
	Percent int64 `json:"percent"`
	// Crossed lists the thresholds of SpendThresholds the amount has reached,
	// ascending: each t with Amount ≥ t % of Limit, exactly.
	Crossed []int `json:"crossed,omitempty"`
}

// SpendState returns the spend of the period a draft invoice covers against plan's
// spend limit (the plan in force now). EINVALID if draft is nil or not in the plan's
// currency (the limit would compare different money).
func SpendState(draft *platform.Invoice, plan platform.Plan) (Spend, error) {
	if draft == nil {
		return Spend{}, platform.Errorf(platform.EINVALID, "spend state: no invoice")
	}
	s := Spend{Plan: plan.Name, Currency: draft.Currency, Amount: draft.Total, Limit: plan.Quotas.SpendLimit}
	if s.Limit > 0 && draft.Currency != plan.Currency {
		return Spend{}, platform.Errorf(platform.EINVALID, "spend state: invoice in %s, plan %s's spend limit in %s", draft.Currency, plan.Name, plan.Currency)
	}
	if s.Limit <= 0 || s.Amount <= 0 {
		return s, nil
	}
	p, err := mulDivFloor(s.Amount, 100, s.Limit)
	if err != nil {
		p = math.MaxInt64
	}
	s.Percent = p
	for _, t := range SpendThresholds {
		// Amount·100 ≥ t·Limit, exactly: Percent is the floor, so Percent ≥ t.
		if p >= int64(t) {
			s.Crossed = append(s.Crossed, t)
		}
	}
	return s, nil
}

// Threshold is the highest threshold crossed, 0 if none.
func (s Spend) Threshold() int {
	if len(s.Crossed) == 0 {
		return 0
	}
	return s.Crossed[len(s.Crossed)-1]
}

// Reached reports whether the spend limit is reached (100 % crossed): the control
// plane refuses new deploys and scales previews to zero.
func (s Spend) Reached() bool { return s.Threshold() >= 100 }

// CrossedSince returns the thresholds crossed above prev, the highest threshold an
// event was already emitted for this period (0 for none): the events to emit now,
// ascending, each once however often the state is computed.
func (s Spend) CrossedSince(prev int) []int {
	var out []int
	for _, t := range s.Crossed {
		if t > prev {
			out = append(out, t)
		}
	}
	return out
}

// CheckSpend returns EQUOTA if the spend limit is reached, for the entry points that
// stop at it (deploys); nil otherwise.
func (s Spend) CheckSpend() error {
	if !s.Reached() {
		return nil
	}
	return platform.Errorf(platform.EQUOTA, "spend limit reached: this period's charges of %s reached the %s of plan %s",
		FormatAmount(s.Amount, s.Currency), FormatAmount(s.Limit, s.Currency), s.Plan).
		WithHint("new deploys are refused and previews are scaled to zero until the next billing period; ask an owner of the organisation to raise the limit or move it to another plan")
}
