package natsbus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go-micro.dev/v5/broker"
	"go-micro.dev/v5/client"
	"go-micro.dev/v5/selector"

	"github.com/micro/platform"
)

// testGatewaySecret is the secret every test region shares for its gateways.
var testGatewaySecret = []byte("gateway-secret-of-every-region!!")

// region is a Bus joined to a test supercluster, with a function that shuts its
// server down before the test ends (idempotent).
type region struct {
	*Bus
	stop func()
}

// MustStartRegion starts a Bus for region name with its own namespace secret, the
// gateway secret gwSecret, a free gateway port and the given seeds (region → gateway
// URL), with the namespaces ensured, and stops it when the test ends. It skips under
// -short.
func MustStartRegion(tb testing.TB, name string, gwSecret []byte, seeds map[string]string, namespaces ...string) *region {
	tb.Helper()
	return mustStartRegionWith(tb, Options{Gateway: GatewayOptions{Name: name, Secret: gwSecret, Seeds: seeds}}, namespaces...)
}

// mustStartRegionWith is MustStartRegion with opts, Dir and the namespace Secret set
// here.
func mustStartRegionWith(tb testing.TB, opts Options, namespaces ...string) *region {
	tb.Helper()
	if testing.Short() {
		tb.Skip("starts NATS servers")
	}
	name := opts.Gateway.Name
	opts.Dir = tb.TempDir()
	opts.Secret = append([]byte("region-secret-of-"), name...)
	b, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Start(ctx) }()
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	if err := b.WaitReady(rctx); err != nil {
		cancel()
		tb.Fatalf("region %s not ready: %v (start: %v)", name, err, <-done)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("region %s: Start returned %v", name, err)
			}
		})
	}
	tb.Cleanup(stop)
	for _, ns := range namespaces {
		if err := b.EnsureNamespace(ctx, ns); err != nil {
			tb.Fatal(err)
		}
	}
	return &region{Bus: b, stop: stop}
}

// seed returns the seeds naming r.
func (r *region) seed() map[string]string {
	return map[string]string{r.Region(): r.GatewayURL()}
}

// eventually retries check every 50ms until it returns nil, failing the test with its
// last error after timeout.
func eventually(tb testing.TB, timeout time.Duration, what string, check func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// MustConnectRegions waits until every region is connected to every other.
func MustConnectRegions(tb testing.TB, regions ...*region) {
	tb.Helper()
	for _, r := range regions {
		var want []string
		for _, o := range regions {
			if o != r {
				want = append(want, o.Region())
			}
		}
		slices.Sort(want)
		eventually(tb, 20*time.Second, "region "+r.Region()+" connected to the others", func() error {
			if got := r.ConnectedRegions(); !slices.Equal(got, want) {
				return fmt.Errorf("connected to %v, want %v", got, want)
			}
			return nil
		})
	}
}

// callGreeter calls Greeter.Hello on service in ns through b with a short timeout.
func callGreeter(b *Bus, ns, service, name string) (string, error) {
	out, err := b.Call(context.Background(), platform.CallRequest{
		Namespace: ns, Service: service, Endpoint: "Greeter.Hello",
		Body: fmt.Appendf(nil, `{"name":%q}`, name), Timeout: 2 * time.Second,
	})
	if err != nil {
		return "", err
	}
	var rsp HelloResponse
	if err := json.Unmarshal(out, &rsp); err != nil {
		return "", err
	}
	return rsp.Message, nil
}

// MustCallAcross waits until a call through b reaches the node tagged tag: interest
// crosses the gateways a moment after a service subscribed.
func MustCallAcross(tb testing.TB, b *Bus, ns, service, tag string) {
	tb.Helper()
	want := "Hello x from " + tag
	eventually(tb, 20*time.Second, fmt.Sprintf("call %s/%s from region %s reaches %s", ns, service, b.Region(), tag), func() error {
		got, err := callGreeter(b, ns, service, "x")
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("answer %q", got)
		}
		return nil
	})
}

