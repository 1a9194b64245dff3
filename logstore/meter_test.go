package logstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	platform "github.com/micro/platform"
	"github.com/micro/platform/logstore"
)

type recordingPublisher struct {
	events []platform.UsageEvent
	fail   error
}

func (p *recordingPublisher) PublishWait(_ context.Context, e platform.UsageEvent) error {
	p.events = append(p.events, e)
	return nil
}

func (p *recordingPublisher) Flush(context.Context) error { return p.fail }

// meterPass runs one pass of the log meter and returns the events it published.
func meterPass(t *testing.T, s *logstore.Store, pub *recordingPublisher) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // one pass: Meter counts, then sees ctx ended
	pub.events = nil
	s.Meter(ctx, logstore.MeterOptions{Publisher: pub, Region: "local", OrgOf: func(_ context.Context, ns string) (string, error) {
		switch ns {
		case "gone":
			return "", platform.Errorf(platform.ENOTFOUND, "namespace gone")
		case "unreadable":
			return "", errors.New("store unavailable")
		}
		return "acme-org", nil
	}})
	var out []string
	for _, e := range pub.events {
		if err := e.Validate(); err != nil {
			t.Fatalf("event %+v: %v", e, err)
		}
		out = append(out, fmt.Sprintf("%s %s %s/%s@%s %s=%d", e.ID, e.Org, e.Namespace, e.Service, e.Region, e.Meter, e.Quantity))
	}
	return out
}

// TestMeter: the log meter counts each instance's ingested output (stdout and stderr)
// once: a count whose publish failed is published again as it was, with its ID, before
// the output that came since; a reopened store counts nothing twice; a namespace whose
// organisation cannot be told is skipped until it can.
func TestMeter(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir, nil)
	out, errw := attach(t, s, key("i-1"))
	write(t, out, "hello\n")
	write(t, errw, "oops\n")
	other, _ := attach(t, s, logstore.Key{Namespace: "gone", Service: "x", Instance: "i-9"})
	write(t, other, "lost?\n")
	if err := s.Sync("", ""); err != nil {
		t.Fatal(err)
	}
	pub := &recordingPublisher{fail: errors.New("stream unreachable")}
	first := meterPass(t, s, pub)
	stamped := pub.events[0].Time
	want := []string{"log/local/i-1/0 acme-org acme/hello@local log_bytes=11"}
	if !slices.Equal(first, want) {
		t.Fatalf("first pass %q, want %q", first, want)
	}

	write(t, out, "more output\n")
	if err := s.Sync("", ""); err != nil {
		t.Fatal(err)
	}
	pub.fail = nil
	if got := meterPass(t, s, pub); !slices.Equal(got, want) || !pub.events[0].Time.Equal(stamped) {
		t.Fatalf("after a failed publish %q, want the same event again %q", got, want)
	}
	if got, want := meterPass(t, s, pub), []string{"log/local/i-1/11 acme-org acme/hello@local log_bytes=12"}; !slices.Equal(got, want) {
		t.Fatalf("the output since: %q, want %q", got, want)
	}
	if got := meterPass(t, s, pub); len(got) != 0 {
		t.Fatalf("nothing new, yet %q", got)
	}

	// Reopened (a restart of the platform): nothing counted again.
	_ = s.Close()
	s = newStore(t, dir, nil)
	if err := s.Sync("", ""); err != nil {
		t.Fatal(err)
	}
	if got := meterPass(t, s, pub); len(got) != 0 {
		t.Fatalf("after reopening, %q", got)
	}
}
