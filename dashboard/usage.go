package dashboard

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/billing"
)

// usageData is the usage page's data: what the organisation used this billing period,
// per meter and per namespace and service, its plan and its invoices.
type usageData struct {
	// From is the period's start; Meters the period's totals of the meters used, in
	// the meters' order; Rows the sums per namespace, service, region and meter.
	From   time.Time
	Meters []meterTotal
	Rows   []usageRow
	// Billing is nil when billing is not enabled on the platform (Off says so, with
	// the operator's hint) or the caller may not read it.
	Billing *billingData
	Off     error
}

// meterTotal is one meter's usage, for people.
type meterTotal struct {
	Meter       platform.Meter
	Label, Unit string
	Quantity    string
}

// usageRow is one sum of the period, for people.
type usageRow struct {
	Namespace, Service, Region string
	Label, Unit, Quantity      string
}

// billingData is the organisation's plan and invoices, amounts rendered.
type billingData struct {
	Plan     *platform.PlanView
	Base     string
	Invoices []invoiceRow
	// Draft is the current period's invoice, itemised.
	Draft *invoiceRow
}

// invoiceRow is an invoice for people.
type invoiceRow struct {
	ID, Period, Status, Total string
	Lines                     []lineRow
}

// lineRow is an invoice line for people.
type lineRow struct {
	Item, Plan, Quantity, Included, Amount string
}

func (d *Dashboard) usage(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	ctx := r.Context()
	list, err := d.cp.Usage(ctx, platform.UsageQuery{})
	if err != nil {
		return "", err
	}
	ud := usageData{From: billing.MonthOf(time.Now()).Start}
	totals := map[platform.Meter]int64{}
	for _, u := range list {
		ud.From = u.Hour // the window's start, as the control plane had it
		totals[u.Meter] = saturatingAdd(totals[u.Meter], u.Quantity)
		ud.Rows = append(ud.Rows, usageRow{Namespace: u.Namespace, Service: u.Service, Region: u.Region, Label: u.Meter.Label(),
			Unit: u.Meter.Unit(), Quantity: billing.FormatQuantity(u.Quantity)})
	}
	for _, m := range platform.Meters {
		if q, ok := totals[m]; ok {
			ud.Meters = append(ud.Meters, meterTotal{Meter: m, Label: m.Label(), Unit: m.Unit(), Quantity: billing.FormatQuantity(q)})
		}
	}
	ud.Billing, ud.Off, err = d.planAndInvoices(r)
	if err != nil {
		return "", err
	}
	v.Title, v.Section, v.Data = "Usage", "usage", ud
	return "usage", nil
}

// planAndInvoices reads the organisation's plan and invoices. When billing is off it
// returns no data and the refusal to show (off); when the caller may not read them,
// neither; err is any other failure.
func (d *Dashboard) planAndInvoices(r *http.Request) (bd *billingData, off, err error) {
	ctx := r.Context()
	plan, err := d.cp.Plan(ctx)
	switch platform.ErrorCode(err) {
	case "":
	case platform.EUNAVAILABLE:
		return nil, err, nil
	case platform.EFORBIDDEN:
		return nil, nil, nil
	default:
		return nil, nil, err
	}
	invoices, err := d.cp.ListInvoices(ctx)
	if err != nil {
		return nil, nil, err
	}
	bd = &billingData{Plan: plan, Base: "no base amount"}
	if plan.Plan.BaseAmount > 0 {
		bd.Base = billing.FormatAmount(plan.Plan.BaseAmount, plan.Plan.Currency) + " a month"
	}
	for _, inv := range invoices {
		row := invoiceRow{ID: inv.ID, Status: string(inv.Status), Total: billing.FormatAmount(inv.Total, inv.Currency),
			Period: inv.PeriodStart.UTC().Format("2 Jan") + " – " + inv.PeriodEnd.UTC().Add(-time.Nanosecond).Format("2 Jan 2006")}
		if inv.Status == platform.InvoiceDraft && bd.Draft == nil {
			for _, l := range inv.Lines {
				lr := lineRow{Item: "Base amount", Plan: l.Plan, Quantity: "—", Included: "—", Amount: billing.FormatAmount(l.Amount, inv.Currency)}
				if l.Meter != "" {
					lr.Item, lr.Quantity, lr.Included = l.Meter.Label(), billing.FormatQuantity(l.Quantity), billing.FormatQuantity(l.Included)
				}
				row.Lines = append(row.Lines, lr)
			}
			bd.Draft = &row
		}
		bd.Invoices = append(bd.Invoices, row)
	}
	return bd, nil, nil
}

// saturatingAdd adds two quantities, never wrapping past int64.
func saturatingAdd(a, b int64) int64 {
	if s := a + b; s >= a {
		return s
	}
	return 1<<63 - 1
}

// setPlan takes the plan selector (admins and owners).
func (d *Dashboard) setPlan(r *http.Request) (string, string, error) {
	name := strings.TrimSpace(r.PostForm.Get("plan"))
	if name == "" {
		return "", "", platform.Errorf(platform.EINVALID, "choose a plan")
	}
	a, err := d.cp.SetPlan(r.Context(), name)
	if err != nil {
		return "", "", err
	}
	return Prefix + "/usage#plan", fmt.Sprintf("Moved to plan %s from %s UTC; this period is prorated between the plans.",
		a.Plan.Name, a.From.UTC().Format("2 Jan 15:04")), nil
}