// nodeIDs returns the IDs of the nodes of service in ns as b lists them.
func nodeIDs(b *Bus, ns, service string) ([]string, error) {
	svcs, err := b.Services(context.Background(), ns, service)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, n := range svcs[0].Nodes {
		ids = append(ids, n.ID)
	}
	return ids, nil
}

// TestSuperclusterAcrossRegions joins two regions and checks that a namespace spans
// them (registry, RPC through the Bus and through a go-micro client, broker) and that
// another namespace sees none of it.
func TestSuperclusterAcrossRegions(t *testing.T) {
	t.Parallel()
	a := MustStartRegion(t, "fra1", testGatewaySecret, nil, "acme", "globex")
	b := MustStartRegion(t, "nyc1", testGatewaySecret, a.seed(), "acme", "globex")
	MustConnectRegions(t, a, b)
	if !strings.HasPrefix(a.GatewayURL(), "nats://127.0.0.1:") {
		t.Fatalf("GatewayURL = %q", a.GatewayURL())
	}
	srvA, _ := MustStartService(t, MustNamespaceURL(t, a.Bus, "acme"), "greeter", "v1", &Greeter{Tag: "fra1"})
	nodeA := "greeter-" + srvA.Options().Id

	t.Run("registry of region B lists region A's node", func(t *testing.T) {
		eventually(t, 10*time.Second, "nyc1 lists fra1's greeter", func() error {
			ids, err := nodeIDs(b.Bus, "acme", "greeter")
			if err != nil {
				return err
			}
			if !slices.Equal(ids, []string{nodeA}) {
				return fmt.Errorf("nodes %v, want [%s]", ids, nodeA)
			}
			return nil
		})
	})
	t.Run("Bus.Call on region B reaches region A", func(t *testing.T) {
		MustCallAcross(t, b.Bus, "acme", "greeter", "fra1")
		if err := b.Health(context.Background(), "acme", platform.RegistryNode{ID: nodeA}); err != nil {
			t.Fatalf("Health of fra1's node from nyc1: %v", err)
		}
	})
	t.Run("go-micro client with region B's InstanceEnv reaches region A", func(t *testing.T) {
		p := newMeshParts(MustNamespaceURL(t, b.Bus, "acme"))
		c := client.NewClient(
			client.Selector(selector.NewSelector(selector.Registry(p.reg))),
			client.Registry(p.reg),
			client.Transport(p.tr),
			client.Broker(p.br),
		)
		eventually(t, 10*time.Second, "go-micro call from nyc1", func() error {
			var rsp HelloResponse
			if err := c.Call(context.Background(), c.NewRequest("greeter", "Greeter.Hello", &HelloRequest{Name: "gm"}), &rsp); err != nil {
				return err
			}
			if rsp.Message != "Hello gm from fra1" {
				return fmt.Errorf("answer %q", rsp.Message)
			}
			return nil
		})
	})
	t.Run("broker messages cross regions inside the namespace only", func(t *testing.T) {
		connect := func(r *region, ns string) broker.Broker {
			br := newMeshParts(MustNamespaceURL(t, r.Bus, ns)).br
			if err := br.Connect(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = br.Disconnect() })
			return br
		}
		got := make(chan string, 100)
		sub := connect(a, "acme")
		if _, err := sub.Subscribe("orders", func(e broker.Event) error {
			got <- string(e.Message().Body)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		acmeB, globexB := connect(b, "acme"), connect(b, "globex")
		// The subscription's interest reaches nyc1 a moment later: publish until one
		// arrives.
		eventually(t, 10*time.Second, "acme message from nyc1 reaches fra1", func() error {
			if err := globexB.Publish("orders", &broker.Message{Body: []byte("from globex")}); err != nil {
				return err
			}
			if err := acmeB.Publish("orders", &broker.Message{Body: []byte("from acme")}); err != nil {
				return err
			}
			select {
			case m := <-got:
				if m != "from acme" {
					t.Fatalf("fra1's acme subscriber got %q", m)
				}
				return nil
			case <-time.After(100 * time.Millisecond):
				return errors.New("nothing arrived")
			}
		})
		if err := globexB.Publish("orders", &broker.Message{Body: []byte("from globex")}); err != nil {
			t.Fatal(err)
		}
		for timeout := time.After(500 * time.Millisecond); ; {
			select {
			case m := <-got:
				if m != "from acme" {
					t.Fatalf("fra1's acme subscriber got %q", m)
				}
				continue
			case <-timeout:
			}
			break
		}
	})
	t.Run("another namespace sees and reaches nothing of it", func(t *testing.T) {
		if _, err := b.Services(context.Background(), "globex", "greeter"); platform.ErrorCode(err) != platform.ENOTFOUND {
			t.Fatalf("Services(globex, greeter) on nyc1 = %v, want %s", err, platform.ENOTFOUND)
		}
		if _, err := callGreeter(b.Bus, "globex", "greeter", "x"); platform.ErrorCode(err) != platform.ENOTFOUND {
			t.Fatalf("Call(globex, greeter) on nyc1 = %v, want %s", err, platform.ENOTFOUND)
		}
		list, err := newMeshParts(MustNamespaceURL(t, b.Bus, "globex")).reg.ListServices()
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 0 {
			t.Fatalf("globex's registry on nyc1 lists %d services", len(list))
		}
		// Even knowing the node's subject, globex reaches nothing: the accounts differ.
		ids, err := b.Services(context.Background(), "acme", "greeter")
		if err != nil {
			t.Fatal(err)
		}
		nc, err := nats.Connect(MustNamespaceURL(t, b.Bus, "globex"), nats.NoReconnect())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_, err = nc.Request(ids[0].Nodes[0].Address, []byte(`{}`), 2*time.Second)
		if !errors.Is(err, nats.ErrNoResponders) {
			t.Fatalf("globex request to acme's node subject: %v, want %v", err, nats.ErrNoResponders)
		}
	})
	t.Run("namespace credentials stay per region", func(t *testing.T) {
		// Region A's acme password is not region B's.
		_, err := nats.Connect(b.ClientURL(), nats.UserInfo("ns-acme", a.password("acme")), nats.NoReconnect())
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("fra1's acme credentials on nyc1: %v, want %v", err, nats.ErrAuthorization)
		}
	})
	t.Run("a region in the supercluster runs without JetStream", func(t *testing.T) {
		if err := b.PrepareNamespace(context.Background(), "initech"); err != nil {
			t.Fatalf("PrepareNamespace: %v", err)
		}
		acc, err := b.server().LookupAccount("acme")
		if err != nil {
			t.Fatal(err)
		}
		if acc.JetStreamEnabled() {
			t.Fatal("acme has JetStream in a supercluster")
		}
	})
}

