package billing

import (
	"math"
	"slices"
	"strings"
	"testing"

	platform "github.com/micro/platform"
)

func TestCheckQuota(t *testing.T) {
	t.Parallel()
	free, pro, ent := mustPlan(t, "free"), mustPlan(t, "pro"), mustPlan(t, "enterprise")
	tests := []struct {
		name             string
		plan             platform.Plan
		kind             QuotaKind
		current, adding  int64
		message, hint    string // "" with message "": allowed
		wantHintContains string
	}{
		{name: "under", plan: free, kind: QuotaInstances, current: 1, adding: 2},
		{name: "at the limit", plan: free, kind: QuotaInstances, current: 3, adding: 0},
		{
			name: "over", plan: free, kind: QuotaInstances, current: 2, adding: 2,
			message: "quota instances exceeded: plan free allows 3 instances; 2 in use and 2 more would make 4",
			hint:    "scale a service down or delete one, or ask an owner of the organisation to move it to a plan with a higher limit",
		},
		{name: "scaling down over the limit", plan: free, kind: QuotaInstances, current: 10, adding: -3},
		{name: "unlimited", plan: ent, kind: QuotaInstances, current: 1_000_000, adding: 1},
		{
			name: "namespaces", plan: free, kind: QuotaNamespaces, current: 1, adding: 1,
			message: "quota namespaces exceeded: plan free allows 1 namespace; 1 in use and 1 more would make 2",
			hint:    "delete a namespace you no longer need, or ask",
		},
		{
			name: "previews", plan: pro, kind: QuotaPreviews, current: 10, adding: 1,
			message: "quota previews exceeded: plan pro allows 10 preview namespaces",
			hint:    "close pull requests whose previews you no longer need",
		},
		{
			name: "requests per second", plan: pro, kind: QuotaRequestsPerSecond, current: 1000, adding: 1,
			message: "quota requests_per_second exceeded: plan pro allows 1,000 requests per second; 1,000 in use and 1 more would make 1,001",
			hint:    "send fewer requests per second",
		},
		{
			name: "build minutes", plan: free, kind: QuotaBuildMinutes, current: 299, adding: 2,
			message: "quota build_minutes exceeded: plan free allows 300 build minutes a period",
			hint:    "wait for the next billing period",
		},
		{
			name: "overflowing count", plan: free, kind: QuotaInstances, current: math.MaxInt64, adding: 1,
			message: "quota instances exceeded: plan free allows 3 instances",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckQuota(tt.plan, tt.kind, tt.current, tt.adding)
			if tt.message == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if platform.ErrorCode(err) != platform.EQUOTA || !strings.HasPrefix(platform.ErrorMessage(err), tt.message) {
				t.Errorf("err = %v, want quota_exceeded %q", err, tt.message)
			}
			if !strings.Contains(platform.ErrorHint(err), tt.hint) {
				t.Errorf("hint = %q, want %q", platform.ErrorHint(err), tt.hint)
			}
		})
	}
	if err := CheckQuota(free, "disk", 0, 1); err == nil || platform.ErrorCode(err) != platform.EINTERNAL {
		t.Errorf("unknown kind: %v", err)
	}
}

// TestPlansCheckQuota checks that the hint names the first later plan allowing
// what was refused.
func TestPlansCheckQuota(t *testing.T) {
	t.Parallel()
	ps := DefaultPlans()
	tests := []struct {
		plan            string
		kind            QuotaKind
		current, adding int64
		hint            string
	}{
		{"free", QuotaInstances, 3, 1, "move it to plan pro (50)"},
		{"free", QuotaInstances, 3, 60, "move it to plan enterprise (no limit)"},
		{"free", QuotaPreviews, 1, 20, "move it to plan enterprise (50)"},
		{"pro", QuotaRequestsPerSecond, 1000, 1, "move it to plan enterprise (10,000)"},
		{"enterprise", QuotaPreviews, 50, 1, "ask the platform's operator for a higher limit"},
	}
	for _, tt := range tests {
		err := ps.CheckQuota(tt.plan, tt.kind, tt.current, tt.adding)
		if platform.ErrorCode(err) != platform.EQUOTA || !strings.Contains(platform.ErrorHint(err), tt.hint) {
			t.Errorf("%s %s %d+%d: %v (hint %q), want hint %q", tt.plan, tt.kind, tt.current, tt.adding, err, platform.ErrorHint(err), tt.hint)
		}
	}
	if err := ps.CheckQuota("pro", QuotaInstances, 1, 1); err != nil {
		t.Error(err)
	}
	if err := ps.CheckQuota("gold", QuotaInstances, 1, 1); !platform.IsNotFound(err) {
		t.Errorf("unknown plan: %v", err)
	}
}

