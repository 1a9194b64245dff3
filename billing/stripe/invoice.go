package stripe

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v82"

	platform "github.com/micro/platform"
)

// ExportInvoice sends inv to Stripe as an invoice of the customer customerID and returns
// the Stripe invoice's id, for the caller to keep as inv.ExternalID. It converges on the
// exported state from wherever an earlier attempt stopped:
//
//	find the Stripe invoice: by inv.ExternalID, else among the customer's invoices by its
//	  metadata; none: create it (draft, auto_advance off, key …/create)
//	draft:         list its items; create each missing line's item (key …/line/N); check
//	               the others' amounts; finalise it (auto_advance on, key …/finalize)
//	open, paid, uncollectible: done (it was finalised once every line was on it)
//	void:          ECONFLICT
//
// Nothing is sent for an invoice that is a draft, whose lines do not add up to its total,
// or without a customer (EINVALID, every problem at once). ECONFLICT when Stripe holds
// something else under the invoice's id: an ExternalID of another invoice or customer,
// several Stripe invoices for it, one in another currency, an item whose amount differs from its line's, a voided
// invoice, or a key reused with other parameters (the invoice changed after a partial
// export). EUNAVAILABLE when Stripe cannot be reached or fails: call again.
func (c *Client) ExportInvoice(ctx context.Context, inv *platform.Invoice, customerID string) (string, error) {
	if err := validateExport(inv, customerID); err != nil {
		return "", err
	}
	op := "export invoice " + inv.ID + " to Stripe"
	si, err := c.findInvoice(ctx, inv, customerID)
	if err != nil {
		return "", err
	}
	if si == nil {
		si, err = c.api.V1Invoices.Create(ctx, c.invoiceParams(inv, customerID))
		if err != nil {
			return "", c.apiError(op+": create the invoice", err)
		}
		c.log.Info("created a Stripe invoice", "invoice", inv.ID, "stripe_invoice", si.ID)
	}
	if string(si.Currency) != inv.Currency {
		return "", platform.Errorf(platform.ECONFLICT, "%s: Stripe invoice %s is in %s, the invoice in %s",
			op, si.ID, si.Currency, inv.Currency)
	}
	switch si.Status {
	case stripego.InvoiceStatusDraft:
	case stripego.InvoiceStatusVoid:
		return "", platform.Errorf(platform.ECONFLICT, "%s: Stripe invoice %s was voided", op, si.ID).
			WithHint("a voided invoice is not exported again; settle the charge in Stripe")
	default: // open, paid, uncollectible: finalised, so complete
		return si.ID, nil
	}

	have, err := c.exportedLines(ctx, op, inv, si.ID)
	if err != nil {
		return "", err
	}
	for i := range inv.Lines {
		if have[i] {
			continue
		}
		item, err := c.api.V1InvoiceItems.Create(ctx, c.lineParams(inv, i, customerID, si.ID))
		if err != nil {
			return "", c.apiError(fmt.Sprintf("%s: add line %d", op, i), err)
		}
		c.log.Debug("added a line to a Stripe invoice", "invoice", inv.ID, "line", i, "stripe_item", item.ID)
	}
	fin := &stripego.InvoiceFinalizeInvoiceParams{
		Params:      stripego.Params{IdempotencyKey: stripego.String(finalizeKey(inv.ID))},
		AutoAdvance: stripego.Bool(true),
	}
	if _, err := c.api.V1Invoices.FinalizeInvoice(ctx, si.ID, fin); err != nil {
		return "", c.apiError(op+": finalise the invoice", err)
	}
	c.log.Info("exported an invoice to Stripe", "invoice", inv.ID, "stripe_invoice", si.ID, "lines", len(inv.Lines))
	return si.ID, nil
}

var currencyCode = regexp.MustCompile(`^[a-z]{3}$`)

