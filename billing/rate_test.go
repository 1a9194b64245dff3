package billing

import (
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// nov is November 2026: 30 days, 2,592,000 seconds.
var nov = MonthOf(time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC))

// at returns a time of November 2026.
func at(day, hour, minute int) time.Time {
	return time.Date(2026, 11, day, hour, minute, 0, 0, time.UTC)
}

// use is a rollup of acme's shop/api in region local, November day at hour.
func use(m platform.Meter, day, hour int, qty int64) platform.UsageRollup {
	return platform.UsageRollup{Org: "acme", Namespace: "shop", Service: "api", Region: "local", Meter: m, Hour: at(day, hour, 0), Quantity: qty}
}

// mustPlan returns a default plan.
func mustPlan(tb testing.TB, name string) platform.Plan {
	tb.Helper()
	p, err := DefaultPlans().Lookup(name)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// on is a history of one plan from the period's start on.
func on(tb testing.TB, name string) []Assignment {
	tb.Helper()
	return []Assignment{{Plan: mustPlan(tb, name), From: nov.Start}}
}

// mustRate rates acme's November as of asOf (final when zero).
func mustRate(tb testing.TB, history []Assignment, rollups []platform.UsageRollup, asOf time.Time) *platform.Invoice {
	tb.Helper()
	if asOf.IsZero() {
		asOf = nov.End
	}
	inv, err := Rate("acme", nov, history, rollups, asOf)
	if err != nil {
		tb.Fatal(err)
	}
	checkInvoice(tb, inv)
	return inv
}

// checkInvoice checks what holds of every invoice: the total is the sum of the
// lines, base lines come first and meter lines follow in Meters order, no amount is
// negative, and every line covers part of the period.
func checkInvoice(tb testing.TB, inv *platform.Invoice) {
	tb.Helper()
	var sum int64
	last := -1
	for i, l := range inv.Lines {
		sum += l.Amount
		idx := -1
		for j, m := range platform.Meters {
			if l.Meter == m {
				idx = j
			}
		}
		if l.Meter != "" && idx < 0 {
			tb.Errorf("line %d: unknown meter %q", i, l.Meter)
		}
		if idx < last {
			tb.Errorf("line %d (%s) out of order", i, l.Meter)
		}
		last = idx
		if l.Amount < 0 || l.Quantity < 0 || l.Included < 0 || l.Per <= 0 {
			tb.Errorf("line %d: negative amount or quantity, or per ≤ 0: %+v", i, l)
		}
		if l.From.Before(inv.PeriodStart) || l.To.After(inv.PeriodEnd) || l.To.Before(l.From) {
			tb.Errorf("line %d covers %s to %s, outside %s to %s", i, l.From, l.To, inv.PeriodStart, inv.PeriodEnd)
		}
	}
	if sum != inv.Total {
		tb.Errorf("total %d, lines sum to %d", inv.Total, sum)
	}
}

// checkGolden compares got with testdata/name.golden, rewriting it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("invoice differs from %s:\n--- got ---\n%s--- want ---\n%s", p, got, want)
	}
}

