package cli

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/billing"
)

// The fake's billing follows docs/billing.md's worked example: default moved from free to
// pro on 11 November 2026 at 10:30 UTC; November's invoice is final, December's a draft.
var (
	nov1    = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	dec1    = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	proFrom = time.Date(2026, 11, 11, 10, 30, 0, 0, time.UTC)
)

// fakeUsage are the fake's hourly rollups of November.
func fakeUsage() []platform.UsageRollup {
	h := func(day, hour int) time.Time { return time.Date(2026, 11, day, hour, 0, 0, 0, time.UTC) }
	r := func(ns, svc string, m platform.Meter, at time.Time, q int64) platform.UsageRollup {
		return platform.UsageRollup{Org: "default", Namespace: ns, Service: svc, Region: "lon1", Meter: m, Hour: at, Quantity: q}
	}
	return []platform.UsageRollup{
		r("acme", "hello", platform.MeterInstanceSeconds, h(3, 12), 9_000_000),
		r("acme", "hello", platform.MeterRequests, h(5, 12), 50_000_000),
		r("acme", "hello", platform.MeterRequests, h(11, 10), 3_000_000),
		r("acme", "hello", platform.MeterInstanceSeconds, h(12, 1), 4_000_000),
		r("globex", "worker", platform.MeterBuildSeconds, h(12, 9), 95),
		r("acme", "hello", platform.MeterRequests, h(15, 8), 7_000_000),
		r("acme", "hello", platform.MeterEgressBytes, h(15, 8), 1_234_567_890),
	}
}

// fakeHistory is default's plan history.
func fakeHistory() []billing.Assignment {
	ps := billing.DefaultPlans()
	free, _ := ps.Lookup("free")
	pro, _ := ps.Lookup("pro")
	return []billing.Assignment{{Plan: free, From: nov1}, {Plan: pro, From: proFrom}}
}

// fakeInvoices are December's draft (as of 5 December, noon) and November's final one.
func fakeInvoices() []*platform.Invoice {
	var novUsage []platform.UsageRollup
	for _, r := range fakeUsage() {
		if r.Namespace == "acme" {
			novUsage = append(novUsage, r)
		}
	}
	final, err := billing.Rate("default", billing.MonthOf(nov1), fakeHistory(), novUsage, dec1)
	if err != nil {
		panic(err)
	}
	draft, err := billing.Rate("default", billing.MonthOf(dec1), fakeHistory(), []platform.UsageRollup{
		{Org: "default", Namespace: "acme", Service: "hello", Region: "lon1", Meter: platform.MeterRequests, Hour: dec1.Add(30 * time.Hour), Quantity: 2_500_000},
	}, dec1.Add(108*time.Hour))
	if err != nil {
		panic(err)
	}
	return []*platform.Invoice{draft, final}
}

// billingRoutes serves /v1/usage, /v1/billing/plan and /v1/invoices. Below admin,
// changing the plan is refused.
func (f *fakeAPI) billingRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/usage", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if ns := q.Get("namespace"); ns != "" && ns != "acme" && ns != "globex" {
			writeError(w, 404, platform.ENOTFOUND, fmt.Sprintf("namespace %q not found", ns), "`platform namespaces` lists yours")
			return
		}
		from := nov1
		if v := q.Get("from"); v != "" {
			from, _ = time.Parse(time.RFC3339, v)
		}
		to := dec1
		if v := q.Get("to"); v != "" {
			to, _ = time.Parse(time.RFC3339, v)
		}
		var list []platform.UsageRollup
		for _, u := range fakeUsage() {
			if u.Hour.Before(from) || !u.Hour.Before(to) || (q.Get("namespace") != "" && u.Namespace != q.Get("namespace")) ||
				(q.Get("meter") != "" && string(u.Meter) != q.Get("meter")) || (q.Get("service") != "" && u.Service != q.Get("service")) {
				continue
			}
			list = append(list, u)
		}
		if q.Get("hourly") == "" {
			var sums []platform.UsageRollup
			for _, u := range list {
				i := slices.IndexFunc(sums, func(s platform.UsageRollup) bool {
					return s.Namespace == u.Namespace && s.Service == u.Service && s.Region == u.Region && s.Meter == u.Meter
				})
				if i < 0 {
					u.Hour = from
					sums = append(sums, u)
					continue
				}
				sums[i].Quantity += u.Quantity
			}
			slices.SortStableFunc(sums, func(a, b platform.UsageRollup) int {
				if a.Namespace != b.Namespace {
					return map[bool]int{true: -1, false: 1}[a.Namespace < b.Namespace]
				}
				return slices.Index(platform.Meters, a.Meter) - slices.Index(platform.Meters, b.Meter)
			})
			list = sums
		}
		writeJSON(w, 200, map[string]any{"usage": orEmpty(list)})
	})
	mux.HandleFunc("GET /v1/billing/plan", func(w http.ResponseWriter, r *http.Request) {
		h := fakeHistory()
		ps := billing.DefaultPlans()
		writeJSON(w, 200, platform.PlanView{Org: "default", Plan: h[1].Plan, Since: proFrom, By: "admin", Catalog: ps.Names(), DefaultPlan: ps.Default})
	})
	mux.HandleFunc("PUT /v1/billing/plan", func(w http.ResponseWriter, r *http.Request) {
		if f.whoamiRole != "" && !f.whoamiRole.AtLeast(platform.RoleAdmin) {
			writeError(w, 403, platform.EFORBIDDEN, fmt.Sprintf("billing.manage needs the admin role; token \"admin\" has the %s role", f.whoamiRole),
				`ask an admin of organisation "default" for a higher role`)
			return
		}
		var body struct {
			Plan string `json:"plan"`
		}
		if err := strict(f.body(r), &body); err != nil {
			writeError(w, 400, platform.EINVALID, "invalid JSON: "+err.Error(), "")
			return
		}
		ps := billing.DefaultPlans()
		plan, err := ps.Lookup(body.Plan)
		if err != nil {
			writeError(w, 400, platform.EINVALID, fmt.Sprintf("no plan %q on this platform", body.Plan), "choose one of free, pro, enterprise")
			return
		}
		writeJSON(w, 200, platform.PlanAssignment{Org: "default", Plan: plan, From: t1.Truncate(time.Second), By: "admin", CreatedAt: t1})
	})
	mux.HandleFunc("GET /v1/invoices", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"invoices": fakeInvoices()})
	})
	mux.HandleFunc("GET /v1/invoices/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		for _, inv := range fakeInvoices() {
			if inv.ID == id || (id == "draft" && inv.Status == platform.InvoiceDraft) {
				writeJSON(w, 200, inv)
				return
			}
		}
		writeError(w, 404, platform.ENOTFOUND, fmt.Sprintf("invoice %q not found", id),
			"`platform invoices` lists your organisation's invoices; `draft` is the current period's")
	})
}