// validateExport reports every reason inv cannot be exported to customerID.
func validateExport(inv *platform.Invoice, customerID string) error {
	if inv == nil {
		return platform.Errorf(platform.EINVALID, "no invoice to export")
	}
	var problems []string
	if inv.ID == "" {
		problems = append(problems, "the invoice has no id")
	}
	if inv.Org == "" {
		problems = append(problems, "the invoice has no organisation")
	}
	if customerID == "" {
		problems = append(problems, "no Stripe customer to export to (EnsureCustomer)")
	}
	if inv.Status != platform.InvoiceOpen && inv.Status != platform.InvoiceExported {
		problems = append(problems, fmt.Sprintf("invoice status is %q: only an open (final) invoice is exported", inv.Status))
	}
	if !currencyCode.MatchString(inv.Currency) {
		problems = append(problems, fmt.Sprintf("currency %q is not a lower-case ISO 4217 code", inv.Currency))
	}
	var sum int64
	for i, l := range inv.Lines {
		sum += l.Amount
		if l.To.Before(l.From) {
			problems = append(problems, fmt.Sprintf("line %d ends before it starts", i))
		}
	}
	if sum != inv.Total {
		problems = append(problems, fmt.Sprintf("the lines add up to %d, the total is %d", sum, inv.Total))
	}
	if len(problems) == 0 {
		return nil
	}
	return platform.Errorf(platform.EINVALID, "cannot export invoice %s: %s", inv.ID, strings.Join(problems, "; "))
}

// findInvoice returns the Stripe invoice an earlier attempt made for inv, or nil: the one
// inv.ExternalID names, else the customer's invoice whose metadata names inv. The list of
// a customer's invoices is consistent at once (unlike search), and short (one a period).
func (c *Client) findInvoice(ctx context.Context, inv *platform.Invoice, customerID string) (*stripego.Invoice, error) {
	op := "export invoice " + inv.ID + " to Stripe"
	if inv.ExternalID != "" {
		si, err := c.api.V1Invoices.Retrieve(ctx, inv.ExternalID, nil)
		if err != nil {
			return nil, c.apiError(fmt.Sprintf("%s: get Stripe invoice %s", op, inv.ExternalID), err)
		}
		if si.Metadata[metaInvoice] != inv.ID || si.Customer == nil || si.Customer.ID != customerID {
			return nil, platform.Errorf(platform.ECONFLICT,
				"%s: Stripe invoice %s is not the export of this invoice to customer %s", op, si.ID, customerID)
		}
		return si, nil
	}
	var found []*stripego.Invoice
	list := &stripego.InvoiceListParams{Customer: stripego.String(customerID)}
	list.Limit = stripego.Int64(100)
	for si, err := range c.api.V1Invoices.List(ctx, list) {
		if err != nil {
			return nil, c.apiError(op+": list the customer's invoices", err)
		}
		if si.Metadata[metaInvoice] == inv.ID {
			found = append(found, si)
		}
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return found[0], nil
	}
	ids := make([]string, len(found))
	for i, si := range found {
		ids[i] = si.ID
	}
	return nil, platform.Errorf(platform.ECONFLICT, "%s: several Stripe invoices carry it: %s", op, strings.Join(ids, ", ")).
		WithHint("void or delete all but one in Stripe, then export again")
}

// exportedLines returns the lines of inv already on the Stripe invoice siID, checking that
// each has its line's amount and currency and that none is beyond inv's lines.
func (c *Client) exportedLines(ctx context.Context, op string, inv *platform.Invoice, siID string) (map[int]bool, error) {
	have := map[int]bool{}
	list := &stripego.InvoiceItemListParams{Invoice: stripego.String(siID)}
	list.Limit = stripego.Int64(100)
	for item, err := range c.api.V1InvoiceItems.List(ctx, list) {
		if err != nil {
			return nil, c.apiError(op+": list the invoice's items", err)
		}
		if item.Metadata[metaInvoice] != inv.ID {
			continue // not ours (added by hand in Stripe): left alone
		}
		i, err := strconv.Atoi(item.Metadata[metaLine])
		switch {
		case err != nil || i < 0 || i >= len(inv.Lines):
			return nil, platform.Errorf(platform.ECONFLICT, "%s: Stripe item %s is line %q, which the invoice does not have",
				op, item.ID, item.Metadata[metaLine])
		case have[i]:
			return nil, platform.Errorf(platform.ECONFLICT, "%s: Stripe invoice %s has line %d twice", op, siID, i)
		case item.Amount != inv.Lines[i].Amount || string(item.Currency) != inv.Currency:
			return nil, platform.Errorf(platform.ECONFLICT, "%s: Stripe has line %d as %d %s, the invoice as %d %s",
				op, i, item.Amount, item.Currency, inv.Lines[i].Amount, inv.Currency)
		}
		have[i] = true
	}
	return have, nil
}

