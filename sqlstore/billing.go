package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/micro/platform"
)

var _ platform.BillingStore = (*Store)(nil)

// The tables of migration 00016. An invoice is written once (INSERT … ON CONFLICT (id)
// DO NOTHING, so regenerating a period is harmless) and changed only by its export,
// which moves external_id from '' to the provider's id once; a spend threshold is a row
// inserted if absent, whose insertion tells that it is the first.

// AssignPlan appends a to its org's plan history. From is kept to the second, CreatedAt
// (now when zero) to the microsecond; both are written back to a, in UTC. EINVALID
// without an org, a plan name or a From, listing every problem; ENOTFOUND for an unknown
// org.
func (s *Store) AssignPlan(ctx context.Context, a *platform.PlanAssignment) error {
	if a == nil {
		return platform.Errorf(platform.EINVALID, "no plan assignment")
	}
	var problems []string
	if a.Org == "" {
		problems = append(problems, "a plan assignment needs an organisation")
	}
	if a.Plan.Name == "" {
		problems = append(problems, "a plan assignment needs a plan with a name")
	}
	if a.From.IsZero() {
		problems = append(problems, "a plan assignment needs the time it takes effect (from)")
	}
	if err := invalid(problems); err != nil {
		return err
	}
	plan, err := json.Marshal(a.Plan)
	if err != nil {
		return fmt.Errorf("assign plan: encode plan %s: %w", a.Plan.Name, err)
	}
	from := a.From.UTC().Truncate(time.Second)
	created := orNow(a.CreatedAt)
	err = s.inTx(ctx, func(tx conn) error {
		if err := orgExists(ctx, tx, a.Org); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `INSERT INTO plan_assignments (org, plan, effective_at, assigned_by, created_at)
			VALUES (?, ?, ?, ?, ?)`, a.Org, string(plan), micros(from), a.By, micros(created))
		return err
	})
	if err != nil {
		return wrap("assign plan to "+a.Org, err)
	}
	a.From, a.CreatedAt = from, created
	return nil
}

// PlanHistory returns org's assignments ordered by From, then by the order they were
// made; none for an org never assigned a plan (or unknown).
func (s *Store) PlanHistory(ctx context.Context, org string) ([]*platform.PlanAssignment, error) {
	return list(ctx, s.r, "plan history of "+org,
		`SELECT org, plan, effective_at, assigned_by, created_at FROM plan_assignments
		WHERE org = ? ORDER BY effective_at, id`, []any{org},
		func(sc scanner) (*platform.PlanAssignment, error) {
			var a platform.PlanAssignment
			var plan string
			var from, created int64
			if err := sc.Scan(&a.Org, &plan, &from, &a.By, &created); err != nil {
				return nil, err
			}
			if err := json.Unmarshal([]byte(plan), &a.Plan); err != nil {
				return nil, fmt.Errorf("plan assignment of %s at %d: decode plan: %w", a.Org, from, err)
			}
			a.From, a.CreatedAt = fromMicros(from), fromMicros(created)
			return &a, nil
		})
}

// invoiceColumns are the columns scanInvoice reads, in its order.
const invoiceColumns = `id, org, period_start, period_end, currency, lines, total, status, external_id, created_at`

func scanInvoice(sc scanner) (*platform.Invoice, error) {
	var inv platform.Invoice
	var lines, status string
	var start, end, created int64
	if err := sc.Scan(&inv.ID, &inv.Org, &start, &end, &inv.Currency, &lines, &inv.Total, &status,
		&inv.ExternalID, &created); err != nil {
		return nil, err
	}
	inv.Lines = []platform.InvoiceLine{}
	if err := json.Unmarshal([]byte(lines), &inv.Lines); err != nil {
		return nil, fmt.Errorf("invoice %s: decode lines: %w", inv.ID, err)
	}
	if inv.Lines == nil { // "null": no line
		inv.Lines = []platform.InvoiceLine{}
	}
	inv.PeriodStart, inv.PeriodEnd, inv.CreatedAt = fromMicros(start), fromMicros(end), fromMicros(created)
	inv.Status = platform.InvoiceStatus(status)
	return &inv, nil
}

