package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/auth"
	"github.com/micro/platform/client"
	"github.com/micro/platform/internal/browsertest"
	"github.com/micro/platform/sqlstore"
)

// dashboardTour is a browser session on the dashboard that screenshots, checks the
// accessibility of and keeps the HTML of every page it visits, so that the test can
// grep all of them for secrets.
type dashboardTour struct {
	t     *testing.T
	p     *browsertest.Page
	base  string
	pages map[string]string
}

// visit loads path, waits for sel, then screenshots and checks the page.
func (d *dashboardTour) visit(name, path, sel string) {
	d.t.Helper()
	d.p.Navigate(d.base+path, sel)
	d.check(name)
}

// check screenshots the page as it is and keeps its HTML.
func (d *dashboardTour) check(name string) {
	d.t.Helper()
	d.p.Screenshot(name)
	d.p.AssertAccessible()
	d.pages[name] = d.p.HTML()
}

func (d *dashboardTour) signIn(token string) {
	d.t.Helper()
	d.p.Navigate(d.base+"/", "#token")
	d.p.Fill("#token", token)
	d.p.Click(`form[action="/ui/signin"] button[type=submit]`)
	d.p.WaitVisible("nav.side")
}

// status of a fetch the page makes itself, as a script in it could.
func (d *dashboardTour) forced(method, path, body string, headers map[string]string) int {
	d.t.Helper()
	h := "{"
	for k, v := range headers {
		h += fmt.Sprintf("%q: %q,", k, v)
	}
	h += "}"
	var status int
	d.p.Eval(fmt.Sprintf(`fetch(%q, {method: %q, credentials: "same-origin", headers: %s, body: %s}).then(r => r.status)`,
		path, method, h, jsBody(body)), &status)
	return status
}

func jsBody(body string) string {
	if body == "" {
		return "undefined"
	}
	return fmt.Sprintf("%q", body)
}

// csrfCookie is the page's double-submit token, as its own script reads it.
func (d *dashboardTour) csrfCookie() string {
	var tok string
	d.p.Eval(`(document.cookie.split("; ").find(c => c.startsWith("platform_csrf=")) || "=").split("=")[1]`, &tok)
	return tok
}

