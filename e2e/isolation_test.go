package e2e

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	natsreg "go-micro.dev/v5/registry/nats"

	"go-micro.dev/v5/registry"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/testenv"
)

// TestNamespacesAreIsolated runs the same service name in two namespaces: each
// namespace's registry shows only its own instances, and every path (gateway, API, logs,
// events) refuses the other namespace's token.
func TestNamespacesAreIsolated(t *testing.T) {
	skipShort(t)
	t.Parallel()
	s := startServer(t, t.TempDir())
	ctx := context.Background()
	c := s.client()
	tokens := map[string]string{}
	for _, ns := range []string{"acme", "globex"} {
		s.must(t, "namespaces", "create", ns)
		s.must(t, "deploy", "./examples/helloworld", "-n", ns)
		_, secret, err := c.CreateToken(ctx, platform.CreateTokenRequest{Name: ns + "-dev", Namespaces: []string{ns}})
		must(t, err)
		tokens[ns] = secret
	}

	// Discovery: each namespace's credentials (as its instances got them) see only its
	// own helloworld nodes.
	byNS := map[string][]testenv.Proc{}
	for _, p := range testenv.Instances(t, s.dir) {
		ns := strings.TrimPrefix(strings.SplitN(strings.TrimPrefix(p.Env["MICRO_REGISTRY_ADDRESS"], "nats://"), ":", 2)[0], "ns-")
		byNS[ns] = append(byNS[ns], p)
	}
	if len(byNS["acme"]) != 1 || len(byNS["globex"]) != 1 {
		t.Fatalf("instances by namespace: %v", byNS)
	}
	for ns, procs := range byNS {
		env := procs[0].Env
		reg := natsreg.NewNatsRegistry(registry.Addrs(env["MICRO_REGISTRY_ADDRESS"]), registry.Timeout(500*time.Millisecond))
		svcs, err := reg.GetService("helloworld")
		if err != nil {
			t.Fatalf("%s registry: %v", ns, err)
		}
		var nodes []string
		for _, s := range svcs {
			for _, n := range s.Nodes {
				nodes = append(nodes, n.Id)
			}
		}
		want := "helloworld-" + env["MICRO_SERVER_ID"]
		if len(nodes) != 1 || nodes[0] != want {
			t.Errorf("%s registry shows nodes %v, want only its own %s", ns, nodes, want)
		}
	}

	tests := []struct {
		name, token, ns string
		status          int
	}{
		{"acme token in acme", tokens["acme"], "acme", 200},
		{"globex token in globex", tokens["globex"], "globex", 200},
		{"acme token in globex", tokens["acme"], "globex", 403},
		{"globex token in acme", tokens["globex"], "acme", 403},
		{"acme token in a namespace that does not exist", tokens["acme"], "initech", 403},
	}
	for _, tt := range tests {
		t.Run("gateway/"+tt.name, func(t *testing.T) {
			status, body, err := s.gateway(tt.token, tt.ns, "helloworld", "Helloworld.Call", `{"name":"`+tt.name+`"}`)
			if err != nil || status != tt.status {
				t.Errorf("status = %d %s %v, want %d", status, body, err, tt.status)
			}
		})
	}
	for _, args := range [][]string{
		{"services", "-n", "acme"},
		{"logs", "helloworld", "-n", "acme"},
		{"events", "-n", "acme"},
		{"call", "helloworld", "Helloworld.Call", `{}`, "-n", "acme"},
		{"deploy", "./examples/helloworld", "-n", "acme"},
		{"delete", "helloworld", "-n", "acme"},
	} {
		t.Run("cli/"+strings.Join(args[:1], " "), func(t *testing.T) {
			r := s.platformAs(t, tokens["globex"], args...)
			if r.code == 0 || !strings.Contains(r.stderr, "may not access namespace") {
				t.Errorf("globex token: %s", r)
			}
		})
	}
	nss := s.platformAs(t, tokens["globex"], "namespaces", "list")
	if strings.Contains(nss.stdout, "acme") || !strings.Contains(nss.stdout, "globex") {
		t.Errorf("globex token lists namespaces:\n%s", nss)
	}

	eventually(t, "each namespace's logs hold only its own calls", func() bool {
		acme := s.platformAs(t, tokens["acme"], "logs", "helloworld", "-n", "acme").stdout
		globex := s.platformAs(t, tokens["globex"], "logs", "helloworld", "-n", "globex").stdout
		return strings.Contains(acme, "acme token in acme") && !strings.Contains(acme, "globex token in globex") &&
			strings.Contains(globex, "globex token in globex") && !strings.Contains(globex, "acme token in acme")
	})
	// Secrets stay out of the server's own output: the tokens created above and each
	// namespace's NATS password.
	out := s.out.String()
	for ns, procs := range byNS {
		u, err := url.Parse(procs[0].Env["MICRO_REGISTRY_ADDRESS"])
		must(t, err)
		pass, _ := u.User.Password()
		if pass == "" || strings.Contains(out, pass) {
			t.Errorf("server output shows %s's NATS password (or it has none)", ns)
		}
		if strings.Contains(out, tokens[ns]) {
			t.Errorf("server output shows %s's token", ns)
		}
	}

	// A revoked token stops working at once, on the gateway and the API.
	toks, err := c.ListTokens(ctx)
	must(t, err)
	for _, tok := range toks {
		if tok.Name == "globex-dev" {
			must(t, c.DeleteToken(ctx, tok.ID))
		}
	}
	if status, body, _ := s.gateway(tokens["globex"], "globex", "helloworld", "Helloworld.Call", `{}`); status != 401 {
		t.Errorf("gateway with a revoked token = %d %s, want 401", status, body)
	}
	if r := s.platformAs(t, tokens["globex"], "services", "-n", "globex"); r.code == 0 {
		t.Errorf("API with a revoked token: %s", r)
	}

	evs, err := c.Events(ctx, platform.EventFilter{Namespace: "acme", Limit: 1000})
	must(t, err)
	if i := slices.IndexFunc(evs, func(e *platform.Event) bool { return e.Namespace != "acme" }); i >= 0 {
		t.Errorf("acme events include %+v", evs[i])
	}
}
