package http_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	platform "github.com/micro/platform"
	"github.com/micro/platform/auth"
	"github.com/micro/platform/authz"
	"github.com/micro/platform/billing"
	"github.com/micro/platform/control"
	"github.com/micro/platform/gateway"
	platformhttp "github.com/micro/platform/http"
	"github.com/micro/platform/internal/seal"
	"github.com/micro/platform/runtime/fake"
	"github.com/micro/platform/runtimeapi/tunnel"
	"github.com/micro/platform/sqlstore"
)

// matrixMesh answers every call at once and registers nothing.
type matrixMesh struct{}

func (matrixMesh) EnsureNamespace(context.Context, string) error { return nil }
func (matrixMesh) RemoveNamespace(context.Context, string) error { return nil }
func (matrixMesh) InstanceEnv(string) (map[string]string, error) { return map[string]string{}, nil }
func (matrixMesh) Services(context.Context, string, string) ([]*platform.RegisteredService, error) {
	return nil, nil
}
func (matrixMesh) Call(context.Context, platform.CallRequest) ([]byte, error) {
	return []byte(`{}`), nil
}
func (matrixMesh) Health(context.Context, string, platform.RegistryNode) error { return nil }

// matrixBuilder never builds (the plane is not started) and refuses every archive.
type matrixBuilder struct{}

func (matrixBuilder) Build(context.Context, *platform.Build, platform.LogWriter) (string, string, error) {
	return "", "", platform.Errorf(platform.EUNAVAILABLE, "no builds in this test")
}

func (matrixBuilder) StoreArchive(io.Reader) (string, error) {
	return "", platform.Errorf(platform.EINVALID, "not a tar.gz archive")
}

// matrixDevMesh admits developers to a mesh server that accepts connections and closes
// them.
type matrixDevMesh struct{ addr string }

func (m matrixDevMesh) DeveloperEnv(_, user, secret string) (map[string]string, string, error) {
	return map[string]string{"MICRO_REGISTRY": "nats"}, "nats://" + m.addr, nil
}
func (matrixDevMesh) DeveloperClients(string) (map[string][]platform.MeshClient, error) {
	return nil, nil
}
func (m matrixDevMesh) DeveloperAddr(string) (string, error) { return m.addr, nil }

// closingListener accepts connections on 127.0.0.1 and closes them, until the test ends.
func closingListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}

// realServer is the API as the server wires it: SQLite store, caching authenticator,
// control plane, gateway mounted at /api, listening on a TCP port.
type realServer struct {
	url   string
	store *sqlstore.Store
	plane *control.Plane
	// tokens are the callers' tokens as made: deleting a namespace takes it out of the
	// tokens narrowed to it, so ensure puts them back.
	tokens []platform.Token
}

func newRealServer(t *testing.T) *realServer {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlstore.Open(t.Context(), filepath.Join(dir, "platform.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := auth.NewAuthenticator(st, auth.Options{})
	box, err := seal.New([]byte("test secret key, 32 bytes long!!"), "release-env")
	if err != nil {
		t.Fatal(err)
	}
	plans := billing.DefaultPlans() // billing on, so that its routes answer allowed callers
	plane, err := control.New(control.Options{Store: st, Mesh: matrixMesh{}, Driver: fake.New(fake.Options{}), Builder: matrixBuilder{},
		Sources: matrixBuilder{}, Secrets: box, Auth: a, BuildLogDir: filepath.Join(dir, "buildlogs"), Plans: &plans,
		DeveloperMesh: matrixDevMesh{addr: closingListener(t)}})
	if err != nil {
		t.Fatal(err)
	}
	gw := gateway.New(gateway.Options{Mesh: matrixMesh{}, Auth: a, Usage: st, Logger: slog.New(slog.DiscardHandler)})
	api := platformhttp.NewServer(platformhttp.Options{Addr: "127.0.0.1:0", ControlPlane: plane, Auth: a, Gateway: gw, Regions: plane.RegionHandler()})
	if err := api.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 3)
	go func() { _ = api.Serve(ctx); done <- struct{}{} }()
	go func() { _ = gw.Start(ctx); done <- struct{}{} }()
	// The plane runs its in-process region, which calls and logs go through.
	go func() { _ = plane.Start(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done; <-done })
	for deadline := time.Now().Add(30 * time.Second); !plane.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the control plane's local region did not connect")
		}
	}
	return &realServer{url: "http://" + api.Addr(), store: st, plane: plane}
}