// TestSuperclusterNamespaceCreatedLater creates a namespace on the regions after their
// gateways are up, in either order and with services started before the other region
// has it: calls work both ways once both have it.
func TestSuperclusterNamespaceCreatedLater(t *testing.T) {
	t.Parallel()
	a := MustStartRegion(t, "fra1", testGatewaySecret, nil)
	b := MustStartRegion(t, "nyc1", testGatewaySecret, a.seed())
	MustConnectRegions(t, a, b)
	ctx := context.Background()
	tests := []struct {
		name          string
		ns            string
		first, second *region
	}{
		{name: "region A first", ns: "initech", first: a, second: b},
		{name: "region B first", ns: "umbrella", first: b, second: a},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.first.EnsureNamespace(ctx, tt.ns); err != nil {
				t.Fatal(err)
			}
			MustStartService(t, MustNamespaceURL(t, tt.first.Bus, tt.ns), "early", "v1", &Greeter{Tag: tt.first.Region()})
			MustCall(t, tt.first.Bus, tt.ns, "early", "x")
			if _, err := tt.second.Services(ctx, tt.ns, ""); platform.ErrorCode(err) != platform.ENOTFOUND {
				t.Fatalf("%s lists %s before having it: %v", tt.second.Region(), tt.ns, err)
			}
			// Registrations and interest sent meanwhile went nowhere; nothing must be
			// lost once the second region has the namespace.
			time.Sleep(300 * time.Millisecond)
			if err := tt.second.EnsureNamespace(ctx, tt.ns); err != nil {
				t.Fatal(err)
			}
			MustCallAcross(t, tt.second.Bus, tt.ns, "early", tt.first.Region())
			MustStartService(t, MustNamespaceURL(t, tt.second.Bus, tt.ns), "late", "v1", &Greeter{Tag: tt.second.Region()})
			MustCallAcross(t, tt.first.Bus, tt.ns, "late", tt.second.Region())
		})
	}
}