// invoiceProblems lists why inv cannot be stored as a final invoice.
func invoiceProblems(inv *platform.Invoice) []string {
	var problems []string
	if inv.ID == "" {
		problems = append(problems, "an invoice needs an id")
	}
	if inv.Org == "" {
		problems = append(problems, "an invoice needs an organisation")
	}
	switch inv.Status {
	case platform.InvoiceOpen:
	case platform.InvoiceDraft:
		problems = append(problems, "a draft invoice is computed, never stored: store the invoice of a period that has ended (status open)")
	default:
		problems = append(problems, fmt.Sprintf("invoice status %q: only an open (final) invoice is stored", inv.Status))
	}
	if inv.PeriodStart.IsZero() || !inv.PeriodStart.Before(inv.PeriodEnd) {
		problems = append(problems, "an invoice's period needs a start before its end")
	}
	if inv.Currency == "" {
		problems = append(problems, "an invoice needs a currency")
	}
	var sum int64
	overflow := false
	for _, l := range inv.Lines {
		next := sum + l.Amount
		if (l.Amount > 0 && next < sum) || (l.Amount < 0 && next > sum) {
			overflow = true
		}
		sum = next
	}
	if overflow || sum != inv.Total {
		problems = append(problems, fmt.Sprintf("the invoice's lines do not add up to its total %d", inv.Total))
	}
	return problems
}

// CreateInvoice stores inv, a final invoice (Status open), unless an invoice of its ID
// exists, which is left as it is: created reports whether inv was stored. When it was,
// inv's CreatedAt (now when zero) is written back. EINVALID, storing nothing, for a
// draft (or any status but open), without an ID, an org, a period or a currency, or
// with lines that do not add up to Total; ECONFLICT when the org already has an invoice
// of another ID for the period.
func (s *Store) CreateInvoice(ctx context.Context, inv *platform.Invoice) (bool, error) {
	if inv == nil {
		return false, platform.Errorf(platform.EINVALID, "no invoice")
	}
	if err := invalid(invoiceProblems(inv)); err != nil {
		return false, platform.Errorf(platform.EINVALID, "cannot store invoice %s: %s", inv.ID, platform.ErrorMessage(err))
	}
	lines := inv.Lines
	if lines == nil {
		lines = []platform.InvoiceLine{}
	}
	encoded, err := json.Marshal(lines)
	if err != nil {
		return false, fmt.Errorf("create invoice %s: encode lines: %w", inv.ID, err)
	}
	created := orNow(inv.CreatedAt)
	res, err := s.w.exec(ctx, `INSERT INTO invoices (`+invoiceColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?) ON CONFLICT (id) DO NOTHING`,
		inv.ID, inv.Org, micros(inv.PeriodStart), micros(inv.PeriodEnd), inv.Currency, string(encoded), inv.Total,
		string(platform.InvoiceOpen), micros(created))
	if isUniqueViolation(err) {
		// Not its ID (that conflict does nothing): another invoice of the period.
		other := ""
		_ = s.r.queryRow(ctx, `SELECT id FROM invoices WHERE org = ? AND period_start = ?`,
			inv.Org, micros(inv.PeriodStart)).Scan(&other)
		return false, platform.Errorf(platform.ECONFLICT, "organisation %s already has invoice %s for the period starting %s",
			inv.Org, other, inv.PeriodStart.UTC().Format(time.RFC3339)).
			WithHint("an organisation has one invoice a period; its ID is billing.InvoiceID(org, period)")
	}
	if err != nil {
		return false, fmt.Errorf("create invoice %s: %w", inv.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("create invoice %s: %w", inv.ID, err)
	}
	if n == 0 {
		return false, nil
	}
	inv.CreatedAt = created
	return true, nil
}

func invoiceNotFound(id string) error {
	return platform.Errorf(platform.ENOTFOUND, "invoice %q not found", id)
}

// GetInvoice returns the invoice id; ENOTFOUND if there is none.
func (s *Store) GetInvoice(ctx context.Context, id string) (*platform.Invoice, error) {
	inv, err := scanInvoice(s.r.queryRow(ctx, `SELECT `+invoiceColumns+` FROM invoices WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, invoiceNotFound(id)
	}
	if err != nil {
		return nil, wrap("get invoice "+id, err)
	}
	return inv, nil
}

