package cli

import (
	"encoding/csv"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
	"github.com/micro/platform/billing"
)

func init() {
	register((*app).usageCmd)
	register((*app).invoicesCmd)
	register((*app).planCmd)
}

// Output formats of the billing commands besides text and json: table is text (the
// default, a table), csv is the usage's rows for a spreadsheet.
const (
	outputTable = "table"
	outputCSV   = "csv"
)

// formats returns a PersistentPreRunE that accepts -o as one of formats (table meaning
// text), in place of the root's text or json.
func (a *app) formats(formats ...string) func(*cobra.Command, []string) error {
	return func(*cobra.Command, []string) error {
		if a.output == outputTable {
			a.output = outputText
		}
		if a.output != outputText && !slices.Contains(formats, a.output) {
			all := append([]string{outputTable}, formats...)
			return usageErrorf("invalid output format %q: use %s or %s", a.output, strings.Join(all[:len(all)-1], ", "), all[len(all)-1])
		}
		return nil
	}
}

// usageCmd is `platform usage`: the organisation's metered usage.
func (a *app) usageCmd() *cobra.Command {
	var (
		q        platform.UsageQuery
		meter    string
		from, to string
	)
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "What your organisation used this billing period (or between --from and --to)",
		Long: "usage lists what your organisation used in the current billing period so far (a\n" +
			"calendar month, UTC), per namespace, service, region and meter, or per hour with\n" +
			"--hourly. --from and --to take an RFC 3339 time or a date (midnight UTC) and select\n" +
			"the hours that start between them, a year at most. Any member may read the usage of\n" +
			"the namespaces their token reaches; it is counted whether or not billing is enabled.\n\n" +
			"Meters: instance_seconds (size-weighted: a nano instance counts 1 a second),\n" +
			"requests, build_seconds, egress_bytes, log_bytes, tool_calls. See docs/billing.md.",
		Example: `  platform usage
  platform usage -n acme --meter requests
  platform usage --from 2026-11-01 --to 2026-12-01 -o csv > november.csv
  platform usage --hourly --service api --from 2026-11-20T00:00:00Z`,
		Args:              args(0, 0, "no arguments"),
		PersistentPreRunE: a.formats(outputJSON, outputCSV),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			q.Meter = platform.Meter(meter)
			if meter != "" && !q.Meter.Valid() {
				return usageErrorf("--meter %q: use one of %s", meter, meterList())
			}
			var err error
			if q.From, err = parseDay("--from", from); err != nil {
				return err
			}
			if q.To, err = parseDay("--to", to); err != nil {
				return err
			}
			if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
				return usageErrorf("--from %s is not before --to %s", from, to)
			}
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			list, err := c.Usage(cmd.Context(), q)
			if err != nil {
				return err
			}
			switch a.output {
			case outputJSON:
				return a.printJSON(orEmpty(list))
			case outputCSV:
				return a.usageCSV(list, q.Hourly)
			}
			return a.usageTable(list, q)
		}),
	}
	f := cmd.Flags()
	// Only -n narrows: a default namespace from the environment or the config file
	// would hide the usage of the others.
	f.StringVarP(&q.Namespace, "namespace", "n", "", "only this namespace's usage (default: every namespace you reach)")
	f.StringVar(&q.Service, "service", "", "only this service's usage")
	f.StringVar(&q.Region, "region", "", "only this region's usage")
	f.StringVar(&meter, "meter", "", "only this meter: "+meterList())
	f.StringVar(&from, "from", "", "start: an RFC 3339 time or a date such as 2026-11-01 (default: the start of the billing period)")
	f.StringVar(&to, "to", "", "end, exclusive: an RFC 3339 time or a date (default: now)")
	f.BoolVar(&q.Hourly, "hourly", false, "one row per hour instead of the sums")
	return cmd
}

// meterList names the meters for flag help and errors.
func meterList() string {
	names := make([]string, len(platform.Meters))
	for i, m := range platform.Meters {
		names[i] = string(m)
	}
	return strings.Join(names, ", ")
}