// TestSuperclusterThirdRegionJoinsLater adds a region seeded with one region only: it
// learns the other from the gateways' gossip, and calls go every way.
func TestSuperclusterThirdRegionJoinsLater(t *testing.T) {
	t.Parallel()
	a := MustStartRegion(t, "fra1", testGatewaySecret, nil, "acme")
	b := MustStartRegion(t, "nyc1", testGatewaySecret, a.seed(), "acme")
	MustConnectRegions(t, a, b)
	MustStartService(t, MustNamespaceURL(t, a.Bus, "acme"), "greeter", "v1", &Greeter{Tag: "fra1"})
	MustStartService(t, MustNamespaceURL(t, b.Bus, "acme"), "billing", "v1", &Greeter{Tag: "nyc1"})
	MustCallAcross(t, b.Bus, "acme", "greeter", "fra1")

	c := MustStartRegion(t, "sgp1", testGatewaySecret, a.seed(), "acme")
	MustConnectRegions(t, a, b, c)
	MustStartService(t, MustNamespaceURL(t, c.Bus, "acme"), "shipping", "v1", &Greeter{Tag: "sgp1"})
	MustCallAcross(t, c.Bus, "acme", "greeter", "fra1")
	MustCallAcross(t, c.Bus, "acme", "billing", "nyc1")
	MustCallAcross(t, b.Bus, "acme", "shipping", "sgp1")
	MustCallAcross(t, a.Bus, "acme", "shipping", "sgp1")
	all, err := c.Services(context.Background(), "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range all {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "billing,greeter,shipping" {
		t.Fatalf("sgp1 lists %s", got)
	}
}

// TestSuperclusterRefusesWrongSecret starts a region whose gateway secret differs: no
// gateway connection is made either way and nothing of it is seen.
func TestSuperclusterRefusesWrongSecret(t *testing.T) {
	t.Parallel()
	a := MustStartRegion(t, "fra1", testGatewaySecret, nil, "acme")
	bad := MustStartRegion(t, "evil1", []byte("another-secret-of-32-bytes-here!"), a.seed(), "acme")
	// A region with the right secret, seeded with both, joins a only.
	b := MustStartRegion(t, "nyc1", testGatewaySecret, map[string]string{"fra1": a.GatewayURL(), "evil1": bad.GatewayURL()}, "acme")
	MustConnectRegions(t, a, b)
	MustStartService(t, MustNamespaceURL(t, bad.Bus, "acme"), "greeter", "v1", &Greeter{Tag: "evil1"})
	MustStartService(t, MustNamespaceURL(t, a.Bus, "acme"), "greeter", "v1", &Greeter{Tag: "fra1"})
	time.Sleep(2 * time.Second) // gateways are solicited 1s after start, retried every 1s
	for _, r := range []*region{a, b} {
		if got := r.ConnectedRegions(); slices.Contains(got, "evil1") {
			t.Fatalf("%s connected to the region with the wrong secret: %v", r.Region(), got)
		}
		if gz, _ := r.server().Gatewayz(nil); gz.InboundGateways["evil1"] != nil || gz.OutboundGateways["evil1"] != nil {
			t.Fatalf("%s has a gateway connection with evil1", r.Region())
		}
	}
	if got := bad.ConnectedRegions(); len(got) != 0 {
		t.Fatalf("the region with the wrong secret is connected to %v", got)
	}
	for _, r := range []*region{a, b} {
		ids, err := nodeIDs(r.Bus, "acme", "greeter")
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != 1 {
			t.Fatalf("%s lists greeter nodes %v, want fra1's only", r.Region(), ids)
		}
		for range 5 {
			if got, err := callGreeter(r.Bus, "acme", "greeter", "x"); err != nil || got != "Hello x from fra1" {
				t.Fatalf("%s: call = %q, %v", r.Region(), got, err)
			}
		}
	}
}