func (c *Client) invoiceParams(inv *platform.Invoice, customerID string) *stripego.InvoiceCreateParams {
	p := &stripego.InvoiceCreateParams{
		Params:   stripego.Params{IdempotencyKey: stripego.String(invoiceKey(inv.ID))},
		Customer: stripego.String(customerID),
		Currency: stripego.String(inv.Currency),
		// Finalised by ExportInvoice once every line is on it, never by Stripe before.
		AutoAdvance: stripego.Bool(false),
		// Only the lines added to it, never other pending items of the customer.
		PendingInvoiceItemsBehavior: stripego.String("exclude"),
		CollectionMethod:            stripego.String(string(stripego.InvoiceCollectionMethodChargeAutomatically)),
		Description: stripego.String(fmt.Sprintf("Micro Platform: %s, %s to %s", inv.Org,
			inv.PeriodStart.UTC().Format(time.DateOnly), inv.PeriodEnd.UTC().Format(time.DateOnly))),
		Metadata: map[string]string{
			metaInvoice:     inv.ID,
			metaOrg:         inv.Org,
			metaPeriodStart: inv.PeriodStart.UTC().Format(time.RFC3339),
			metaPeriodEnd:   inv.PeriodEnd.UTC().Format(time.RFC3339),
		},
	}
	if c.opts.DaysUntilDue > 0 {
		p.CollectionMethod = stripego.String(string(stripego.InvoiceCollectionMethodSendInvoice))
		p.DaysUntilDue = stripego.Int64(int64(c.opts.DaysUntilDue))
	}
	return p
}

func (c *Client) lineParams(inv *platform.Invoice, i int, customerID, siID string) *stripego.InvoiceItemCreateParams {
	l := inv.Lines[i]
	desc := l.Description
	switch {
	case desc != "":
	case l.Meter == "":
		desc = fmt.Sprintf("Plan %s", l.Plan)
	default:
		desc = fmt.Sprintf("%s, plan %s: %d used", l.Meter.Label(), l.Plan, l.Quantity)
	}
	p := &stripego.InvoiceItemCreateParams{
		Params:      stripego.Params{IdempotencyKey: stripego.String(lineKey(inv.ID, i))},
		Customer:    stripego.String(customerID),
		Invoice:     stripego.String(siID),
		Amount:      stripego.Int64(l.Amount),
		Currency:    stripego.String(inv.Currency),
		Description: stripego.String(desc),
		Metadata: map[string]string{
			metaInvoice:    inv.ID,
			metaLine:       strconv.Itoa(i),
			metaPlan:       l.Plan,
			metaQuantity:   strconv.FormatInt(l.Quantity, 10),
			metaIncluded:   strconv.FormatInt(l.Included, 10),
			metaUnitAmount: strconv.FormatInt(l.UnitAmount, 10),
			metaPer:        strconv.FormatInt(l.Per, 10),
		},
	}
	if l.Meter != "" {
		p.Metadata[metaMeter] = string(l.Meter)
	}
	if !l.From.IsZero() && !l.To.IsZero() {
		p.Period = &stripego.InvoiceItemCreatePeriodParams{
			Start: stripego.Int64(l.From.Unix()),
			End:   stripego.Int64(l.To.Unix()),
		}
	}
	return p
}
