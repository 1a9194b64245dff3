package billing

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	platform "github.com/micro/platform"
)

// Random inputs for the property tests: each seed is one case, so a failure names
// the seed that reproduces it.

var pers = []int64{1, 7, 60, 1000, 3600, 1_000_000, 1_000_000_000}

// randPlan returns a plan in usd pricing a random subset of the meters; with
// included false nothing is included, and per is 1 if exact.
func randPlan(r *rand.Rand, name string, included, exact bool) platform.Plan {
	p := platform.Plan{Name: name, Currency: "usd", Prices: map[platform.Meter]platform.Price{}}
	if r.IntN(2) == 0 {
		p.BaseAmount = r.Int64N(100_000)
	}
	for _, m := range platform.Meters {
		if r.IntN(4) == 0 {
			continue
		}
		pr := platform.Price{UnitAmount: r.Int64N(1000), Per: pers[r.IntN(len(pers))]}
		if exact {
			pr.Per = 1
		}
		if included {
			pr.Included = r.Int64N(10_000_000)
		}
		p.Prices[m] = pr
	}
	return p
}

// randHistory returns one to four assignments of random plans: the first at or
// before the period's start, the others at random seconds of the period.
func randHistory(r *rand.Rand, included, exact bool) []Assignment {
	h := []Assignment{{Plan: randPlan(r, "p0", included, exact), From: nov.Start.Add(-time.Duration(r.IntN(1000)) * time.Hour)}}
	for i := range r.IntN(4) {
		from := nov.Start.Add(time.Duration(r.Int64N(int64(nov.Duration()/time.Second))) * time.Second)
		h = append(h, Assignment{Plan: randPlan(r, fmt.Sprintf("p%d", i+1), included, exact), From: from})
	}
	r.Shuffle(len(h), func(i, j int) { h[i], h[j] = h[j], h[i] })
	return h
}

// randRollups returns up to n rollups of random meters, hours, services and
// quantities (up to 10^12, so sums stay far from the int64 limit).
func randRollups(r *rand.Rand, n int) []platform.UsageRollup {
	hours := int(nov.Duration() / time.Hour)
	rs := make([]platform.UsageRollup, r.IntN(n+1))
	for i := range rs {
		rs[i] = platform.UsageRollup{
			Org: "acme", Namespace: []string{"shop", "blog"}[r.IntN(2)], Service: []string{"api", "web", ""}[r.IntN(3)],
			Region: "local", Meter: platform.Meters[r.IntN(len(platform.Meters))],
			Hour: nov.Start.Add(time.Duration(r.IntN(hours)) * time.Hour), Quantity: r.Int64N(1_000_000_000_000),
		}
	}
	return rs
}

// lineKey identifies a line across invoices of the same history.
type lineKey struct {
	plan  string
	meter platform.Meter
	from  time.Time
}

func linesByKey(inv *platform.Invoice) map[lineKey]platform.InvoiceLine {
	m := map[lineKey]platform.InvoiceLine{}
	for _, l := range inv.Lines {
		m[lineKey{l.Plan, l.Meter, l.From}] = l
	}
	return m
}

// TestRateAdditive checks that, with nothing included, rating is additive over
// disjoint sets of rollups: every line's quantity of A ∪ B is the sum of A's and
// B's, and its amount differs from the sum by at most the 1 that rounding each
// line half up allows; with per 1 (no rounding) the totals add exactly, less the
// base amounts counted twice.
func TestRateAdditive(t *testing.T) {
	t.Parallel()
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 1))
		exact := seed%2 == 0
		history := randHistory(r, false, exact)
		a, b := randRollups(r, 40), randRollups(r, 40)
		ia := mustRate(t, history, a, time.Time{})
		ib := mustRate(t, history, b, time.Time{})
		iab := mustRate(t, history, slices.Concat(a, b), time.Time{})
		la, lb := linesByKey(ia), linesByKey(ib)
		var base int64
		for k, l := range linesByKey(iab) {
			if k.meter == "" {
				base += l.Amount
				if la[k] != l || lb[k] != l {
					t.Fatalf("seed %d: base line %+v differs between A and B", seed, l)
				}
				continue
			}
			if l.Quantity != la[k].Quantity+lb[k].Quantity {
				t.Fatalf("seed %d: %v quantity %d, A %d + B %d", seed, k, l.Quantity, la[k].Quantity, lb[k].Quantity)
			}
			if d := l.Amount - la[k].Amount - lb[k].Amount; d < -1 || d > 1 || (exact && d != 0) {
				t.Fatalf("seed %d: %v amount %d, A %d + B %d", seed, k, l.Amount, la[k].Amount, lb[k].Amount)
			}
		}
		if exact && iab.Total != ia.Total+ib.Total-base {
			t.Fatalf("seed %d: total %d, A %d + B %d − base %d", seed, iab.Total, ia.Total, ib.Total, base)
		}
	}
}