// parseDay reads a time flag: RFC 3339, or a date meaning midnight UTC (billing
// periods are UTC days). "" is the zero time.
func parseDay(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, usageErrorf("%s %q: use an RFC 3339 time such as 2026-11-20T15:00:00Z or a date such as 2026-11-01", flag, v)
}

// fmtUTC renders t in UTC to the minute, as billing periods and usage hours are.
func fmtUTC(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") + " UTC" }

// usageTable prints the usage for people: a line saying the window, then a row per
// sum (or hour) with the meter's label, the quantity with thousands separators and
// its unit.
func (a *app) usageTable(list []platform.UsageRollup, q platform.UsageQuery) error {
	to := "now"
	if !q.To.IsZero() {
		to = fmtUTC(q.To)
	}
	from := "the start of this billing period"
	switch {
	case !q.From.IsZero():
		from = fmtUTC(q.From)
	case len(list) > 0 && !q.Hourly:
		from = fmtUTC(list[0].Hour) // a sum's hour is the window's start
	}
	if len(list) == 0 {
		fmt.Fprintf(a.stdout, "No usage from %s to %s.\n", from, to)
		return nil
	}
	fmt.Fprintf(a.stdout, "Usage from %s to %s:\n\n", from, to)
	tw := table(a.stdout)
	head := "NAMESPACE\tSERVICE\tREGION\tMETER\tQUANTITY\tUNIT"
	if q.Hourly {
		head = "HOUR (UTC)\t" + head
	}
	fmt.Fprintln(tw, head)
	for _, r := range list {
		if q.Hourly {
			fmt.Fprintf(tw, "%s\t", r.Hour.UTC().Format("2006-01-02 15:04"))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Namespace, orDash(r.Service), orDash(r.Region), r.Meter.Label(),
			billing.FormatQuantity(r.Quantity), r.Meter.Unit())
	}
	return tw.Flush()
}

// usageCSV prints the usage as CSV with a header row: the hour (RFC 3339, UTC) when
// hourly, then namespace, service, region, meter, quantity and unit.
func (a *app) usageCSV(list []platform.UsageRollup, hourly bool) error {
	w := csv.NewWriter(a.stdout)
	head := []string{"namespace", "service", "region", "meter", "quantity", "unit"}
	if hourly {
		head = append([]string{"hour"}, head...)
	}
	if err := w.Write(head); err != nil {
		return err
	}
	for _, r := range list {
		row := []string{r.Namespace, r.Service, r.Region, string(r.Meter), strconv.FormatInt(r.Quantity, 10), r.Meter.Unit()}
		if hourly {
			row = append([]string{r.Hour.UTC().Format(time.RFC3339)}, row...)
		}
		if err := w.Write(row); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}

// invoicesCmd is `platform invoices`: the organisation's invoices, the draft first.
func (a *app) invoicesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "invoices",
		Aliases: []string{"invoice"},
		Short:   "Your organisation's invoices: this period's draft, then the final ones",
		Long: "invoices lists your organisation's invoices, newest period first: the draft of the\n" +
			"current period (what accrues so far) and the final invoice of each period that\n" +
			"ended. `platform invoices show ID` shows one line by line (`draft` is the current\n" +
			"period's). It needs billing enabled on the platform and a token for every\n" +
			"namespace. See docs/billing.md.",
		Example: `  platform invoices
  platform invoices show draft
  platform invoices show in-acme-20261101 -o json`,
		Args:              args(0, 0, "no arguments (or a subcommand: list, show)"),
		PersistentPreRunE: a.formats(outputJSON),
		RunE:              a.run(a.listInvoices),
	}
	ls := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List invoices (the same as `platform invoices`)",
		Args:    args(0, 0, "no arguments"),
		RunE:    a.run(a.listInvoices),
	}
	show := &cobra.Command{
		Use:   "show [ID]",
		Short: "Show an invoice line by line (default: this period's draft)",
		Args:  args(0, 1, "an invoice ID, or draft"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			id := string(platform.InvoiceDraft)
			if len(args) == 1 {
				id = args[0]
			}
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			inv, err := c.GetInvoice(cmd.Context(), id)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(inv)
			}
			return a.showInvoice(inv)
		}),
	}
	cmd.AddCommand(ls, show)
	return cmd
}

