package control_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime/fake"
	"github.com/micro/platform/runtimeapi"
)

// planePublisher records what the plane publishes; Flush fails while fail is set.
type planePublisher struct {
	mu     sync.Mutex
	events []platform.UsageEvent
	fail   error
}

func (p *planePublisher) PublishWait(_ context.Context, e platform.UsageEvent) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, e)
	return nil
}

func (p *planePublisher) Flush(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fail
}

// TestRegionUsageEvents: a region's usage events reach the plane's metering pipeline
// through ControlService, as the region's and billed to the organisation of their
// namespace whatever the region says; events of unknown namespaces are dropped; a
// pipeline that does not publish fails the call, so the region sends them again; a
// region without a valid token is refused.
func TestRegionUsageEvents(t *testing.T) {
	t.Parallel()
	pub := &planePublisher{}
	h := openHarness(t, t.TempDir(), fake.NewHost(), harnessOptions{rollout: 5 * time.Second, metering: pub})
	h.start()
	if _, err := h.plane.CreateNamespace(h.admin, "acme"); err != nil {
		t.Fatal(err)
	}
	srv := h.regionServer()
	if _, err := h.plane.RegisterRegion(h.admin, &platform.Region{Name: "lon1", Provider: "local"}); err != nil {
		t.Fatal(err)
	}
	token, err := h.plane.IssueRegionToken(h.admin, "lon1")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	send := func(token string, events ...platform.UsageEvent) error {
		u := runtimeapi.NewControlClient(http.DefaultClient, srv.URL, "lon1", token).UsageEvents()
		for _, e := range events {
			if err := u.PublishWait(ctx, e); err != nil {
				return err
			}
		}
		return u.Flush(ctx)
	}
	spoofed := platform.UsageEvent{ID: "gw/x/1/acme/api/0/requests", Org: "globex", Namespace: "acme", Service: "api",
		Region: "fra1", Meter: platform.MeterRequests, Quantity: 7, Time: at}
	unknown := platform.UsageEvent{ID: "gw/x/1/gone/api/0/requests", Org: "globex", Namespace: "gone", Service: "api",
		Meter: platform.MeterRequests, Quantity: 1, Time: at}
	if err := send(token, spoofed, unknown); err != nil {
		t.Fatal(err)
	}
	want := spoofed
	want.Org, want.Region = platform.DefaultOrg, "lon1"
	if !slices.Equal(pub.events, []platform.UsageEvent{want}) {
		t.Fatalf("published %+v, want %+v", pub.events, want)
	}

	pub.fail = errors.New("stream unreachable")
	if err := send(token, spoofed); err == nil {
		t.Fatal("a pipeline that did not publish was reported as done")
	}
	pub.fail = nil
	bad := spoofed
	bad.Quantity = -1
	if err := send(token, bad); platform.ErrorCode(err) != platform.EINVALID {
		t.Fatalf("an invalid event: %v, want invalid", err)
	}
	if err := send("wrong-token", spoofed); platform.ErrorCode(err) != platform.EUNAUTHENTICATED {
		t.Fatalf("a region without its token: %v, want unauthenticated", err)
	}
}