// TestRateInvariants checks, on random plans with included quantities, plan
// changes and drafts: the total is the sum of the lines and lines are in order
// (checkInvoice); every rollup is counted exactly once; the order of rollups and of
// assignments at different times does not matter; a rollup split in two rates the
// same; adding usage never lowers a line's amount; a draft never exceeds the final
// invoice of the same usage and history.
func TestRateInvariants(t *testing.T) {
	t.Parallel()
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 2))
		history := randHistory(r, true, false)
		rollups := randRollups(r, 60)
		asOf := time.Time{}
		if seed%3 == 0 {
			asOf = nov.Start.Add(time.Duration(r.Int64N(int64(nov.Duration()))))
			// Plans assigned after a draft's time are not in force yet: keep
			// the draft comparable with the final invoice.
			history = slices.DeleteFunc(history, func(a Assignment) bool { return a.From.After(asOf) })
			if len(history) == 0 {
				continue
			}
		}
		inv := mustRate(t, history, rollups, asOf)

		used := map[platform.Meter]int64{}
		for _, u := range rollups {
			used[u.Meter] += u.Quantity
		}
		rated := map[platform.Meter]int64{}
		for _, l := range inv.Lines {
			if l.Meter != "" {
				rated[l.Meter] += l.Quantity
			}
		}
		for _, m := range platform.Meters {
			if used[m] != rated[m] {
				t.Fatalf("seed %d: %s used %d, rated %d", seed, m, used[m], rated[m])
			}
		}

		shuffled := slices.Clone(rollups)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		h2 := slices.Clone(history)
		slices.Reverse(h2)
		if len(shuffled) > 0 {
			split := shuffled[0]
			part := r.Int64N(split.Quantity + 1)
			shuffled[0].Quantity = part
			split.Quantity -= part
			shuffled = append(shuffled, split)
		}
		if again := mustRate(t, h2, shuffled, asOf); !reflect.DeepEqual(again, inv) {
			t.Fatalf("seed %d: shuffled, split rollups and reversed history rate differently", seed)
		}

		more := append(slices.Clone(rollups), randRollups(r, 5)...)
		bigger := linesByKey(mustRate(t, history, more, asOf))
		for k, l := range linesByKey(inv) {
			if bigger[k].Amount < l.Amount {
				t.Fatalf("seed %d: more usage lowered %v from %d to %d", seed, k, l.Amount, bigger[k].Amount)
			}
		}

		if !asOf.IsZero() {
			if final := mustRate(t, history, rollups, time.Time{}); inv.Total > final.Total {
				t.Fatalf("seed %d: draft %d above final %d", seed, inv.Total, final.Total)
			}
		}
	}
}

// TestRateProratesToTheWhole checks that the stretches of a period under one plan
// assigned again and again add up to the plan's whole base amount and included
// quantities, give or take the half-up rounding of each stretch.
func TestRateProratesToTheWhole(t *testing.T) {
	t.Parallel()
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 3))
		// Alternate two plans equal but for their name, so no stretch merges.
		a := randPlan(r, "a", true, false)
		a.BaseAmount = 1 + r.Int64N(1_000_000)
		b := a
		b.Name = "b"
		history := []Assignment{{Plan: a, From: nov.Start}}
		for i := range r.IntN(6) {
			p := []platform.Plan{b, a}[i%2]
			history = append(history, Assignment{Plan: p, From: nov.Start.Add(time.Duration(r.Int64N(int64(nov.Duration()/time.Second))) * time.Second)})
		}
		inv := mustRate(t, history, nil, time.Time{})
		stretches := int64(0)
		var base int64
		included := map[platform.Meter]int64{}
		for _, l := range inv.Lines {
			if l.Meter == "" {
				stretches++
				base += l.Amount
			} else {
				included[l.Meter] += l.Included
			}
		}
		if d := base - a.BaseAmount; d < -stretches || d > stretches {
			t.Fatalf("seed %d: %d stretches charge %d of base %d", seed, stretches, base, a.BaseAmount)
		}
		for m, pr := range a.Prices {
			if d := included[m] - pr.Included; d < -stretches || d > stretches {
				t.Fatalf("seed %d: %d stretches include %d of %s's %d", seed, stretches, included[m], m, pr.Included)
			}
		}
	}
}
