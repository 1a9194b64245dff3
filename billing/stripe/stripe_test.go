package stripe

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/stripetest"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{name: "no key", opts: Options{}},
		{name: "blank key", opts: Options{Key: "  "}},
		{name: "negative days until due", opts: Options{Key: "sk_test_1", DaysUntilDue: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.opts); platform.ErrorCode(err) != platform.EINVALID {
				t.Errorf("New: %v, want %s", err, platform.EINVALID)
			}
		})
	}
}

func TestIdempotencyKeys(t *testing.T) {
	keys := []string{
		customerKey("acme"), customerKey("acme2"),
		invoiceKey("inv-1"), lineKey("inv-1", 0), lineKey("inv-1", 1), finalizeKey("inv-1"),
		invoiceKey("inv-2"), lineKey("inv-2", 0), finalizeKey("inv-2"),
	}
	want := []string{
		"micro-platform/customer/acme", "micro-platform/customer/acme2",
		"micro-platform/invoice/inv-1/create", "micro-platform/invoice/inv-1/line/0",
		"micro-platform/invoice/inv-1/line/1", "micro-platform/invoice/inv-1/finalize",
		"micro-platform/invoice/inv-2/create", "micro-platform/invoice/inv-2/line/0",
		"micro-platform/invoice/inv-2/finalize",
	}
	for i := range keys {
		if keys[i] != want[i] {
			t.Errorf("key %d: %q, want %q", i, keys[i], want[i])
		}
	}
	long := strings.Repeat("x", 300)
	a, b := lineKey(long, 1), lineKey(long, 2)
	if len(a) > 255 || len(b) > 255 || a == b || a != lineKey(long, 1) {
		t.Errorf("keys of a long id: %d and %d characters, equal %v, stable %v", len(a), len(b), a == b, a == lineKey(long, 1))
	}
}

// TestSecretNeverShown: the key is in no error and no log line, even when Stripe (here
// stripe-mock, which repeats the Authorization header it refuses) puts it in its message.
func TestSecretNeverShown(t *testing.T) {
	const secret = "DoNotLeak0123456789"
	for _, key := range []string{"sk_live_" + secret, "not-a-key-" + secret} {
		t.Run(key[:8], func(t *testing.T) {
			c, logs := newClient(t, stripetest.URL(t), func(o *Options) { o.Key = key })
			_, err := c.EnsureCustomer(t.Context(), testOrg, "")
			if platform.ErrorCode(err) != platform.EUNAVAILABLE || !strings.Contains(err.Error(), "refused the API key") {
				t.Errorf("a refused key: %v, want %s saying so", err, platform.EUNAVAILABLE)
			}
			for what, s := range map[string]string{"the error": err.Error(), "the hint": platform.ErrorHint(err), "the logs": logs.String()} {
				if strings.Contains(s, secret) {
					t.Errorf("%s shows the key: %s", what, s)
				}
			}
			if !strings.Contains(logs.String(), "[redacted]") {
				t.Errorf("the logs do not show stripe-go's error line, redacted:\n%s", logs)
			}
		})
	}
	t.Run("a whole export", func(t *testing.T) {
		key := "sk_test_" + secret
		c, logs := newClient(t, stripetest.URL(t), func(o *Options) { o.Key = key })
		if _, _, err := export(t.Context(), c, testInvoice(), ""); err != nil {
			t.Fatal(err)
		}
		if l := logs.String(); strings.Contains(l, secret) || !strings.Contains(l, "Requesting POST") {
			t.Errorf("debug logs of an export (with the key? without stripe-go's lines?):\n%s", l)
		}
	})
}

// TestUnreachable: the network's failures are EUNAVAILABLE; a cancelled context stays in
// the chain.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	c, _ := newClient(t, url)
	_, err = c.EnsureCustomer(t.Context(), testOrg, "")
	if platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Errorf("nothing listening: %v, want %s", err, platform.EUNAVAILABLE)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = c.ExportInvoice(ctx, testInvoice(), "cus_1")
	if platform.ErrorCode(err) != platform.EUNAVAILABLE || !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled context: %v, want %s and context.Canceled", err, platform.EUNAVAILABLE)
	}
}

// TestEnsureCustomer: one customer per organisation, whoever asks and when.
func TestEnsureCustomer(t *testing.T) {
	r := stripetest.NewRecorder(t, stripetest.URL(t))
	c, _ := newClient(t, r.URL())
	first, err := c.EnsureCustomer(t.Context(), testOrg, "billing@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	// At once, search does not see it yet: the key of its creation returns it.
	if again, err := c.EnsureCustomer(t.Context(), testOrg, "billing@acme.example"); err != nil || again != first {
		t.Errorf("again at once: %s, %v; want %s", again, err, first)
	}
	// The same key with another email is refused by Stripe: a conflict, not a second
	// customer.
	if _, err := c.EnsureCustomer(t.Context(), testOrg, "other@acme.example"); platform.ErrorCode(err) != platform.ECONFLICT {
		t.Errorf("another email within the key's 24 hours: %v, want %s", err, platform.ECONFLICT)
	}
	r.ExpireKeys()
	if again, err := c.EnsureCustomer(t.Context(), testOrg, "other@acme.example"); err != nil || again != first {
		t.Errorf("after the keys expired: %s, %v; want %s (found by search)", again, err, first)
	}
	other, err := c.EnsureCustomer(t.Context(), &platform.Org{Name: "globex"}, "")
	if err != nil || other == first {
		t.Errorf("another organisation: %s, %v; want its own customer", other, err)
	}
	if n := len(r.Objects("customer")); n != 2 {
		t.Errorf("%d customers, want 2", n)
	}
	if _, err := c.EnsureCustomer(t.Context(), &platform.Org{}, ""); platform.ErrorCode(err) != platform.EINVALID {
		t.Errorf("no org name: %v", err)
	}
}

// TestLoggerDefault: a Client without a logger logs nothing.
func TestLoggerDefault(t *testing.T) {
	c, err := New(Options{Key: stripetest.Key})
	if err != nil {
		t.Fatal(err)
	}
	if c.log.Handler().Enabled(t.Context(), slog.LevelError) {
		t.Error("the default logger logs")
	}
}
