package kubernetes_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/micro/platform/internal/kubetest"
	"github.com/micro/platform/runtime"
	"github.com/micro/platform/runtime/kubernetes"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// counter counts the API requests of a rest.Config, by verb.
type counter struct {
	mu    sync.Mutex
	verbs map[string]int
	total atomic.Int64
}

// count makes cfg's clients count their requests in c.
func (c *counter) count(cfg *rest.Config) *rest.Config {
	c.verbs = map[string]int{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			verb := r.Method
			if r.Method == http.MethodGet && r.URL.Query().Get("watch") == "true" {
				verb = "WATCH"
			}
			c.mu.Lock()
			c.verbs[verb]++
			c.mu.Unlock()
			c.total.Add(1)
			return rt.RoundTrip(r)
		})
	})
	return cfg
}

// snapshot returns the counts by verb so far.
func (c *counter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.verbs))
	for k, v := range c.verbs {
		out[k] = v
	}
	return out
}

// writes is the number of mutating requests in a snapshot.
func writes(s map[string]int) int {
	return s[http.MethodPost] + s[http.MethodPut] + s[http.MethodPatch] + s[http.MethodDelete]
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

var testSeq atomic.Int64

// unique returns a name no other test of this binary uses, for owners and prefixes.
func unique(base string) string {
	return fmt.Sprintf("%s%d", base, testSeq.Add(1))
}

// testDriver is a driver with its own owner and namespace prefix, recovered, and closed
// at cleanup.
type testDriver struct {
	*kubernetes.Driver
	opts   kubernetes.Options
	events *recorder
}

// newDriver returns a recovered driver for the test API server with opts (Config,
// OnEvent, Owner and NamespacePrefix filled in when empty).
func newDriver(t testing.TB, opts kubernetes.Options) *testDriver {
	t.Helper()
	if opts.Config == nil {
		opts.Config = kubetest.Config(t)
	}
	if opts.Owner == "" {
		opts.Owner = unique("t")
	}
	if opts.NamespacePrefix == "" {
		opts.NamespacePrefix = opts.Owner + "-"
	}
	rec := &recorder{}
	if opts.OnEvent == nil {
		opts.OnEvent = rec.record
	}
	d, err := kubernetes.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.Recover(ctx); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	return &testDriver{Driver: d, opts: opts, events: rec}
}

// adminClient returns a client with full rights on the test API server.
func adminClient(t testing.TB) client.Client {
	t.Helper()
	c, err := client.New(kubetest.Config(t), client.Options{})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return c
}

// recorder keeps the events a driver reports.
type recorder struct {
	mu     sync.Mutex
	events []runtime.Event
}

func (r *recorder) record(e runtime.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// find returns the events of kind for instance (any instance when "").
func (r *recorder) find(kind runtime.EventKind, instance string) []runtime.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []runtime.Event
	for _, e := range r.events {
		if e.Kind == kind && (instance == "" || e.InstanceID == instance) {
			out = append(out, e)
		}
	}
	return out
}

// waitFor polls cond every 20ms until it holds, failing the test after a minute.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hasPrefix(s, prefix string) bool { return strings.HasPrefix(s, prefix) }