func TestSpendState(t *testing.T) {
	t.Parallel()
	pro := mustPlan(t, "pro") // spend limit 100,000
	draft := func(total int64) *platform.Invoice { return &platform.Invoice{Currency: "usd", Total: total} }
	tests := []struct {
		name      string
		total     int64
		percent   int64
		crossed   []int
		reached   bool
		sincePrev int
		since     []int
	}{
		{name: "nothing", total: 0},
		{name: "just under 75", total: 74_999, percent: 74},
		{name: "exactly 75", total: 75_000, percent: 75, crossed: []int{75}, since: []int{75}},
		{name: "89.99", total: 89_999, percent: 89, crossed: []int{75}, sincePrev: 75},
		{name: "90 after 75", total: 90_000, percent: 90, crossed: []int{75, 90}, sincePrev: 75, since: []int{90}},
		{name: "99.999", total: 99_999, percent: 99, crossed: []int{75, 90}, sincePrev: 90},
		{name: "reached at once", total: 100_000, percent: 100, crossed: []int{75, 90, 100}, reached: true, since: []int{75, 90, 100}},
		{name: "beyond", total: 250_000, percent: 250, crossed: []int{75, 90, 100}, reached: true, sincePrev: 100},
		{name: "huge", total: math.MaxInt64, percent: math.MaxInt64 / 1000, crossed: []int{75, 90, 100}, reached: true, sincePrev: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := SpendState(draft(tt.total), pro)
			if err != nil {
				t.Fatal(err)
			}
			if s.Percent != tt.percent || !slices.Equal(s.Crossed, tt.crossed) || s.Reached() != tt.reached || !slices.Equal(s.CrossedSince(tt.sincePrev), tt.since) {
				t.Errorf("%+v: percent %d, crossed %v, reached %v, since %d: %v", s, s.Percent, s.Crossed, s.Reached(), tt.sincePrev, s.CrossedSince(tt.sincePrev))
			}
			err = s.CheckSpend()
			if tt.reached != (platform.ErrorCode(err) == platform.EQUOTA) {
				t.Errorf("CheckSpend = %v", err)
			}
		})
	}
	s, _ := SpendState(draft(123_456), pro)
	err := s.CheckSpend()
	if want := "spend limit reached: this period's charges of 1,234.56 USD reached the 1,000.00 USD of plan pro"; platform.ErrorMessage(err) != want || !strings.Contains(platform.ErrorHint(err), "new deploys are refused") {
		t.Errorf("CheckSpend = %v (hint %q)", err, platform.ErrorHint(err))
	}
	// No limit: nothing is ever crossed.
	if s, err := SpendState(draft(math.MaxInt64), mustPlan(t, "enterprise")); err != nil || s.Percent != 0 || s.Crossed != nil || s.CheckSpend() != nil {
		t.Errorf("enterprise: %+v, %v", s, err)
	}
	if _, err := SpendState(&platform.Invoice{Currency: "eur", Total: 1}, pro); platform.ErrorCode(err) != platform.EINVALID {
		t.Errorf("another currency: %v", err)
	}
	if _, err := SpendState(nil, pro); platform.ErrorCode(err) != platform.EINVALID {
		t.Errorf("no invoice: %v", err)
	}
}

// TestSpendOfADraft follows a pro organisation through a month: the draft's total,
// base amount included, crosses 75, 90 and 100 % of the spend limit once each.
func TestSpendOfADraft(t *testing.T) {
	t.Parallel()
	pro := mustPlan(t, "pro")
	var rollups []platform.UsageRollup
	emitted := 0
	var events []int
	for day := 1; day <= 30; day++ {
		// 200 million requests a day: 100.00 USD a day once the included 10
		// million are used, so the limit of 1,000.00 USD is reached on day 10.
		rollups = append(rollups, use(platform.MeterRequests, day, 12, 200_000_000))
		inv := mustRate(t, on(t, "pro"), rollups, at(day, 13, 0))
		s, err := SpendState(inv, pro)
		if err != nil {
			t.Fatal(err)
		}
		for _, th := range s.CrossedSince(emitted) {
			events = append(events, th, day)
			emitted = th
		}
		if s.Reached() != (s.Amount >= pro.Quotas.SpendLimit) {
			t.Fatalf("day %d: %+v", day, s)
		}
	}
	// Day d as of 13:00 charges 10,000·d − 500 for requests and 2,000 × (24·(d−1) + 13) / 720
	// of base: 80,003 on day 8, 90,069 on day 9, 100,136 on day 10.
	if want := []int{75, 8, 90, 9, 100, 10}; !slices.Equal(events, want) {
		t.Errorf("events (threshold, day) = %v, want %v: each threshold once", events, want)
	}
}