// TestDashboard walks the dashboard in real Chromium against the real server: sign in,
// create a namespace, deploy the example from the page and see it go live, call it from
// the generated form, see its log line arrive live, roll back, create and revoke a token;
// a viewer sees no button to change anything and is refused when forcing it; another
// organisation's service is a 404; no page shows a secret; every page passes axe-core.
func TestDashboard(t *testing.T) {
	skipShort(t)
	const channelSecret = "whsec-dashboard-hmac-0123456789"
	t.Parallel()
	ctx := context.Background()
	data := t.TempDir()
	s := startServer(t, data)
	git := gitDaemon(t, "examples/helloworld", "hello", "v1")

	// Another organisation, made through the store as docs/accounts.md says, with a
	// service of its own.
	globexToken := globexAdmin(t, data)
	globex := client.New(s.url(), client.WithToken(globexToken))
	if _, err := globex.CreateNamespace(ctx, "globex-apps"); err != nil {
		t.Fatal(err)
	}
	globexDeploy := make(chan result, 1)
	go func() {
		globexDeploy <- s.platformAs(t, globexToken, "deploy", "./examples/helloworld", "-n", "globex-apps")
	}()

	tour := &dashboardTour{t: t, p: browsertest.NewPage(t), base: s.url(), pages: map[string]string{}}
	p := tour.p

	// Sign in: a wrong token is refused and says so, the admin token signs in.
	p.Navigate(s.url()+"/", "#token")
	tour.check("signin")
	p.Fill("#token", "mp_not_a_token")
	p.Click(`form[action="/ui/signin"] button[type=submit]`)
	p.WaitText(".error", "not accepted")
	tour.signIn(s.token)
	p.WaitText("main h1", "Namespaces")
	tour.check("namespaces-empty")

	// Create a namespace from the page.
	p.Fill("#ns-name", "acme")
	p.Click(`form[action="/ui/namespaces"] button[type=submit]`)
	p.WaitText(".flash", "Namespace acme created")
	tour.check("services-empty")

	// Deploy the example from the page and watch it go live.
	tour.visit("new-service", "/ui/n/acme/new", "#svc-name")
	p.Fill("#svc-name", "helloworld")
	p.Fill("#svc-url", git)
	p.Fill("#svc-ref", "v1")
	p.Fill("#svc-path", "hello")
	p.Click(`form[action="/ui/n/acme/new"] button[type=submit]`)
	p.WaitText(".flash", "Deploying helloworld v1")
	tour.check("release-building")
	p.Timeout = 4 * time.Minute
	p.WaitText("[data-release-status]", "live")
	p.Timeout = 0
	if cls := attr(t, p, `[data-step="live"]`, "className"); cls != "done" {
		t.Errorf("the serving step of a live release is %q, want done", cls)
	}
	tour.check("release-live")
	// A service that does not compile: the release page says so, with the compiler's
	// output and what to do, and nothing else changes.
	broken := t.TempDir()
	must(t, os.CopyFS(broken, os.DirFS("../examples/helloworld")))
	main, err := os.ReadFile(filepath.Join(broken, "main.go"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(broken, "main.go"), []byte(strings.Replace(string(main), "rsp.Message = ", "rsp.Message = undefinedGreeting + ", 1)), 0o644))
	brokenGit := gitDaemon(t, broken, "svc", "v1")
	tour.visit("new-service-broken", "/ui/n/acme/new", "#svc-name")
	p.Fill("#svc-name", "broken")
	p.Fill("#svc-url", brokenGit)
	p.Fill("#svc-path", "svc")
	p.Click(`form[action="/ui/n/acme/new"] button[type=submit]`)
	p.Timeout = 3 * time.Minute
	p.WaitText("[data-release-status]", "failed")
	p.WaitText("[data-buildlog]", "undefined: undefinedGreeting")
	p.Timeout = 0
	if cls := attr(t, p, `[data-step="build"]`, "className"); cls != "failed" {
		t.Errorf("the build step of a release that did not compile is %q, want failed", cls)
	}
	if hint := p.Text("[data-release-hint]"); !strings.Contains(hint, "Fix the code and deploy again") {
		t.Errorf("the failed build's hint: %q", hint)
	}
	tour.check("release-build-failed")

	tour.visit("services", "/ui/n/acme", "table.services")
	if row := p.Text("table.services tbody tr:nth-child(2)"); !strings.Contains(row, "helloworld") || !strings.Contains(row, "running") || !strings.Contains(row, "v1") {
		t.Errorf("services row: %q", row)
	}
	tour.visit("service", "/ui/n/acme/s/helloworld", "dl.facts")

	// Call Helloworld.Call from the form generated from its request type.
	tour.visit("endpoints", "/ui/n/acme/s/helloworld/endpoints", "#ep-Helloworld-Call-name")
	// The form starts from the handler's doc comment: its description and @example.
	if body := attr(t, p, "#ep-Helloworld-Call-body", "value"); !strings.Contains(body, `"name": "Alice"`) {
		t.Errorf("the call form's body does not start from the @example: %q", body)
	}
	if name := attr(t, p, "#ep-Helloworld-Call-name", "value"); name != "Alice" {
		t.Errorf("the name field does not start from the @example: %q", name)
	}
	if txt := p.Text("#ep-Helloworld-Call"); !strings.Contains(txt, "Call greets a person by name.") {
		t.Errorf("the endpoint's description is missing: %q", txt)
	}
	p.Fill("#ep-Helloworld-Call-name", "Ada")
	if body := attr(t, p, "#ep-Helloworld-Call-body", "value"); !strings.Contains(body, `"name": "Ada"`) {
		t.Errorf("the body does not follow the field: %q", body)
	}
	p.Fill("#ep-Helloworld-Call-name", "Alice")
	p.Click(`#ep-Helloworld-Call button[type=submit]`)
	p.WaitText("#ep-Helloworld-Call [data-response]", `"message": "Hello Alice"`)
	if cli := attr(t, p, "#ep-Helloworld-Call-cli", "textContent"); cli != `platform call helloworld Helloworld.Call '{"name":"Alice"}' -n acme` {
		t.Errorf("CLI line: %q", cli)
	}
	if curl := attr(t, p, "#ep-Helloworld-Call-curl", "textContent"); !strings.Contains(curl, `-d '{"name":"Alice"}' `+s.url()+"/api/helloworld/Helloworld.Call") {
		t.Errorf("curl line: %q", curl)
	}
	tour.check("endpoints-called")

	// The agents page: the namespace's MCP endpoint on this server and the tool an agent
	// sees for the endpoint just called.
	tour.visit("agents", "/ui/n/acme/agents", "table.tools")
	if txt := p.Text("table.tools"); !strings.Contains(txt, "helloworld.Helloworld.Call") || !strings.Contains(txt, "Call greets a person by name.") {
		t.Errorf("the agents page's tools: %q", txt)
	}
	if u := attr(t, p, "#mcp-url", "value"); u != s.url()+"/mcp/acme" {
		t.Errorf("the agents page's MCP endpoint: %q, want %s/mcp/acme", u, s.url())
	}

	// The log line of a call appears live.
	tour.visit("logs", "/ui/n/acme/s/helloworld/logs", "[data-log-view]")
	p.WaitText("[data-log-state]", "Live")
	if code, body, err := s.gateway(s.token, "acme", "helloworld", "Helloworld.Call", `{"name":"Bob"}`); err != nil || code != 200 {
		t.Fatalf("gateway call: %d %s %v", code, body, err)
	}
	p.WaitText("[data-log-view]", `Helloworld.Call name="Bob"`)
	tour.check("logs-live")

	// A second release (from the CLI, with a secret in its environment), then roll back
	// to v1 from the releases page.
	const envSecret = "sk_live_dashboard_must_not_show_this"
	s.must(t, "deploy", "./examples/helloworld", "-n", "acme", "--env", "API_KEY="+envSecret)
	tour.visit("settings", "/ui/n/acme/s/helloworld/settings", "dl.facts")
	if txt := p.Text("dl.facts"); !strings.Contains(txt, "API_KEY") || !strings.Contains(txt, "sealed") {
		t.Errorf("settings show the environment as: %q", txt)
	}
	tour.visit("releases", "/ui/n/acme/s/helloworld/releases", "table")
	p.Click(`button[aria-label="Roll back to v1"]`)
	p.WaitText(".flash", "Rolling helloworld back: v3")
	p.Timeout = 2 * time.Minute
	p.WaitText("[data-release-status]", "live")
	p.Timeout = 0
	tour.check("rollback-live")
	rels, err := s.client().ListReleases(ctx, "acme", "helloworld")
	must(t, err)
	if top := newest(rels); top.Version != "v3" || top.Status != platform.ReleaseLive || top.Origin == nil || top.Origin.Kind != platform.OriginRollback || top.Origin.RollbackOf != "v1" {
		t.Errorf("after the rollback the newest release is %+v (origin %+v)", top, top.Origin)
	}
	tour.visit("events", "/ui/n/acme/s/helloworld/events", "table.events")
	if txt := p.Text("table.events tbody"); !strings.Contains(txt, "release.rolled_out") {
		t.Errorf("events: %q", txt)
	}
	tour.visit("namespace-events", "/ui/n/acme/events", "table.events")
	// The gateway's calls show on the metrics tab and in the services page's sparklines
	// (the gateway flushes its meter every few seconds).
	eventually(t, "the metrics tab counts the gateway's call", func() bool {
		p.Navigate(s.url()+"/ui/n/acme/s/helloworld/metrics", "dl.facts")
		return attr(t, p, "dl.facts dd", "textContent") != "0"
	})
	if n := len(strings.Split(attr(t, p, "svg.chart path.requests", "outerHTML"), "L")); n < 60 {
		t.Errorf("the requests chart has %d points, want one a minute for the hour", n)
	}
	tour.check("metrics")
	tour.visit("services-sparklines", "/ui/n/acme", `[data-spark-requests="helloworld"] svg`)

	// Create a token (its secret shown once, and it works), then revoke it (it stops).
	tour.visit("tokens", "/ui/tokens", "#tok-name")
	p.Fill("#tok-name", "ci")
	p.Fill("#tok-role", "developer")
	p.Click(`form[action="/ui/tokens"] button[type=submit]`)
	p.WaitVisible("#new-secret")
	p.Screenshot("token-created")
	p.AssertAccessible()
	var created string
	p.Eval(`document.querySelector("#new-secret").value`, &created)
	ci := client.New(s.url(), client.WithToken(created))
	if who, err := ci.Whoami(ctx); err != nil || who.Token.Name != "ci" || who.Role != platform.RoleDeveloper {
		t.Fatalf("the created token: %+v %v", who, err)
	}
	p.Navigate(s.url()+"/ui/tokens", "table")
	if strings.Contains(p.HTML(), created) {
		t.Error("the tokens page shows the secret again")
	}
	p.Click(`button[aria-label="Revoke token ci"]`)
	p.WaitText(".flash", "revoked")
	tour.check("token-revoked")
	if _, err := ci.Whoami(ctx); platform.ErrorCode(err) != platform.EUNAUTHENTICATED {
		t.Errorf("the revoked token still works: %v", err)
	}

	tour.visit("team", "/ui/team", "table")
	tour.visit("audit", "/ui/audit", "table")
	if txt := p.Text("table tbody"); !strings.Contains(txt, "token.revoke") && !strings.Contains(txt, "token.delete") {
		t.Errorf("the audit log lacks the revocation: %q", txt)
	}
	tour.visit("audit-filtered", "/ui/audit?action=token.", "table")
	// With a second region the services page switches between them.
	if _, err := s.client().RegisterRegion(ctx, &platform.Region{Name: "eu", Provider: "local"}); err != nil {
		t.Fatal(err)
	}
	tour.visit("regions", "/ui/regions", "table")
	if txt := p.Text("table tbody"); !strings.Contains(txt, "eu") || !strings.Contains(txt, "waiting") {
		t.Errorf("regions page: %q", txt)
	}
	// Alerts: the built-in rules are listed; an admin creates a metric rule, a channel
	// (its secret never shown back) and a silence from the page.
	tour.visit("alerts", "/ui/alerts", "#rules table")
	if txt := p.Text("#rules table"); !strings.Contains(txt, "crash loop") || !strings.Contains(txt, "built-in") {
		t.Errorf("the alerts page lacks the built-in rules: %q", txt)
	}
	p.Click("#rules details > summary")
	p.Fill("#rule-name", "api errors")
	p.Fill("#rule-kind", "error_rate")
	p.Fill("#rule-threshold", "5")
	p.Fill("#rule-window", "5m")
	p.Fill("#rule-ns", "acme")
	p.Fill("#rule-sev", "critical")
	p.Click(`form[action="/ui/alerts/rules"] button[type=submit]`)
	p.WaitText(".flash", "Rule api errors created.")
	if txt := p.Text("#rules table"); !strings.Contains(txt, "error_rate > 5") {
		t.Errorf("the new rule is not listed: %q", txt)
	}
	p.Click("#channels details > summary")
	p.Fill("#ch-name", "oncall-hook")
	p.Fill("#ch-kind", "webhook")
	p.Fill("#ch-config", "url=https://hooks.acme.example/platform")
	p.Fill("#ch-secret", channelSecret)
	p.Click(`form[action="/ui/alerts/channels"] button[type=submit]`)
	p.WaitText(".flash", "Channel oncall-hook created.")
	p.Click("#silences details > summary")
	p.Fill("#si-svc", "helloworld")
	p.Fill("#si-for", "1h")
	p.Fill("#si-comment", "dashboard test")
	p.Click(`form[action="/ui/alerts/silences"] button[type=submit]`)
	p.WaitText(".flash", "Silenced until")
	tour.check("alerts-configured")
	if txt := p.Text("#silences"); !strings.Contains(txt, "service helloworld") || !strings.Contains(txt, "dashboard test") {
		t.Errorf("the silence is not listed: %q", txt)
	}
	// Usage: the period's usage of the organisation; billing is off on this server, so
	// the page says how to turn it on instead of showing a plan and invoices.
	tour.visit("usage", "/ui/usage", "#plan")
	if txt := p.Text("main"); !strings.Contains(txt, "This billing period") || !strings.Contains(txt, "billing is not enabled on this platform") ||
		!strings.Contains(txt, "PLATFORM_BILLING_ENABLED") {
		t.Errorf("the usage page says %q", txt)
	}
	tour.visit("services-local", "/ui/n/acme", "#svc-region")
	p.Fill("#svc-region", "eu")
	p.WaitText("main", "No services yet")
	tour.check("services-eu")
	p.Fill("#svc-region", "local")
	p.WaitText("table.services", "helloworld")

	// Another organisation's service is a 404, on the page and on the API.
	if r := <-globexDeploy; r.code != 0 {
		t.Fatalf("globex deploy: %s", r)
	}
	for _, path := range []string{"/ui/n/globex-apps", "/ui/n/globex-apps/s/helloworld", "/ui/n/globex-apps/s/helloworld/logs", "/ui/n/globex-apps/s/helloworld/endpoints"} {
		if code := p.Navigate(s.url()+path, "main h1"); code != 404 {
			t.Errorf("%s as acme's admin: HTTP %d, want 404", path, code)
		}
	}
	tour.check("not-found")
	if txt := p.Text("main"); !strings.Contains(txt, "Not found") {
		t.Errorf("the 404 page says %q", txt)
	}
	// The API refuses it whether or not the service exists (403: the namespace is not
	// the caller's), so it tells nothing about another organisation's services.
	for _, svc := range []string{"helloworld", "no-such-service"} {
		if code := tour.forced("GET", "/v1/namespaces/globex-apps/services/"+svc, "", nil); code != 403 {
			t.Errorf("another organisation's service %s on the API: %d, want 403", svc, code)
		}
	}

	// A viewer sees no button to change anything, and forcing a change is refused.
	_, viewerSecret, err := s.client().CreateToken(ctx, platform.CreateTokenRequest{Name: "viewer", Role: platform.RoleViewer})
	must(t, err)
	viewer := &dashboardTour{t: t, p: browsertest.NewPage(t), base: s.url(), pages: tour.pages}
	viewer.signIn(viewerSecret)
	viewer.visit("viewer-services", "/ui/n/acme", "table.services")
	viewer.visit("viewer-releases", "/ui/n/acme/s/helloworld/releases", "table")
	viewer.visit("viewer-endpoints", "/ui/n/acme/s/helloworld/endpoints", "main h1")
	viewer.visit("viewer-settings", "/ui/n/acme/s/helloworld/settings", "main h1")
	viewer.visit("viewer-namespaces", "/ui/namespaces", "main h1")
	viewer.visit("viewer-alerts", "/ui/alerts", "#rules table")
	viewer.visit("viewer-usage", "/ui/usage", "#plan")
	for name, html := range viewer.pages {
		if !strings.HasPrefix(name, "viewer-") {
			continue
		}
		for _, button := range []string{"/ui/n/acme/new", "Roll back to", "Delete service", "Create namespace", `data-call`,
			"Create rule", "Add channel", "oncall-hook", "Silence alerts", "End silence", "Change plan"} {
			if strings.Contains(html, button) {
				t.Errorf("the viewer's %s page offers %q", name, button)
			}
		}
	}
	before := len(rels)
	csrf := viewer.csrfCookie()
	if code := viewer.forced("POST", "/ui/n/acme/s/helloworld/rollback", "csrf_token="+csrf+"&version=v2", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); code != 403 {
		t.Errorf("a viewer forcing a rollback on the dashboard: %d, want 403", code)
	}
	if code := viewer.forced("POST", "/v1/namespaces/acme/services/helloworld/rollback", `{}`, map[string]string{"Content-Type": "application/json", "X-CSRF-Token": csrf}); code != 403 {
		t.Errorf("a viewer forcing a rollback on the API: %d, want 403", code)
	}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	if code := viewer.forced("POST", "/ui/alerts/rules", "csrf_token="+csrf+"&name=x&kind=error_rate&op=%3E&threshold=1&severity=info", form); code != 403 {
		t.Errorf("a viewer forcing an alert rule on the dashboard: %d, want 403", code)
	}
	if code := tour.forced("POST", "/ui/alerts/silences", "for=1h", form); code != 403 {
		t.Errorf("a silence without the CSRF token: %d, want 403", code)
	}
	// The admin's session without the CSRF token is refused too (a forged cross-site
	// form would have no token).
	if code := tour.forced("POST", "/ui/n/acme/s/helloworld/rollback", "version=v2", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); code != 403 {
		t.Errorf("a rollback without the CSRF token: %d, want 403", code)
	}
	if code := tour.forced("POST", "/v1/namespaces/acme/services/helloworld/rollback", `{}`, map[string]string{"Content-Type": "application/json"}); code != 403 {
		t.Errorf("an API rollback by cookie without the CSRF header: %d, want 403", code)
	}
	if rels, err := s.client().ListReleases(ctx, "acme", "helloworld"); err != nil || len(rels) != before {
		t.Errorf("releases after the refused requests: %d (%v), want %d", len(rels), err, before)
	}

	// No page ever showed a secret.
	secrets := map[string]string{"admin token": s.token, "viewer token": viewerSecret, "globex token": globexToken, "created token": created, "environment value": envSecret, "channel secret": channelSecret}
	for page, html := range tour.pages {
		for what, secret := range secrets {
			if strings.Contains(html, secret) {
				t.Errorf("page %s shows the %s", page, what)
			}
		}
	}
	if len(tour.pages) < 25 {
		t.Errorf("only %d pages were checked", len(tour.pages))
	}
}

// attr reads a DOM property of the first element matching sel.
func attr(t *testing.T, p *browsertest.Page, sel, prop string) string {
	t.Helper()
	var v string
	p.Eval(fmt.Sprintf(`document.querySelector(%q)[%q]`, sel, prop), &v)
	return v
}

func newest(rels []*platform.Release) *platform.Release {
	top := rels[0]
	for _, r := range rels {
		if r.CreatedAt.After(top.CreatedAt) {
			top = r
		}
	}
	return top
}

// globexAdmin makes the organisation globex and an admin token of it in the running
// server's store (SQLite in WAL mode takes a second process), and returns the secret.
func globexAdmin(t *testing.T, data string) string {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, filepath.Join(data, "platform.db"))
	must(t, err)
	defer st.Close()
	must(t, st.CreateOrg(ctx, &platform.Org{Name: "globex"}))
	secret, hash := auth.NewSecret()
	must(t, st.CreateToken(ctx, &platform.Token{ID: platform.NewID("t"), Name: "globex-admin", Hash: hash, Org: "globex", Role: platform.RoleOwner, CreatedAt: time.Now().UTC()}))
	return secret
}
