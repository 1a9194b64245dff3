package e2e

import (
	"strings"
	"testing"

	platform "github.com/micro/platform"
)

// usageTotals sums `platform usage -o json` per meter for one namespace and service.
func usageTotals(t *testing.T, s *serverProc, ns, service string) map[platform.Meter]int64 {
	t.Helper()
	r := s.platform(t, "usage", "-n", ns, "-o", "json")
	if r.code != 0 {
		t.Fatalf("platform usage: %s", r)
	}
	out := map[platform.Meter]int64{}
	for _, u := range decode[[]platform.UsageRollup](t, r.stdout) {
		if u.Service == service {
			out[u.Meter] += u.Quantity
		}
	}
	return out
}

// TestBilling is billing's journey on a real server with the default plans: the free
// plan's quotas refuse a second namespace and the calls beyond 10 a second with
// quota_exceeded; what was served, sent, built and run is metered through the embedded
// NATS's JetStream into the store exactly — across a kill -9 —, `platform usage` shows
// it, and a plan change shows on the draft invoice.
func TestBilling(t *testing.T) {
	skipShort(t)
	t.Parallel()
	dir := t.TempDir()
	const stripeKey = "sk_test_e2eBillingKeyNeverLogged"
	env := []string{"PLATFORM_BILLING_ENABLED=true", "PLATFORM_METER_INTERVAL=2s", "PLATFORM_STRIPE_KEY=" + stripeKey}
	s := startServerEnv(t, dir, env)
	defer func() {
		if strings.Contains(s.out.String(), stripeKey) {
			t.Errorf("the server's output shows the Stripe key")
		}
	}()

	if out := s.must(t, "plan"); !strings.Contains(out, "free") {
		t.Fatalf("a new organisation is not on the free plan:\n%s", out)
	}
	s.must(t, "namespaces", "create", "acme")
	r := s.platform(t, "namespaces", "create", "globex")
	if r.code == 0 || !strings.Contains(r.stderr, "quota namespaces exceeded: plan free allows 1 namespace") {
		t.Fatalf("a second namespace on the free plan: %s", r)
	}
	if out := s.must(t, "namespaces"); strings.Contains(out, "globex") {
		t.Fatalf("the refused namespace exists:\n%s", out)
	}

	s.must(t, "deploy", "./examples/helloworld", "-n", "acme")

	// The free plan allows 10 requests a second: a burst of 30 is partly refused.
	var served, refused, egress int64
	for range 30 {
		code, body, err := s.gateway(s.token, "acme", "helloworld", "Helloworld.Call", `{"name":"Bob"}`)
		switch {
		case err != nil:
			t.Fatal(err)
		case code == 200:
			served++
			egress += int64(len(body))
		case code == 429 && strings.Contains(body, platform.EQUOTA) && strings.Contains(body, "requests per second"):
			refused++
		default:
			t.Fatalf("call: %d %s", code, body)
		}
	}
	if served < 10 || refused == 0 {
		t.Fatalf("%d calls served and %d refused, want the 10 a second of the free plan served and the rest refused", served, refused)
	}

	var before map[platform.Meter]int64
	eventually(t, "usage shows the calls, the build and the instance", func() bool {
		before = usageTotals(t, s, "acme", "helloworld")
		return before[platform.MeterRequests] == served && before[platform.MeterEgressBytes] == egress &&
			before[platform.MeterBuildSeconds] > 0 && before[platform.MeterInstanceSeconds] > 0 && before[platform.MeterLogBytes] > 0
	})
	if table := s.must(t, "usage"); !containsRow(table, "acme", "helloworld", "Requests") {
		t.Errorf("platform usage:\n%s", table)
	}

	// kill -9: the instance keeps running and is metered on; nothing already counted
	// counts again.
	s.kill9()
	s = startServerEnv(t, dir, env)
	eventually(t, "instance-seconds accrue after the restart", func() bool {
		after := usageTotals(t, s, "acme", "helloworld")
		return after[platform.MeterInstanceSeconds] > before[platform.MeterInstanceSeconds]
	})
	after := usageTotals(t, s, "acme", "helloworld")
	for _, m := range []platform.Meter{platform.MeterRequests, platform.MeterEgressBytes, platform.MeterBuildSeconds} {
		if after[m] != before[m] {
			t.Errorf("%s: %d before the kill -9, %d after", m, before[m], after[m])
		}
	}
	// The instance may log more after the restart, but what was counted is not again.
	if l := after[platform.MeterLogBytes]; l < before[platform.MeterLogBytes] || l >= 2*before[platform.MeterLogBytes] {
		t.Errorf("log bytes: %d before the kill -9, %d after", before[platform.MeterLogBytes], l)
	}

	s.must(t, "plan", "set", "pro")
	if out := s.must(t, "plan"); !strings.Contains(out, "pro") {
		t.Errorf("platform plan after the change:\n%s", out)
	}
	inv := s.must(t, "invoices", "show", "draft")
	for _, want := range []string{"free", "pro", "Requests"} {
		if !strings.Contains(inv, want) {
			t.Errorf("the draft invoice lacks %q:\n%s", want, inv)
		}
	}
}