// TestGoldenInvoices rates a month of each default plan, and of plan changes,
// against testdata/*.golden. The comments give the arithmetic the golden files
// must show.
func TestGoldenInvoices(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		history   func(testing.TB) []Assignment
		rollups   []platform.UsageRollup
		asOf      time.Time
		wantTotal int64
	}{
		{
			// Nothing is charged on free, whatever the usage.
			name:    "free_month",
			history: func(tb testing.TB) []Assignment { return on(tb, "free") },
			rollups: []platform.UsageRollup{
				use(platform.MeterInstanceSeconds, 1, 0, 3*3600), use(platform.MeterInstanceSeconds, 30, 23, 3*3600),
				use(platform.MeterRequests, 2, 9, 1_234_567), use(platform.MeterBuildSeconds, 3, 10, 95),
				use(platform.MeterToolCalls, 4, 11, 7),
			},
			wantTotal: 0,
		},
		{
			// 2000 base
			// + instance-seconds: 7,200,000 − 5,184,000 = 2,016,000 at 1 per 3,600 = 560
			// + requests: 9,000,000, all included = 0
			// + build-seconds: 61,234 − 60,000 = 1,234 at 1 per 60 = 20.57 → 21
			// + egress: 150 GB − 100 GB = 50 GB at 9 per GB = 450
			// + logs: none = 0; tool calls: 100,000, exactly the included = 0
			name:    "pro_included",
			history: func(tb testing.TB) []Assignment { return on(tb, "pro") },
			rollups: []platform.UsageRollup{
				use(platform.MeterInstanceSeconds, 1, 0, 3_600_000), use(platform.MeterInstanceSeconds, 20, 5, 3_600_000),
				use(platform.MeterRequests, 5, 12, 4_000_000), use(platform.MeterRequests, 6, 12, 5_000_000),
				use(platform.MeterBuildSeconds, 7, 8, 61_234),
				use(platform.MeterEgressBytes, 8, 0, 150_000_000_000),
				use(platform.MeterToolCalls, 9, 0, 100_000),
			},
			wantTotal: 2000 + 560 + 21 + 450,
		},
		{
			// Rounding, half up per line, rollups of several services, namespaces and
			// regions summed:
			// instance-seconds: 5,184,000 + 5,400 − 5,184,000 = 5,400 at 1 per 3,600 = 1.5 → 2
			// requests: 10,009,999 − 10,000,000 = 9,999 at 50 per 1,000,000 = 0.49995 → 0
			// build-seconds: 60,030 − 60,000 = 30 at 1 per 60 = 0.5 → 1
			// egress: 1 byte beyond = 0.000000009 → 0
			// logs: 10 GB + 11,111,111 bytes beyond at 50 per GB = 0.555… → 1
			// tool calls: 100,050 − 100,000 = 50 at 10 per 1,000 = 0.5 → 1
			name:    "pro_rounding",
			history: func(tb testing.TB) []Assignment { return on(tb, "pro") },
			rollups: []platform.UsageRollup{
				use(platform.MeterInstanceSeconds, 1, 0, 5_184_000),
				{Org: "acme", Namespace: "blog", Service: "web", Region: "fra1", Meter: platform.MeterInstanceSeconds, Hour: at(2, 3, 0), Quantity: 5_400},
				use(platform.MeterRequests, 3, 0, 10_000_000),
				{Org: "acme", Namespace: "blog", Region: "fra1", Meter: platform.MeterRequests, Hour: at(3, 0, 0), Quantity: 9_999},
				use(platform.MeterBuildSeconds, 4, 0, 60_030),
				use(platform.MeterEgressBytes, 5, 0, 100_000_000_001),
				use(platform.MeterLogBytes, 6, 0, 10_011_111_111),
				use(platform.MeterToolCalls, 7, 0, 100_050),
			},
			wantTotal: 2000 + 2 + 0 + 1 + 0 + 1 + 1,
		},
		{
			// The base amount and a line of zero for every priced meter.
			name:      "pro_empty",
			history:   func(tb testing.TB) []Assignment { return on(tb, "pro") },
			wantTotal: 2000,
		},
		{
			// The base amount and a line of zero for every priced meter.
			name:      "enterprise_empty",
			history:   func(tb testing.TB) []Assignment { return on(tb, "enterprise") },
			wantTotal: 50000,
		},
		{
			// Free until 11 Nov 10:30, then pro: 1,690,200 of the month's 2,592,000
			// seconds (19 days 13 h 30 min).
			// pro base: 2000 × 1,690,200 / 2,592,000 = 1,304.17 → 1,304
			// pro included requests: 10,000,000 × 1,690,200 / 2,592,000 = 6,520,833.3 → 6,520,833
			// The rollup of 11 Nov 10:00 started under free, so it counts there; that
			// of 11:00 under pro: 7,000,000 − 6,520,833 = 479,167 at 50 per 1,000,000
			// = 23.96 → 24.
			// pro included instance-seconds: 5,184,000 × 1,690,200 / 2,592,000 = 3,380,400;
			// 4,000,000 − 3,380,400 = 619,600 at 1 per 3,600 = 172.1 → 172.
			name: "free_to_pro_midmonth",
			history: func(tb testing.TB) []Assignment {
				return []Assignment{{Plan: mustPlan(tb, "free"), From: nov.Start.AddDate(0, -3, 0)}, {Plan: mustPlan(tb, "pro"), From: at(11, 10, 30)}}
			},
			rollups: []platform.UsageRollup{
				use(platform.MeterRequests, 2, 0, 50_000_000),
				use(platform.MeterRequests, 11, 10, 3_000_000),
				use(platform.MeterRequests, 11, 11, 7_000_000),
				use(platform.MeterInstanceSeconds, 1, 0, 9_000_000),
				use(platform.MeterInstanceSeconds, 12, 0, 4_000_000),
			},
			wantTotal: 1304 + 172 + 24,
		},
		{
			// Pro for 15 days, enterprise for 15 from 16 Nov: each base half
			// (1,000 and 25,000), each included quantity half.
			// pro requests: 12,000,000 − 5,000,000 = 7,000,000 at 50 per 1,000,000 = 350
			// enterprise requests: 60,000,000 − 50,000,000 = 10,000,000 at 30 per 1,000,000 = 300
			// pro build-seconds: 30,000 − 30,000 = 0; enterprise: 300,600 − 300,000 = 600 at 6 per 600 = 6
			// A redundant assignment of pro on 5 Nov changes nothing.
			name: "pro_to_enterprise_midmonth",
			history: func(tb testing.TB) []Assignment {
				return []Assignment{
					{Plan: mustPlan(tb, "enterprise"), From: at(16, 0, 0)},
					{Plan: mustPlan(tb, "pro"), From: at(1, 0, 0)},
					{Plan: mustPlan(tb, "pro"), From: at(5, 0, 0)},
				}
			},
			rollups: []platform.UsageRollup{
				use(platform.MeterRequests, 1, 0, 12_000_000),
				use(platform.MeterRequests, 16, 0, 60_000_000),
				use(platform.MeterBuildSeconds, 15, 23, 30_000),
				use(platform.MeterBuildSeconds, 20, 0, 300_600),
			},
			wantTotal: 1000 + 25000 + 350 + 300 + 6,
		},
		{
			// Joined on 21 Nov: 10 of 30 days. base 2000 / 3 = 666.67 → 667;
			// included requests 3,333,333.3 → 3,333,333; 4,333,333 used: 1,000,000 at
			// 50 per 1,000,000 = 50.
			name: "pro_joined_midmonth",
			history: func(tb testing.TB) []Assignment {
				return []Assignment{{Plan: mustPlan(tb, "pro"), From: at(21, 0, 0)}}
			},
			rollups:   []platform.UsageRollup{use(platform.MeterRequests, 21, 0, 4_333_333)},
			wantTotal: 667 + 50,
		},
		{
			// A draft as of 10 Nov 12:00 (9.5 days): base 2000 × 820,800 / 2,592,000
			// = 633.3 → 633; the whole month's allowance already counts, so
			// 12,000,000 requests charge 2,000,000 at 50 per 1,000,000 = 100.
			name:      "pro_draft",
			history:   func(tb testing.TB) []Assignment { return on(tb, "pro") },
			rollups:   []platform.UsageRollup{use(platform.MeterRequests, 10, 11, 12_000_000)},
			asOf:      at(10, 12, 0),
			wantTotal: 633 + 100,
		},
		{
			// Quantities near the int64 limit rate exactly:
			// requests: 9,000,000,000,000,000,000 − 100,000,000 at 30 per 1,000,000
			// = 269,999,999,997,000; egress: 9,223,372,036,854,775,807 − 10^12 at
			// 5 per 10^9 = 46,116,855,184.27 → 46,116,855,184.
			name:    "enterprise_huge",
			history: func(tb testing.TB) []Assignment { return on(tb, "enterprise") },
			rollups: []platform.UsageRollup{
				use(platform.MeterRequests, 1, 0, 4_500_000_000_000_000_000),
				use(platform.MeterRequests, 2, 0, 4_500_000_000_000_000_000),
				use(platform.MeterEgressBytes, 3, 0, math.MaxInt64),
			},
			wantTotal: 50000 + 269_999_999_997_000 + 46_116_855_184,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inv := mustRate(t, tt.history(t), tt.rollups, tt.asOf)
			if inv.Total != tt.wantTotal {
				t.Errorf("total = %d, want %d", inv.Total, tt.wantTotal)
			}
			wantStatus := platform.InvoiceOpen
			if !tt.asOf.IsZero() {
				wantStatus = platform.InvoiceDraft
			}
			if inv.Status != wantStatus || inv.ID != "in-acme-20261101" || inv.Currency != "usd" {
				t.Errorf("status %s, id %s, currency %s", inv.Status, inv.ID, inv.Currency)
			}
			out, err := json.MarshalIndent(inv, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tt.name, append(out, '\n'))
		})
	}
}