// ListInvoices returns org's invoices, newest period first; status "" means all, and a
// draft none (drafts are never stored). EINVALID for a status that is none of the
// invoice statuses.
func (s *Store) ListInvoices(ctx context.Context, org string, status platform.InvoiceStatus) ([]*platform.Invoice, error) {
	q := `SELECT ` + invoiceColumns + ` FROM invoices WHERE org = ?`
	args := []any{org}
	switch status {
	case "":
	case platform.InvoiceDraft, platform.InvoiceOpen, platform.InvoiceExported:
		q += ` AND status = ?`
		args = append(args, string(status))
	default:
		return nil, platform.Errorf(platform.EINVALID, "invoice status %q: want %s, %s or %s",
			status, platform.InvoiceDraft, platform.InvoiceOpen, platform.InvoiceExported)
	}
	return list(ctx, s.r, "list invoices of "+org, q+` ORDER BY period_start DESC, id DESC`, args, scanInvoice)
}

// MarkInvoiceExported records that the payment provider holds invoice id as externalID
// and makes it exported. Marking it again with the same externalID does nothing;
// ECONFLICT when it was exported as another; ENOTFOUND for an unknown invoice; EINVALID
// without an externalID.
func (s *Store) MarkInvoiceExported(ctx context.Context, id, externalID string) error {
	if externalID == "" {
		return platform.Errorf(platform.EINVALID, "marking invoice %s exported needs the payment provider's id of it", id)
	}
	res, err := s.w.exec(ctx, `UPDATE invoices SET status = ?, external_id = ? WHERE id = ? AND external_id = ''`,
		string(platform.InvoiceExported), externalID, id)
	if err != nil {
		return fmt.Errorf("mark invoice %s exported: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return wrap("mark invoice "+id+" exported", err)
	}
	// Unknown, or exported before: external_id never changes once set, so the writer's
	// answer is final.
	var have string
	err = s.w.queryRow(ctx, `SELECT external_id FROM invoices WHERE id = ?`, id).Scan(&have)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return invoiceNotFound(id)
	case err != nil:
		return fmt.Errorf("mark invoice %s exported: %w", id, err)
	case have != externalID:
		return platform.Errorf(platform.ECONFLICT, "invoice %s was exported as %s, not %s", id, have, externalID).
			WithHint("the payment provider holds two invoices for it: void the one that is not %s", have)
	}
	return nil
}

// SetBillingCustomer records customerID as the payment provider's customer of org,
// replacing any other. EINVALID without an org or a customer ID; ENOTFOUND for an
// unknown org.
func (s *Store) SetBillingCustomer(ctx context.Context, org, customerID string) error {
	var problems []string
	if org == "" {
		problems = append(problems, "a billing customer needs an organisation")
	}
	if customerID == "" {
		problems = append(problems, "a billing customer needs the payment provider's customer id")
	}
	if err := invalid(problems); err != nil {
		return err
	}
	_, err := s.w.exec(ctx, `INSERT INTO billing_customers (org, customer_id, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (org) DO UPDATE SET customer_id = excluded.customer_id, updated_at = excluded.updated_at`,
		org, customerID, micros(now()))
	if isForeignKeyViolation(err) {
		return orgNotFound(org)
	}
	return wrap("set billing customer of "+org, err)
}

// BillingCustomer returns the payment provider's customer of org, "" when none is
// recorded.
func (s *Store) BillingCustomer(ctx context.Context, org string) (string, error) {
	var id string
	err := s.r.queryRow(ctx, `SELECT customer_id FROM billing_customers WHERE org = ?`, org).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, wrap("billing customer of "+org, err)
}

// MarkSpendThreshold records that org's spend reached threshold percent of its limit in
// the period starting at periodStart; first is false when that was recorded before.
// EINVALID without an org or a period start, or for a threshold not in 1…100.
func (s *Store) MarkSpendThreshold(ctx context.Context, org string, periodStart time.Time, threshold int) (bool, error) {
	var problems []string
	if org == "" {
		problems = append(problems, "a spend threshold needs an organisation")
	}
	if periodStart.IsZero() {
		problems = append(problems, "a spend threshold needs the start of its period")
	}
	if threshold < 1 || threshold > 100 {
		problems = append(problems, fmt.Sprintf("spend threshold %d: want a percentage from 1 to 100", threshold))
	}
	if err := invalid(problems); err != nil {
		return false, err
	}
	res, err := s.w.exec(ctx, `INSERT INTO spend_thresholds (org, period_start, threshold, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (org, period_start, threshold) DO NOTHING`, org, micros(periodStart), threshold, micros(now()))
	if err != nil {
		return false, fmt.Errorf("mark spend threshold of %s: %w", org, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("mark spend threshold of %s: %w", org, err)
	}
	return n == 1, nil
}
