// Package stripe exports the platform's invoices to Stripe with stripe-go: a customer per
// organisation, and per invoice a draft Stripe invoice with one invoice item per line,
// then finalised. The platform rates usage itself (integer minor units, included
// quantities, proration), so each line goes to Stripe as an invoice item of exactly its
// amount; Stripe's billing meters and meter events, which would have Stripe rate the usage
// against prices kept in Stripe, are not used.
//
// Exports are idempotent, so that a retried or replayed export never creates a second
// Stripe object (see docs/billing-stripe.md):
//
//   - every mutating request carries an idempotency key made of our own ids (the org; the
//     invoice id and a step: create, line N, finalize), which Stripe honours for 24 hours;
//   - every object carries our ids in its metadata, and an export first looks for what an
//     earlier attempt made (a customer by search on its org, an invoice among the
//     customer's, items among the invoice's), so a replay after the keys expired creates
//     only what is missing;
//   - a Stripe invoice is created with auto_advance off and finalised only once every line
//     is on it, so Stripe never finalises or charges a partial invoice.
//
// The caller keeps what was exported: the customer id EnsureCustomer returns and the
// invoice id ExportInvoice returns (Invoice.ExternalID). An export that crashed before the
// caller stored them is completed by calling again.
//
// The API key is a secret: it is never logged nor part of an error (Stripe's messages are
// scrubbed of anything that looks like a key).
package stripe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"

	stripego "github.com/stripe/stripe-go/v82"

	platform "github.com/micro/platform"
)

// EnvKey is the environment variable the server reads the Stripe API key from; the key is
// never a flag nor in a configuration file.
const EnvKey = "PLATFORM_STRIPE_KEY"

// Exporter sends the platform's invoices to a payment provider. It belongs beside Invoice
// at the root once billing is wired into the server; *Client implements it with Stripe.
type Exporter interface {
	// EnsureCustomer returns the provider's id of org's customer, creating it (with email
	// as its billing address) unless it exists: EINVALID without an org name.
	EnsureCustomer(ctx context.Context, org *platform.Org, email string) (customerID string, err error)
	// ExportInvoice sends inv to the provider as an invoice of customerID, finalised, and
	// returns the provider's id of it (Invoice.ExternalID). Calling it again for the same
	// invoice, after a failure or a crash at any point, completes the export and returns
	// the same id without creating anything twice. EINVALID for a draft invoice or one
	// whose lines do not add up to its total (nothing is sent), ECONFLICT when the provider
	// holds something else under the invoice's id (lines that differ, a voided invoice).
	ExportInvoice(ctx context.Context, inv *platform.Invoice, customerID string) (externalID string, err error)
}

var _ Exporter = (*Client)(nil)

// Options configure a Client.
type Options struct {
	// Key is the Stripe secret key (sk_live_…, sk_test_…, or a restricted rk_… key with
	// write access to customers and invoices): required.
	Key string
	// URL is the API's base URL: empty is Stripe's; tests point it at stripe-mock.
	URL string
	// HTTPClient makes the requests (nil: stripe-go's, 80 s timeout).
	HTTPClient *http.Client
	// MaxNetworkRetries is how often stripe-go retries a request that failed on the
	// network or with a retryable status (with the same idempotency key): 0 is stripe-go's
	// default (2), negative is none.
	MaxNetworkRetries int
	// DaysUntilDue, when positive, sends invoices for payment by their customer within that
	// many days; 0 charges the customer's default payment method when the invoice is
	// finalised.
	DaysUntilDue int
	Logger       *slog.Logger
}

// Client talks to Stripe.
type Client struct {
	api  *stripego.Client
	opts Options
	log  *slog.Logger
}