func (a *app) listInvoices(cmd *cobra.Command, _ []string) error {
	c, err := a.connect(cmd)
	if err != nil {
		return err
	}
	list, err := c.ListInvoices(cmd.Context())
	if err != nil {
		return err
	}
	if a.jsonOutput() {
		return a.printJSON(orEmpty(list))
	}
	if len(list) == 0 {
		fmt.Fprintln(a.stdout, "No invoices.")
		return nil
	}
	tw := table(a.stdout)
	fmt.Fprintln(tw, "ID\tPERIOD\tSTATUS\tTOTAL")
	for _, inv := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", inv.ID, period(inv), inv.Status, billing.FormatAmount(inv.Total, inv.Currency))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if list[0].Status == platform.InvoiceDraft {
		fmt.Fprintf(a.stdout, "\nThe draft is what accrues so far this period; `platform invoices show draft` itemises it.\n")
	}
	return nil
}

// period renders an invoice's period by its days: "2026-11-01 to 2026-11-30" for
// November (the end is exclusive, so its last day is the day before).
func period(inv *platform.Invoice) string {
	last := inv.PeriodEnd.UTC().Add(-time.Nanosecond)
	return inv.PeriodStart.UTC().Format(time.DateOnly) + " to " + last.Format(time.DateOnly)
}

// showInvoice prints an invoice for people: its period and status, a row per line
// (what, under which plan, for which part of the period, how much was used and
// included, at what price, for how much) and the total.
func (a *app) showInvoice(inv *platform.Invoice) error {
	fmt.Fprintf(a.stdout, "Invoice %s (%s)\n", inv.ID, inv.Status)
	fmt.Fprintf(a.stdout, "Organisation: %s\n", inv.Org)
	fmt.Fprintf(a.stdout, "Period:       %s to %s\n", fmtUTC(inv.PeriodStart), fmtUTC(inv.PeriodEnd))
	switch inv.Status {
	case platform.InvoiceDraft:
		fmt.Fprintf(a.stdout, "Draft as of:  %s (what accrues so far; final once the period ends)\n", fmtUTC(inv.CreatedAt))
	case platform.InvoiceExported:
		fmt.Fprintf(a.stdout, "Exported:     %s\n", orDash(inv.ExternalID))
	}
	fmt.Fprintln(a.stdout)
	if len(inv.Lines) == 0 {
		fmt.Fprintln(a.stdout, "No lines: nothing was used and no plan charges a base amount.")
	} else {
		tw := table(a.stdout)
		fmt.Fprintln(tw, "ITEM\tPLAN\tFROM (UTC)\tTO (UTC)\tQUANTITY\tINCLUDED\tPRICE\tAMOUNT")
		for _, l := range inv.Lines {
			item, quantity, included, price := "Base amount", billing.FormatQuantity(l.Quantity)+" s", "-", "-"
			if l.Meter == "" {
				price = billing.FormatAmount(l.UnitAmount, inv.Currency) + " a period"
			} else {
				item, included = l.Meter.Label(), billing.FormatQuantity(l.Included)
				quantity = billing.FormatQuantity(l.Quantity)
				if l.UnitAmount > 0 {
					price = billing.FormatAmount(l.UnitAmount, inv.Currency) + " per " + billing.FormatQuantity(max(l.Per, 1))
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", item, l.Plan, l.From.UTC().Format("01-02 15:04"), l.To.UTC().Format("01-02 15:04"),
				quantity, included, price, billing.FormatAmount(l.Amount, inv.Currency))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(a.stdout, "\nTotal: %s\n", billing.FormatAmount(inv.Total, inv.Currency))
	return nil
}

// planCmd is `platform plan`: the organisation's plan, and `platform plan set`.
func (a *app) planCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Your organisation's plan: its prices and quotas, and the plans you may move to",
		Long: "plan shows your organisation's plan: its base amount and prices, its quotas and\n" +
			"spend limit, and the plans of the platform's catalog. Admins and owners move the\n" +
			"organisation to another plan with `platform plan set NAME`: it applies from now on,\n" +
			"and this period is prorated between the plans. It needs billing enabled on the\n" +
			"platform. See docs/billing.md.",
		Example: `  platform plan
  platform plan set pro`,
		Args: args(0, 0, "no arguments (or a subcommand: set)"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			v, err := c.Plan(cmd.Context())
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(v)
			}
			return a.showPlan(v)
		}),
	}
	set := &cobra.Command{
		Use:     "set NAME",
		Short:   "Move your organisation to another plan from now on (admins)",
		Example: `  platform plan set pro`,
		Args:    args(1, 1, "the plan's NAME"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			as, err := c.SetPlan(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(as)
			}
			fmt.Fprintf(a.stdout, "Organisation %s is on plan %s from %s; this period is prorated between its plans.\n",
				as.Org, as.Plan.Name, fmtUTC(as.From))
			return nil
		}),
	}
	cmd.AddCommand(set)
	return cmd
}