func TestRateOverflow(t *testing.T) {
	t.Parallel()
	costly := platform.Plan{Name: "costly", Currency: "usd", Prices: map[platform.Meter]platform.Price{
		platform.MeterRequests: {UnitAmount: math.MaxInt64 / 2, Per: 1},
	}}
	tests := []struct {
		name    string
		plan    platform.Plan
		rollups []platform.UsageRollup
		want    string
	}{
		{
			name:    "usage sum",
			plan:    mustPlan(t, "pro"),
			rollups: []platform.UsageRollup{use(platform.MeterRequests, 1, 0, math.MaxInt64), use(platform.MeterRequests, 1, 1, 1)},
			want:    "rate acme: the requests usage under plan pro exceeds 9223372036854775807",
		},
		{
			name:    "line amount",
			plan:    costly,
			rollups: []platform.UsageRollup{use(platform.MeterRequests, 1, 0, 3)},
			want:    "the requests charge under plan costly (3 at 4611686018427387903 per 1) exceeds",
		},
		{
			name: "total",
			plan: costly,
			rollups: []platform.UsageRollup{
				use(platform.MeterRequests, 1, 0, 2),
				{Org: "acme", Namespace: "shop", Meter: platform.MeterToolCalls, Hour: at(1, 0, 0), Quantity: 1},
			},
			want: "", // 2 × MaxInt64/2 fits; the total test below adds a base amount
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Rate("acme", nov, []Assignment{{Plan: tt.plan, From: nov.Start}}, tt.rollups, nov.End)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(err.Error(), tt.want) || platform.ErrorHint(err) == "" {
				t.Errorf("err = %v (hint %q), want EINVALID with %q", err, platform.ErrorHint(err), tt.want)
			}
		})
	}
	t.Run("total", func(t *testing.T) {
		t.Parallel()
		p := costly
		p.BaseAmount = 10
		_, err := Rate("acme", nov, []Assignment{{Plan: p, From: nov.Start}}, []platform.UsageRollup{use(platform.MeterRequests, 1, 0, 2)}, nov.End)
		if platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(err.Error(), "the invoice's total exceeds") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestRateRefuses(t *testing.T) {
	t.Parallel()
	pro := mustPlan(t, "pro")
	eur := pro
	eur.Name, eur.Currency = "pro-eur", "eur"
	bad := pro
	bad.Currency = "USD"
	many := make([]platform.UsageRollup, 13)
	for i := range many {
		many[i] = use(platform.MeterRequests, 1, 0, -1)
	}
	tests := []struct {
		name    string
		org     string
		period  Period
		history []Assignment
		rollups []platform.UsageRollup
		asOf    time.Time
		want    []string
	}{
		{name: "no org", period: nov, history: on(t, "pro"), want: []string{"no organisation"}},
		{name: "empty period", org: "acme", period: Period{Start: nov.Start, End: nov.Start}, history: on(t, "pro"), want: []string{"needs a start before its end"}},
		{name: "period off the hour", org: "acme", period: Period{Start: nov.Start.Add(time.Minute), End: nov.End}, history: on(t, "pro"), want: []string{"whole hours"}},
		{name: "before the period", org: "acme", period: nov, history: on(t, "pro"), asOf: nov.Start.Add(-time.Second), want: []string{"has not begun"}},
		{name: "no plan", org: "acme", period: nov, want: []string{"no plan is in force during"}},
		{name: "plan after the period", org: "acme", period: nov, history: []Assignment{{Plan: pro, From: nov.End}}, want: []string{"no plan is in force"}},
		{name: "plan after as-of", org: "acme", period: nov, history: []Assignment{{Plan: pro, From: at(20, 0, 0)}}, asOf: at(10, 0, 0), want: []string{"no plan is in force"}},
		{name: "assignment without time", org: "acme", period: nov, history: []Assignment{{Plan: pro}}, want: []string{"plan assignment 0 (pro) has no time"}},
		{name: "bad plan", org: "acme", period: nov, history: []Assignment{{Plan: bad, From: nov.Start}}, want: []string{`plan "pro": currency "USD"`}},
		{
			name: "two currencies", org: "acme", period: nov,
			history: []Assignment{{Plan: pro, From: nov.Start}, {Plan: eur, From: at(10, 0, 0)}},
			want:    []string{"plan pro (usd) and plan pro-eur (eur) within"},
		},
		{
			name: "bad rollups", org: "acme", period: nov, history: on(t, "pro"),
			rollups: []platform.UsageRollup{
				{Org: "globex", Meter: platform.MeterRequests, Hour: at(1, 0, 0)},
				{Org: "acme", Meter: "cpu", Hour: at(1, 0, 0)},
				{Org: "acme", Meter: platform.MeterRequests, Hour: at(1, 0, 30)},
				{Org: "acme", Meter: platform.MeterRequests, Hour: nov.End},
				{Org: "acme", Meter: platform.MeterRequests, Hour: nov.Start.Add(-time.Hour)},
				use(platform.MeterRequests, 1, 0, -5),
			},
			want: []string{
				`a rollup of org "globex"`, `a rollup of unknown meter "cpu"`,
				"a requests rollup at 2026-11-01T00:30:00Z, not a whole hour",
				"a requests rollup at 2026-12-01T00:00:00Z, outside the period",
				"a requests rollup at 2026-10-31T23:00:00Z, outside the period",
				"a negative requests rollup (-5)",
			},
		},
		{name: "many bad rollups", org: "acme", period: nov, history: on(t, "pro"), rollups: many, want: []string{"and 3 more"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			asOf := tt.asOf
			if asOf.IsZero() {
				asOf = tt.period.End
			}
			inv, err := Rate(tt.org, tt.period, tt.history, tt.rollups, asOf)
			if platform.ErrorCode(err) != platform.EINVALID {
				t.Fatalf("Rate = %+v, %v; want EINVALID", inv, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestRateRollupHours checks that a rollup counts under the plan in force at the
// start of its hour, and one from before the first plan under the first plan.
func TestRateRollupHours(t *testing.T) {
	t.Parallel()
	history := []Assignment{{Plan: mustPlan(t, "pro"), From: at(5, 10, 1)}, {Plan: mustPlan(t, "enterprise"), From: at(10, 10, 0)}}
	inv := mustRate(t, history, []platform.UsageRollup{
		use(platform.MeterToolCalls, 1, 0, 1),   // before pro: pro
		use(platform.MeterToolCalls, 5, 10, 10), // pro began during the hour: pro
		use(platform.MeterToolCalls, 10, 9, 100),
		use(platform.MeterToolCalls, 10, 10, 1000), // enterprise began at the hour: enterprise
	}, time.Time{})
	got := map[string]int64{}
	for _, l := range inv.Lines {
		if l.Meter == platform.MeterToolCalls {
			got[l.Plan] = l.Quantity
		}
	}
	if got["pro"] != 111 || got["enterprise"] != 1000 {
		t.Errorf("tool calls by plan = %v, want pro 111, enterprise 1000", got)
	}
	// The base of pro runs from its start, not the period's: 5 days 14 h 1 min
	// before, 4 days 23 h 59 min of pro.
	if l := inv.Lines[0]; l.Plan != "pro" || !l.From.Equal(at(5, 10, 1)) || !l.To.Equal(at(10, 10, 0)) || l.Quantity != 4*86400+23*3600+59*60 {
		t.Errorf("pro's base line = %+v", l)
	}
}

// TestRateUnpricedMeter checks that usage of a meter a plan does not price gets a
// line that charges nothing, and a priced meter with no usage a line of zero.
func TestRateUnpricedMeter(t *testing.T) {
	t.Parallel()
	p := platform.Plan{Name: "tiny", Currency: "eur", Prices: map[platform.Meter]platform.Price{platform.MeterRequests: {UnitAmount: 1}}}
	inv := mustRate(t, []Assignment{{Plan: p, From: nov.Start}}, []platform.UsageRollup{use(platform.MeterToolCalls, 1, 0, 5)}, time.Time{})
	if len(inv.Lines) != 2 || inv.Lines[0].Meter != platform.MeterRequests || inv.Lines[0].Per != 1 || inv.Lines[1].Meter != platform.MeterToolCalls || inv.Lines[1].Amount != 0 {
		t.Fatalf("lines = %+v", inv.Lines)
	}
	if d := inv.Lines[1].Description; d != "Tool calls, plan tiny, 2026-11-01 00:00 to 2026-12-01 00:00 UTC: 5 used, not charged" {
		t.Errorf("description = %q", d)
	}
	if inv.Currency != "eur" || inv.Total != 0 {
		t.Errorf("currency %s total %d", inv.Currency, inv.Total)
	}
}

// TestDraftGrows checks that a draft's total never falls as time passes and equals
// the final invoice at the period's end.
func TestDraftGrows(t *testing.T) {
	t.Parallel()
	rollups := []platform.UsageRollup{use(platform.MeterRequests, 1, 0, 20_000_000)}
	final := mustRate(t, on(t, "pro"), rollups, time.Time{})
	prev := int64(-1)
	for asOf := nov.Start; asOf.Before(nov.End); asOf = asOf.Add(7 * time.Hour) {
		d := mustRate(t, on(t, "pro"), rollups, asOf)
		if d.Status != platform.InvoiceDraft || d.Total < prev || d.Total > final.Total {
			t.Fatalf("draft as of %s: %s, total %d after %d (final %d)", asOf, d.Status, d.Total, prev, final.Total)
		}
		prev = d.Total
	}
	if final.Status != platform.InvoiceOpen || final.Total != 2000+500 {
		t.Errorf("final: %s, total %d", final.Status, final.Total)
	}
}

func TestRater(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: at(10, 12, 30)}
	r := Rater{Clock: clock}
	if p := r.CurrentPeriod(); p != nov {
		t.Errorf("current period = %s", p)
	}
	d, err := r.Draft("acme", on(t, "pro"), nil)
	if err != nil || d.Status != platform.InvoiceDraft || !d.CreatedAt.Equal(clock.now) || !d.PeriodStart.Equal(nov.Start) {
		t.Fatalf("draft = %+v, %v", d, err)
	}
	if _, err := r.Final("acme", nov, on(t, "pro"), nil); platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(err.Error(), "has not ended") {
		t.Errorf("final before the end: %v", err)
	}
	clock.now = nov.End.Add(2 * time.Hour)
	f, err := r.Final("acme", nov, on(t, "pro"), nil)
	if err != nil || f.Status != platform.InvoiceOpen || !f.CreatedAt.Equal(clock.now) || f.Total != 2000 {
		t.Fatalf("final = %+v, %v", f, err)
	}
	weekly := Rater{Clock: clock, PeriodOf: func(t time.Time) Period {
		start := t.UTC().Truncate(24*time.Hour).AddDate(0, 0, -int(t.UTC().Weekday()))
		return Period{Start: start, End: start.AddDate(0, 0, 7)}
	}}
	if p := weekly.CurrentPeriod(); p.Duration() != 7*24*time.Hour || !p.Contains(clock.now) {
		t.Errorf("weekly period = %s", p)
	}
}

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func TestPlanAt(t *testing.T) {
	t.Parallel()
	pro, ent := mustPlan(t, "pro"), mustPlan(t, "enterprise")
	history := []Assignment{{Plan: ent, From: at(10, 0, 0)}, {Plan: pro, From: at(1, 0, 0)}, {Plan: pro, From: at(10, 0, 0)}}
	tests := []struct {
		t    time.Time
		want string
	}{
		{at(1, 0, 0).Add(-time.Second), ""},
		{at(1, 0, 0), "pro"},
		{at(9, 23, 59), "pro"},
		{at(10, 0, 0), "pro"}, // the last listed at one time wins
		{at(30, 0, 0), "pro"},
	}
	for _, tt := range tests {
		p, ok := PlanAt(history, tt.t)
		if p.Name != tt.want || ok != (tt.want != "") {
			t.Errorf("PlanAt(%s) = %s, %v; want %s", tt.t, p.Name, ok, tt.want)
		}
	}
}

func TestMonthOf(t *testing.T) {
	t.Parallel()
	p := MonthOf(time.Date(2028, 2, 29, 23, 59, 59, 0, time.FixedZone("x", -5*3600)))
	if p.Start != time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC) || p.End != time.Date(2028, 4, 1, 0, 0, 0, 0, time.UTC) {
		t.Errorf("MonthOf = %s (the time is 1 March in UTC)", p)
	}
	if n := MonthOf(time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)).Next(); n.Start != time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC) {
		t.Errorf("Next = %s", n)
	}
	if nov.Duration() != 30*24*time.Hour || nov.Contains(nov.End) || !nov.Contains(nov.Start) {
		t.Errorf("November: %s", nov)
	}
	if id := InvoiceID("acme", nov); id != "in-acme-20261101" {
		t.Errorf("InvoiceID = %s", id)
	}
}