// places are where a namespace route is tried: the caller's own namespace, another of
// the caller's organisation (outside a narrowed token), one of another organisation.
var places = []struct{ name, ns, org string }{
	{"own", "own", platform.DefaultOrg},
	{"other", "other", platform.DefaultOrg},
	{"other-org", "foreign", "globex"},
}

// ensure (re)creates what the matrix needs; allowed requests may have deleted or changed
// some of it.
func (s *realServer) ensure(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	if _, err := s.store.GetOrg(ctx, "globex"); platform.IsNotFound(err) {
		if err := s.store.CreateOrg(ctx, &platform.Org{Name: "globex"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range places {
		if _, err := s.store.GetNamespace(ctx, p.ns); platform.IsNotFound(err) {
			if err := s.store.CreateNamespace(ctx, &platform.Namespace{Name: p.ns, Org: p.org}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tok := range s.tokens {
		got, err := s.store.GetTokenByHash(ctx, tok.Hash)
		if err == nil && slices.Equal(got.Namespaces, tok.Namespaces) {
			continue
		}
		if err == nil {
			err = s.store.DeleteToken(ctx, tok.ID)
		}
		if err != nil && !platform.IsNotFound(err) {
			t.Fatal(err)
		}
		if err := s.store.CreateToken(ctx, &tok); err != nil {
			t.Fatal(err)
		}
	}
}

// caller is one token of the matrix and the token the policy is expected to judge.
type caller struct {
	name   string
	secret string
	tok    *platform.Token
}

// callers creates, for every role, a member of the default org with two tokens: one for
// every namespace and one narrowed to "own". A "target" viewer is there to be managed.
func (s *realServer) callers(t *testing.T) []caller {
	t.Helper()
	ctx := t.Context()
	var out []caller
	for _, login := range []string{"target", "r-viewer", "r-developer", "r-admin", "r-owner"} {
		role := platform.Role(strings.TrimPrefix(login, "r-"))
		if login == "target" {
			role = platform.RoleViewer
		}
		u := &platform.User{ID: "u-" + login, Login: login, Source: platform.UserLocal}
		if err := s.store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := s.store.PutMembership(ctx, &platform.Membership{Org: platform.DefaultOrg, UserID: u.ID, Role: role, Source: platform.MemberLocal}); err != nil {
			t.Fatal(err)
		}
		if login == "target" {
			continue
		}
		for _, narrowed := range []bool{false, true} {
			secret, hash := auth.NewSecret()
			tok := &platform.Token{ID: platform.NewID("t"), Name: login, Hash: hash, UserID: u.ID, Org: platform.DefaultOrg, Role: role}
			name := string(role) + "/whole-org"
			if narrowed {
				tok.Namespaces, name = []string{"own"}, string(role)+"/narrowed"
			}
			if err := s.store.CreateToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
			s.tokens = append(s.tokens, *tok)
			tok.MemberRole = role
			out = append(out, caller{name: name, secret: secret, tok: tok})
		}
	}
	return out
}

// bodies are valid requests for the routes that take one, so that an allowed request
// is judged by the policy and not refused for its shape first.
var bodies = map[string]string{
	"POST /v1/namespaces":              `{"name":"made-by-matrix"}`,
	"POST /v1/namespaces/{ns}/sources": "\x1f\x8bnot really",
	"POST /v1/namespaces/{ns}/deploys": `{"service":"api","source":{"kind":"git","url":"https://example.com/x.git"}}`,
	"POST /v1/namespaces/{ns}/call":    `{"service":"api","endpoint":"Api.Call","request":{}}`,
	"POST /v1/tokens":                  `{"name":"made-by-matrix","role":"viewer"}`,
	"PUT /v1/regions/{name}":           `{"provider":"local","location":"here"}`,
	"POST /v1/users":                   `{"login":"made-by-matrix","role":"viewer"}`,
	"PUT /v1/users/{login}/role":       `{"role":"viewer"}`,
	"PUT /v1/org/github":               `{"links":[]}`,
	"POST /v1/namespaces/{ns}/repos":   `{"repo":"acme/api"}`,
	"POST /api/*":                      `{}`,
	"POST /v1/alerts/rules":            `{"name":"made-by-matrix","kind":"error_rate","op":">","threshold":5,"window":"5m","severity":"warning"}`,
	"POST /v1/alerts/channels":         `{"name":"made-by-matrix","kind":"webhook","config":{"url":"https://hooks.example.com/matrix"},"secret":"matrix-key"}`,
	"POST /v1/alerts/silences":         `{"for":"1h","comment":"made by matrix"}`,
	"PUT /v1/billing/plan":             `{"plan":"pro"}`,
}

// path fills a route pattern's parameters.
func path(pattern, ns string) string {
	r := strings.NewReplacer("{ns}", ns, "{svc}", "api", "{id}", "x-missing", "{login}", "target", "{name}", "matrix-region", "*", "api/Api.Call")
	return r.Replace(pattern)
}

// TestAuthorizationMatrix sends every route of the API and the gateway through the real
// HTTP server for every role, with a whole-org and a narrowed token, in the caller's own
// namespace, another namespace and another organisation's, and checks that the answer is
// 403 exactly where authz.Check refuses the route's action (RoutePolicy). A route with no
// policy entry fails the test.
func TestAuthorizationMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("matrix over the real server skipped under -short")
	}
	t.Parallel()
	s := newRealServer(t)
	s.ensure(t)
	callers := s.callers(t)
	routes := walkRoutes(t, s.plane)
	for _, r := range routes {
		if _, ok := platformhttp.RoutePolicy[r]; !ok {
			t.Errorf("route %q has no entry in http.RoutePolicy: say which authz action it is held to", r)
		}
	}
	for r := range platformhttp.RoutePolicy {
		if !slices.Contains(routes, r) {
			t.Errorf("http.RoutePolicy has %q, which the router does not serve", r)
		}
	}
	keys := make([]string, 0, len(platformhttp.RoutePolicy))
	for k := range platformhttp.RoutePolicy {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	client := &http.Client{Timeout: 30 * time.Second}
	checked := 0
	for _, key := range keys {
		rule := platformhttp.RoutePolicy[key]
		if rule.Public || rule.Agent {
			continue // Agent routes: TestAgentRoutesRefuseAPITokens
		}
		method, pattern, _ := strings.Cut(key, " ")
		for _, c := range callers {
			for _, pl := range places {
				if rule.Namespace == "" && pl.name != "own" {
					continue // not about a namespace: one try per caller
				}
				ns, nsOrg := pl.ns, pl.org
				if rule.Namespace == "" {
					ns, nsOrg = "", ""
				}
				wantErr := authz.Check(c.tok, rule.Action, ns, nsOrg)
				req, err := http.NewRequest(method, s.url+path(pattern, pl.ns), strings.NewReader(bodies[key]))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+c.secret)
				if rule.Namespace == gateway.HeaderNamespace {
					req.Header.Set(gateway.HeaderNamespace, pl.ns)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				where := fmt.Sprintf("%s as %s in %s", key, c.name, pl.name)
				switch {
				case wantErr != nil && resp.StatusCode != http.StatusForbidden:
					t.Errorf("%s: status %d (%s), want 403: %s", where, resp.StatusCode, body, platform.ErrorMessage(wantErr))
				case wantErr == nil && (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized || resp.StatusCode >= 500):
					t.Errorf("%s: status %d (%s), want it allowed", where, resp.StatusCode, body)
				case wantErr != nil:
					var e struct {
						Error struct{ Code, Message string }
					}
					if json.Unmarshal(body, &e) != nil || e.Error.Code != platform.EFORBIDDEN || e.Error.Message == "" {
						t.Errorf("%s: refusal body %s, want the forbidden error with a reason", where, body)
					}
				}
				checked++
				s.ensure(t)
			}
		}
	}
	if checked < 400 {
		t.Fatalf("checked only %d requests", checked)
	}
	t.Logf("%d requests checked", checked)

	// Refusals are in the audit log, the gateway's included (written asynchronously).
	owner := platform.NewContextWithToken(t.Context(), callers[len(callers)-2].tok)
	deadline := time.Now().Add(30 * time.Second)
	for {
		denied, err := s.plane.ListAudit(owner, platform.AuditFilter{Actor: "r-viewer", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var deploy, call bool
		for _, e := range denied {
			deploy = deploy || (e.Action == string(authz.ServiceDeploy) && e.Outcome == platform.AuditDenied && e.Target == "namespace/own" && strings.HasPrefix(e.Source, "127.0.0.1:"))
			call = call || (e.Action == string(authz.ServiceCall) && e.Outcome == platform.AuditDenied && e.Target == "service/own/api")
		}
		if deploy && call {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refusals not audited (deploy %v, gateway call %v) in %d entries", deploy, call, len(denied))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// walkRoutes lists the server's routes as "METHOD pattern", the gateway as "POST /api/*".
func walkRoutes(t *testing.T, cp platform.ControlPlane) []string {
	t.Helper()
	api := platformhttp.NewServer(platformhttp.Options{ControlPlane: cp, Auth: fakeAuth{}, Gateway: http.NotFoundHandler(), Regions: http.NotFoundHandler(),
		RepoWebhooks: noWebhooks{}})
	var out []string
	err := chi.Walk(api.Handler().(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasPrefix(route, "/api/") {
			route, method = "/api/*", http.MethodPost // the gateway takes POST only
		}
		if k := method + " " + route; !slices.Contains(out, k) {
			out = append(out, k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOpenAPIActions checks that the OpenAPI document states each route's policy action
// (x-action), as http.RoutePolicy has it.
func TestOpenAPIActions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &fakeControlPlane{}, nil)
	_, body := ts.do(t, "GET", "/v1/openapi.json", "", nil)
	var doc struct {
		Paths map[string]map[string]struct {
			Action string `json:"x-action"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			key := strings.ToUpper(method) + " " + path
			rule, ok := platformhttp.RoutePolicy[key]
			if !ok {
				t.Errorf("%s is documented but has no policy", key)
				continue
			}
			if string(rule.Action) != op.Action {
				t.Errorf("%s: x-action %q, RoutePolicy says %q", key, op.Action, rule.Action)
			}
		}
	}
}

// TestTokenRevocationMatrix sends DELETE /v1/tokens/{id} through the real server for
// every token an owner may hold (each role, for every namespace or narrowed to "own")
// against each of the owner's other tokens, itself, and a developer's token (issue 9,
// finding 4: a viewer or narrowed token of the owner revoked the owner's admin token).
// The rule, written out here by hand: a token revokes itself; another of its user's
// tokens with the developer role or higher, when its role is at least the target's and,
// if narrowed, the target is narrowed within its namespaces; another member's token as
// an admin or owner for every namespace, of no higher role.
func TestTokenRevocationMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("matrix over the real server skipped under -short")
	}
	t.Parallel()
	s := newRealServer(t)
	s.ensure(t)
	ctx := t.Context()
	for _, u := range []struct {
		login string
		role  platform.Role
	}{{"alice", platform.RoleOwner}, {"bob", platform.RoleDeveloper}} {
		if err := s.store.CreateUser(ctx, &platform.User{ID: "u-" + u.login, Login: u.login, Source: platform.UserLocal}); err != nil {
			t.Fatal(err)
		}
		if err := s.store.PutMembership(ctx, &platform.Membership{Org: platform.DefaultOrg, UserID: "u-" + u.login, Role: u.role, Source: platform.MemberLocal}); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(user string, role platform.Role, ns ...string) (*platform.Token, string) {
		t.Helper()
		secret, hash := auth.NewSecret()
		tok := &platform.Token{ID: platform.NewID("t"), Name: fmt.Sprintf("%s-%s-%v", user, role, ns), Hash: hash, UserID: "u-" + user,
			Org: platform.DefaultOrg, Role: role, Namespaces: ns}
		if err := s.store.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		return tok, secret
	}
	scopes := map[string][]string{"whole-org": nil, "own": {"own"}, "other": {"other"}}
	client := &http.Client{Timeout: 30 * time.Second}
	revoke := func(secret, id string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodDelete, s.url+"/v1/tokens/"+id, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	checked := 0
	for _, callerRole := range platform.Roles {
		for _, callerScope := range []string{"whole-org", "own"} {
			narrowed := callerScope != "whole-org"
			type target struct {
				name  string
				allow bool
				make  func() *platform.Token
			}
			var targets []target
			for _, role := range platform.Roles {
				for _, scope := range []string{"whole-org", "own", "other"} {
					allow := callerRole.AtLeast(platform.RoleDeveloper) && callerRole.AtLeast(role) &&
						(!narrowed || scope == "own")
					targets = append(targets, target{"alice's " + string(role) + "/" + scope, allow, func() *platform.Token {
						tok, _ := mk("alice", role, scopes[scope]...)
						return tok
					}})
				}
			}
			targets = append(targets, target{"bob's developer/whole-org", callerRole.AtLeast(platform.RoleAdmin) && !narrowed, func() *platform.Token {
				tok, _ := mk("bob", platform.RoleDeveloper)
				return tok
			}})
			targets = append(targets, target{"itself", true, nil})
			for _, tg := range targets {
				self, secret := mk("alice", callerRole, scopes[callerScope]...)
				victim := self
				if tg.make != nil {
					victim = tg.make()
				}
				code, body := revoke(secret, victim.ID)
				where := fmt.Sprintf("alice's %s/%s revoking %s", callerRole, callerScope, tg.name)
				switch {
				case tg.allow && code != http.StatusNoContent:
					t.Errorf("%s: status %d (%s), want 204", where, code, body)
				case !tg.allow && code != http.StatusForbidden:
					t.Errorf("%s: status %d (%s), want 403", where, code, body)
				case !tg.allow:
					if _, err := s.store.GetTokenByHash(ctx, victim.Hash); err != nil {
						t.Errorf("%s: refused, but the token is gone: %v", where, err)
					}
				}
				checked++
			}
		}
	}
	t.Logf("%d revocations checked", checked)
}

// TestDeployRefusesBadGitSources is issue 9's finding 6b through the API: a git URL, ref
// or path git would read as an option or transport, or that leaves the tree, is 400
// with the field named, and nothing is stored (no service, no build, no release).
func TestDeployRefusesBadGitSources(t *testing.T) {
	t.Parallel()
	s := newRealServer(t)
	s.ensure(t)
	ctx := t.Context()
	secret, hash := auth.NewSecret()
	if err := s.store.CreateToken(ctx, &platform.Token{ID: platform.NewID("t"), Name: "admin", Hash: hash, Admin: true}); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	for _, tt := range []struct{ name, source, msg string }{
		{"ext transport", `{"kind":"git","url":"ext::sh -c touch% /tmp/pwned"}`, "git transports"},
		{"url is an option", `{"kind":"git","url":"--upload-pack=touch /tmp/pwned"}`, "source.url"},
		{"ref is an option", `{"kind":"git","url":"https://example.com/x.git","ref":"--upload-pack=touch /tmp/pwned"}`, "source.ref"},
		{"path leaves the tree", `{"kind":"git","url":"https://example.com/x.git","path":"a/../../.."}`, "source.path"},
		{"absolute path", `{"kind":"git","url":"https://example.com/x.git","path":"/etc"}`, "is absolute"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"service":"api","source":` + tt.source + `}`
			req, err := http.NewRequest(http.MethodPost, s.url+"/v1/namespaces/own/deploys", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+secret)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e struct {
				Error struct{ Code, Message string }
			}
			if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(got, &e) != nil || e.Error.Code != platform.EINVALID || !strings.Contains(e.Error.Message, tt.msg) {
				t.Fatalf("status %d (%s), want 400 invalid naming %q", resp.StatusCode, got, tt.msg)
			}
		})
	}
	svcs, err := s.store.ListServices(ctx, "own")
	if err != nil {
		t.Fatal(err)
	}
	builds, err := s.store.ListBuilds(ctx, "own", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != 0 || len(builds) != 0 {
		t.Fatalf("refused deploys stored %d services and %d builds", len(svcs), len(builds))
	}
}

// TestAgentRoutesRefuseAPITokens sends the agents' routes through the real server with
// the control plane's RegionHandler: no API token of any role opens the tunnel or calls
// ControlService (the API's authentication does not run there, and the handler knows
// region tokens only), while the region's own token does both.
func TestAgentRoutesRefuseAPITokens(t *testing.T) {
	if testing.Short() {
		t.Skip("real server skipped under -short")
	}
	t.Parallel()
	s := newRealServer(t)
	s.ensure(t)
	callers := s.callers(t)
	ctx := t.Context()
	const regionName = "agent-region"
	if err := s.store.PutRegion(ctx, &platform.Region{Name: regionName, Provider: "local"}); err != nil {
		t.Fatal(err)
	}
	regionSecret, hash := auth.NewSecret()
	if err := s.store.SetRegionToken(ctx, regionName, hash); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	authenticate := func(secret string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, s.url+"/platform.runtime.v1.ControlService/Authenticate",
			strings.NewReader(`{"secret":"`+callers[0].secret+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Micro-Region", regionName)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, c := range callers {
		if code, body := upgrade(t, s.url, regionName, c.secret); code != http.StatusUnauthorized {
			t.Errorf("tunnel as %s: status %d (%s), want 401", c.name, code, body)
		}
		if code, body := authenticate(c.secret); code != http.StatusUnauthorized {
			t.Errorf("ControlService as %s: status %d (%s), want 401", c.name, code, body)
		}
	}
	if code, body := authenticate(regionSecret); code != http.StatusOK {
		t.Errorf("ControlService with the region token: status %d (%s), want 200", code, body)
	}
	if code, body := upgrade(t, s.url, regionName, regionSecret); code != http.StatusSwitchingProtocols {
		t.Errorf("tunnel with the region token: status %d (%s), want 101", code, body)
	}
}

// upgrade asks baseURL for the runtime tunnel as region's agent with secret and returns
// the status and, when it is not 101, the body.
func upgrade(t *testing.T, baseURL, region, secret string) (int, string) {
	t.Helper()
	u, err := url.Parse(baseURL)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	req, err := http.NewRequest(http.MethodGet, baseURL+tunnel.ConnectPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", tunnel.Protocol)
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set(tunnel.RegionHeader, region)
	if err := req.Write(nc); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return resp.StatusCode, ""
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// noWebhooks stands for the GitOps receiver: the route exists, the policy says public.
type noWebhooks struct{}

func (noWebhooks) ServeLink(w http.ResponseWriter, _ *http.Request, _ string) {
	w.WriteHeader(http.StatusUnauthorized)
}