// New returns a Client: EINVALID without a key.
func New(opts Options) (*Client, error) {
	if strings.TrimSpace(opts.Key) == "" {
		return nil, platform.Errorf(platform.EINVALID, "the Stripe API key is empty").
			WithHint("set %s", EnvKey)
	}
	if opts.DaysUntilDue < 0 {
		return nil, platform.Errorf(platform.EINVALID, "days until due is negative: %d", opts.DaysUntilDue)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{opts: opts, log: opts.Logger.With("component", "stripe")}
	cfg := &stripego.BackendConfig{
		HTTPClient:    opts.HTTPClient,
		LeveledLogger: leveledLogger{c},
	}
	if opts.URL != "" {
		cfg.URL = stripego.String(opts.URL)
	}
	switch {
	case opts.MaxNetworkRetries > 0:
		cfg.MaxNetworkRetries = stripego.Int64(int64(opts.MaxNetworkRetries))
	case opts.MaxNetworkRetries < 0:
		cfg.MaxNetworkRetries = stripego.Int64(0)
	}
	c.api = stripego.NewClient(opts.Key, stripego.WithBackends(stripego.NewBackendsWithConfig(cfg)))
	return c, nil
}

// Metadata keys on the Stripe objects: our ids, by which an export finds what an earlier
// attempt made, and the line's figures for people reading the invoice in Stripe.
const (
	metaOrg         = "platform_org"
	metaInvoice     = "platform_invoice_id"
	metaLine        = "platform_line"
	metaPeriodStart = "platform_period_start"
	metaPeriodEnd   = "platform_period_end"
	metaMeter       = "platform_meter"
	metaPlan        = "platform_plan"
	metaQuantity    = "platform_quantity"
	metaIncluded    = "platform_included"
	metaUnitAmount  = "platform_unit_amount"
	metaPer         = "platform_per"
)

// keyPattern finds what looks like a Stripe key in a message, Stripe's own
// (sk_live_…, rk_test_…) or stripe-mock's "Authorization was '…'".
var keyPattern = regexp.MustCompile(`\b(sk|rk)_(live|test)_[0-9A-Za-z*]+|Authorization was '[^']*'`)

// redact removes the key, and anything else that looks like one, from s.
func (c *Client) redact(s string) string {
	if k := strings.TrimSpace(c.opts.Key); k != "" {
		s = strings.ReplaceAll(s, k, "[redacted]")
	}
	return keyPattern.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasPrefix(m, "Authorization") {
			return "Authorization was '[redacted]'"
		}
		return "[redacted]"
	})
}

// apiError turns what stripe-go returned for the operation op into a coded error without
// the key: ECONFLICT for an idempotency key reused with other parameters, ENOTFOUND,
// EUNAVAILABLE for a refused key, rate limits, Stripe's failures and the network, EINVALID
// for a request Stripe refused. The context's error stays in the chain.
func (c *Client) apiError(op string, err error) error {
	var se *stripego.Error
	if !errors.As(err, &se) {
		e := platform.Errorf(platform.EUNAVAILABLE, "%s: cannot reach Stripe: %s", op, c.redact(err.Error()))
		if ctxErr := contextError(err); ctxErr != nil {
			return fmt.Errorf("%w (%w)", e, ctxErr)
		}
		return e
	}
	msg := c.redact(se.Msg)
	if se.RequestID != "" {
		msg += " (request " + se.RequestID + ")"
	}
	switch {
	case se.Type == stripego.ErrorTypeIdempotency:
		return platform.Errorf(platform.ECONFLICT, "%s: Stripe refused a repeated request whose parameters changed: %s", op, msg)
	case se.HTTPStatusCode == http.StatusUnauthorized || se.HTTPStatusCode == http.StatusForbidden:
		return platform.Errorf(platform.EUNAVAILABLE, "%s: Stripe refused the API key: %s", op, msg).
			WithHint("check %s", EnvKey)
	case se.HTTPStatusCode == http.StatusNotFound:
		return platform.Errorf(platform.ENOTFOUND, "%s: %s", op, msg)
	case se.HTTPStatusCode == http.StatusConflict || se.HTTPStatusCode == http.StatusTooManyRequests || se.HTTPStatusCode >= 500:
		return platform.Errorf(platform.EUNAVAILABLE, "%s: Stripe is unavailable (status %d): %s", op, se.HTTPStatusCode, msg)
	}
	return platform.Errorf(platform.EINVALID, "%s: Stripe refused it (status %d): %s", op, se.HTTPStatusCode, msg)
}

func contextError(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded
	}
	return nil
}

// leveledLogger sends stripe-go's log lines to the Client's logger, scrubbed of the key:
// its per-request lines at debug, its warnings and errors (which the caller also gets as
// errors) at warn.
type leveledLogger struct{ c *Client }

func (l leveledLogger) Debugf(format string, v ...any) { l.log(slog.LevelDebug, format, v...) }
func (l leveledLogger) Infof(format string, v ...any)  { l.log(slog.LevelDebug, format, v...) }
func (l leveledLogger) Warnf(format string, v ...any)  { l.log(slog.LevelWarn, format, v...) }
func (l leveledLogger) Errorf(format string, v ...any) { l.log(slog.LevelWarn, format, v...) }

func (l leveledLogger) log(level slog.Level, format string, v ...any) {
	if !l.c.log.Enabled(context.Background(), level) {
		return
	}
	l.c.log.Log(context.Background(), level, l.c.redact(fmt.Sprintf(format, v...)), "source", "stripe-go")
}
