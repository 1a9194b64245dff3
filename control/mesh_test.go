package control_test

import (
	"context"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/control"
)

// fakeDevMesh is a platform.DeveloperMesh answering canned environments and clients.
type fakeDevMesh struct {
	clients map[string][]platform.MeshClient
}

func (fakeDevMesh) DeveloperEnv(ns, user, secret string) (map[string]string, string, error) {
	return map[string]string{"MICRO_REGISTRY": "nats", "MICRO_REGISTRY_ADDRESS": "nats://" + user + ":" + secret + "@mesh:4222/" + ns}, "nats://mesh:4222", nil
}

func (m fakeDevMesh) DeveloperClients(string) (map[string][]platform.MeshClient, error) {
	return m.clients, nil
}

func (fakeDevMesh) DeveloperAddr(string) (string, error) { return "127.0.0.1:1", nil }

// TestConnect: developers of a namespace get a mesh credential of theirs for it (audited,
// short-lived, refused on the API); viewers, other namespaces and bad TTLs get nothing; a
// developer lists their own credentials with their clients, an admin everyone's.
func TestConnect(t *testing.T) {
	t.Parallel()
	dm := &fakeDevMesh{}
	h := newAccounts(t, func(o *control.Options) { o.DeveloperMesh = dm })
	h.namespace("acme", "globex")
	dev, _ := h.member("dana", platform.RoleDeveloper)
	viewer, _ := h.member("vic", platform.RoleViewer)
	other, _ := h.member("olga", platform.RoleDeveloper)

	g, err := h.plane.Connect(dev, platform.ConnectRequest{Namespace: "acme", Name: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	if g.Token.Kind != platform.TokenMesh || g.Token.User != "dana" || len(g.Token.Namespaces) != 1 || g.Token.Namespaces[0] != "acme" ||
		g.Token.Role != platform.RoleDeveloper || g.User != platform.MeshUser(g.Token.ID) {
		t.Fatalf("credential = %+v, user %q", g.Token, g.User)
	}
	if g.Token.ExpiresAt == nil || (g.Token.ExpiresAt.Sub(g.Token.CreatedAt)-platform.DefaultConnectTTL).Abs() > time.Second {
		t.Fatalf("credential made %v expires %v, want %s after", g.Token.CreatedAt, g.Token.ExpiresAt, platform.DefaultConnectTTL)
	}
	if !strings.Contains(g.Env["MICRO_REGISTRY_ADDRESS"], g.User+":"+g.Secret+"@") || g.MeshURL != "nats://mesh:4222" {
		t.Fatalf("environment = %v, mesh %q", g.Env, g.MeshURL)
	}
	// The credential authenticates, and opens nothing of the API.
	meshCtx := h.as(g.Secret)
	if _, err := h.plane.ListServices(meshCtx, "acme"); platform.ErrorCode(err) != platform.EFORBIDDEN {
		t.Fatalf("ListServices with a mesh credential = %v, want forbidden", err)
	}
	if _, err := h.plane.Connect(meshCtx, platform.ConnectRequest{Namespace: "acme"}); platform.ErrorCode(err) != platform.EFORBIDDEN {
		t.Fatalf("a mesh credential issues another: %v", err)
	}

	for _, tc := range []struct {
		name string
		req  platform.ConnectRequest
		ctx  context.Context
		code string
	}{
		{"viewer", platform.ConnectRequest{Namespace: "acme"}, viewer, platform.EFORBIDDEN},
		{"unknown namespace", platform.ConnectRequest{Namespace: "nowhere"}, dev, platform.ENOTFOUND},
		{"ttl over the limit", platform.ConnectRequest{Namespace: "acme", TTL: 25 * time.Hour}, dev, platform.EINVALID},
		{"negative ttl", platform.ConnectRequest{Namespace: "acme", TTL: -time.Second}, dev, platform.EINVALID},
	} {
		before, err := h.store.ListTokens(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.plane.Connect(tc.ctx, tc.req)
		if platform.ErrorCode(err) != tc.code {
			t.Errorf("%s: Connect = %v, want %s", tc.name, err, tc.code)
		}
		after, _ := h.store.ListTokens(t.Context())
		if len(after) != len(before) {
			t.Errorf("%s: a refused Connect stored a token", tc.name)
		}
	}

	if _, err := h.plane.Connect(other, platform.ConnectRequest{Namespace: "acme", TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	dm.clients = map[string][]platform.MeshClient{g.Token.ID: {{Remote: "192.0.2.7:5000", Since: time.Now()}}}
	mine, err := h.plane.ListConnections(dev, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(mine) != 1 || mine[0].Token.ID != g.Token.ID || len(mine[0].Clients) != 1 {
		t.Fatalf("dana's connections = %+v, want hers with one client", mine)
	}
	all, err := h.plane.ListConnections(h.owner, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("the owner lists %d connections of acme, want 2", len(all))
	}
	if g, err := h.plane.ListConnections(h.owner, "globex"); err != nil || len(g) != 0 {
		t.Fatalf("globex's connections = %v, %v; want none", g, err)
	}
	if _, err := h.plane.ListConnections(viewer, "acme"); platform.ErrorCode(err) != platform.EFORBIDDEN {
		t.Fatalf("a viewer lists connections: %v", err)
	}

	entries, err := h.store.ListAudit(t.Context(), platform.AuditFilter{Org: platform.DefaultOrg, Action: platform.AuditMeshConnect})
	if err != nil {
		t.Fatal(err)
	}
	var issued, denied int
	for _, e := range entries {
		switch {
		case strings.Contains(e.Detail, g.Secret):
			t.Fatalf("the audit log holds a credential's secret: %+v", e)
		case e.Outcome == platform.AuditOK && e.Target == "namespace/acme":
			issued++
		case e.Outcome == platform.AuditDenied:
			denied++
		}
	}
	if issued != 2 || denied == 0 {
		t.Fatalf("audit of mesh.connect: %d issued, %d denied; want 2 issued and the viewer's refusal", issued, denied)
	}

	// Without a developer mesh, nothing is issued.
	plain := newAccounts(t)
	plain.namespace("acme")
	if _, err := plain.plane.Connect(plain.owner, platform.ConnectRequest{Namespace: "acme"}); platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Fatalf("Connect without a developer mesh = %v, want unavailable", err)
	}
}