// showPlan prints a plan view for people.
func (a *app) showPlan(v *platform.PlanView) error {
	p := v.Plan
	since := "since " + fmtUTC(v.Since)
	switch {
	case v.Default:
		since = "the default plan, since the organisation was created"
	case v.By != "":
		since += ", set by " + v.By
	}
	fmt.Fprintf(a.stdout, "Organisation %s is on plan %s (%s).\n\n", v.Org, p.Name, since)
	base := "none"
	if p.BaseAmount > 0 {
		base = billing.FormatAmount(p.BaseAmount, p.Currency) + " a period (a calendar month)"
	}
	fmt.Fprintf(a.stdout, "Base amount:  %s\n", base)
	fmt.Fprintf(a.stdout, "Quotas:       %s\n", quotas(p))
	limit := "none"
	if p.Quotas.SpendLimit > 0 {
		limit = billing.FormatAmount(p.Quotas.SpendLimit, p.Currency) + " a period"
	}
	fmt.Fprintf(a.stdout, "Spend limit:  %s\n\n", limit)
	if len(p.Prices) == 0 {
		fmt.Fprintln(a.stdout, "Usage is not charged on this plan.")
	} else {
		tw := table(a.stdout)
		fmt.Fprintln(tw, "METER\tPRICE\tINCLUDED A PERIOD")
		for _, m := range platform.Meters {
			pr, ok := p.Prices[m]
			if !ok {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s per %s\t%s\n", m.Label(), billing.FormatAmount(pr.UnitAmount, p.Currency),
				units(max(pr.Per, 1), m), units(pr.Included, m))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	names := make([]string, len(v.Catalog))
	for i, n := range v.Catalog {
		names[i] = n
		if n == p.Name {
			names[i] += " (current)"
		}
	}
	fmt.Fprintf(a.stdout, "\nPlans: %s. Admins move to one with `platform plan set NAME`.\n", strings.Join(names, ", "))
	return nil
}

// units renders n of m's unit: "1 request", "1,000,000 requests".
func units(n int64, m platform.Meter) string {
	if n == 1 {
		return "1 " + m.Unit()
	}
	return billing.FormatQuantity(n) + " " + m.Unit() + "s" // every unit's plural takes an s
}

// quotas renders a plan's quotas in a line; 0 is unlimited.
func quotas(p platform.Plan) string {
	q := p.Quotas
	var parts []string
	for _, f := range []struct {
		n    int64
		what string
	}{
		{int64(q.Instances), "instances"}, {int64(q.Namespaces), "namespaces"}, {int64(q.Previews), "previews"},
		{int64(q.RequestsPerSecond), "requests a second"}, {q.BuildMinutes, "build minutes a period"},
	} {
		if f.n > 0 {
			parts = append(parts, billing.FormatQuantity(f.n)+" "+f.what)
		}
	}
	switch len(parts) {
	case 0:
		return "none (unlimited)"
	case 5:
		return strings.Join(parts, ", ")
	}
	return strings.Join(parts, ", ") + " (others unlimited)"
}