func TestGatewayOptionsValidation(t *testing.T) {
	t.Parallel()
	good := GatewayOptions{Name: "fra1", Secret: testGatewaySecret}
	tests := []struct {
		name    string
		opts    Options
		wantMsg []string // empty: valid
	}{
		{name: "off", opts: Options{}},
		{name: "region with seeds", opts: Options{Gateway: GatewayOptions{Name: "fra1", Secret: testGatewaySecret, Port: 7222,
			Advertise: "fra1.example.com", Seeds: map[string]string{"nyc1": "nats://nyc1.example.com:7222", "sgp1": "nats://10.0.0.7", "fra1": "nats://self:7222"}}}},
		{name: "advertise with port", opts: Options{Gateway: GatewayOptions{Name: "fra1", Secret: testGatewaySecret, Advertise: "203.0.113.5:17222"}}},
		{name: "settings without a region", opts: Options{Gateway: GatewayOptions{Seeds: map[string]string{"nyc1": "nats://nyc1:7222"}}},
			wantMsg: []string{"Gateway.Name (the region) is required"}},
		{name: "bad region name", opts: Options{Gateway: GatewayOptions{Name: "Fra_1", Secret: testGatewaySecret}},
			wantMsg: []string{`invalid region name "Fra_1"`}},
		{name: "short secret", opts: Options{Gateway: GatewayOptions{Name: "fra1", Secret: []byte("short")}},
			wantMsg: []string{"Gateway.Secret must be at least 16 bytes"}},
		{name: "with Remote", opts: Options{Remote: "nats://mesh:4222", Dir: "", Gateway: good},
			wantMsg: []string{"a Bus with Remote cannot have gateways"}},
		{name: "every problem at once", opts: Options{Gateway: GatewayOptions{Name: "fra1", Port: 70000, PingInterval: -1, Advertise: "nats://x:1",
			Seeds: map[string]string{"Bad": "nats://a:1", "nyc1": "http://nyc1:7222", "sgp1": "nats://u:p@sgp1:7222"}}},
			wantMsg: []string{"Gateway.Secret", "Gateway.Port 70000", "PingInterval", `Gateway.Advertise "nats://x:1"`,
				`invalid region name "Bad"`, `seed "http://nyc1:7222"`, `seed "nats://u:p@sgp1:7222"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			if opts.Remote == "" {
				opts.Dir = t.TempDir()
			}
			opts.Secret = testSecret
			_, err := New(opts)
			if len(tt.wantMsg) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if platform.ErrorCode(err) != platform.EINVALID {
				t.Fatalf("New = %v, want %s", err, platform.EINVALID)
			}
			for _, w := range tt.wantMsg {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not report %q", err, w)
				}
			}
		})
	}
}

func TestParseGatewaySeeds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr []string
	}{
		{name: "empty", in: "", want: map[string]string{}},
		{name: "two", in: "fra1=nats://fra1.example.com:7222, nyc1=nats://10.0.0.7",
			want: map[string]string{"fra1": "nats://fra1.example.com:7222", "nyc1": "nats://10.0.0.7"}},
		{name: "malformed", in: "nats://fra1:7222,nyc1=http://x,nyc1=nats://y,Bad=nats://z",
			wantErr: []string{`"nats://fra1:7222" is not REGION=`, `seed "http://x"`, `"nyc1" named twice`, `invalid region name "Bad"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseGatewaySeeds(tt.in)
			if len(tt.wantErr) > 0 {
				if platform.ErrorCode(err) != platform.EINVALID {
					t.Fatalf("err = %v, want %s", err, platform.EINVALID)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not report %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestNodesInSuperclusterKeepTheirControl joins two mesh Nodes into a supercluster,
// each with its platform's remote Bus: a platform's namespace changes reach its own
// Node only, while namespaces span both.
func TestNodesInSuperclusterKeepTheirControl(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts NATS servers")
	}
	startNode := func(name string, seeds map[string]string) *Node {
		n, err := NewNode(Options{Dir: t.TempDir(), Secret: testSecret,
			Gateway: GatewayOptions{Name: name, Secret: testGatewaySecret, Seeds: seeds}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Start(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("node %s: %v", name, err)
			}
		})
		rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
		defer rcancel()
		if err := n.WaitReady(rctx); err != nil {
			t.Fatal(err)
		}
		return n
	}
	n1 := startNode("fra1", nil)
	n2 := startNode("nyc1", map[string]string{"fra1": n1.GatewayURL()})
	eventually(t, 20*time.Second, "nodes connected", func() error {
		if got := n2.ConnectedRegions(); !slices.Equal(got, []string{"fra1"}) {
			return fmt.Errorf("nyc1 connected to %v", got)
		}
		if got := n1.ConnectedRegions(); !slices.Equal(got, []string{"nyc1"}) {
			return fmt.Errorf("fra1 connected to %v", got)
		}
		return nil
	})
	p1 := MustStartRemote(t, n1.Addr(), "", testSecret, "acme")
	p2 := MustStartRemote(t, n2.Addr(), "", testSecret, "acme")
	ctx := context.Background()
	if err := p1.EnsureNamespace(ctx, "initech"); err != nil {
		t.Fatal(err)
	}
	if err := p2.SyncNamespaces(ctx, []string{"acme", "globex"}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(n1.Namespaces(), ","); got != "acme,initech" {
		t.Errorf("fra1's node admits %s, want acme,initech: another region's platform changed it", got)
	}
	if got := strings.Join(n2.Namespaces(), ","); got != "acme,globex" {
		t.Errorf("nyc1's node admits %s, want acme,globex", got)
	}
	MustStartService(t, MustNamespaceURL(t, p1, "acme"), "greeter", "v1", &Greeter{Tag: "fra1"})
	MustCallAcross(t, p2, "acme", "greeter", "fra1")
}

// mustTLSConfig returns a gateway TLS config with a certificate for 127.0.0.1 signed by
// a new CA, trusting that CA both ways.
func mustTLSConfig(tb testing.TB) *tls.Config {
	tb.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		return k
	}
	caKey, leafKey := key(), key()
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test regions CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		tb.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "region"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}
}

// TestSuperclusterTLS joins two regions over TLS; a region without it is refused.
func TestSuperclusterTLS(t *testing.T) {
	t.Parallel()
	cfg := mustTLSConfig(t)
	withTLS := func(name string, seeds map[string]string) Options {
		return Options{Gateway: GatewayOptions{Name: name, Secret: testGatewaySecret, Seeds: seeds, TLS: cfg}}
	}
	a := mustStartRegionWith(t, withTLS("fra1", nil), "acme")
	b := mustStartRegionWith(t, withTLS("nyc1", a.seed()), "acme")
	plain := MustStartRegion(t, "lon1", testGatewaySecret, a.seed(), "acme")
	MustConnectRegions(t, a, b)
	MustStartService(t, MustNamespaceURL(t, a.Bus, "acme"), "greeter", "v1", &Greeter{Tag: "fra1"})
	MustCallAcross(t, b.Bus, "acme", "greeter", "fra1")
	time.Sleep(time.Second)
	if got := plain.ConnectedRegions(); len(got) != 0 {
		t.Fatalf("the region without TLS is connected to %v", got)
	}
	if got := a.ConnectedRegions(); !slices.Equal(got, []string{"nyc1"}) {
		t.Fatalf("fra1 is connected to %v, want nyc1 only", got)
	}
	gz, err := a.server().Gatewayz(nil)
	if err != nil {
		t.Fatal(err)
	}
	if out := gz.OutboundGateways["nyc1"]; out == nil || out.Connection.TLSVersion == "" {
		t.Fatalf("fra1's gateway connection to nyc1 is not TLS: %+v", out)
	}
}
