package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	platform "github.com/micro/platform"
)

// The call form of an endpoint follows its request type: a field per scalar, a group per
// nested message, a JSON box for lists; its body starts as the example when the endpoint
// has a valid one, else as the request's zero value.
func TestCallForm(t *testing.T) {
	ep := platform.Endpoint{
		Name:     "People.Call",
		Metadata: map[string]string{"description": "Call greets a person.", "example": `{"name": "Alice", "address": {"city": "Paris"}}`},
		Request: &platform.Value{Name: "PersonRequest", Type: "PersonRequest", Values: []*platform.Value{
			{Name: "name", Type: "string"},
			{Name: "age", Type: "int32"},
			{Name: "vip", Type: "bool"},
			{Name: "address", Type: "Address", Values: []*platform.Value{{Name: "city", Type: "string"}}},
			{Name: "tags", Type: "[]string"},
			{Name: "labels", Type: ""},
			nil,
		}},
		Response: &platform.Value{Name: "PersonResponse", Values: []*platform.Value{{Name: "greeting", Type: "string"}}},
	}
	f := newCallForm("acme", "people", ep)
	if f.ID != "ep-People-Call" || f.Description != "Call greets a person." || f.Response != "greeting string" {
		t.Errorf("form: %+v", f)
	}
	var got []string
	var walk func([]*formField)
	walk = func(fs []*formField) {
		for _, ff := range fs {
			got = append(got, ff.Path+":"+ff.Kind+":"+ff.ID)
			walk(ff.Children)
		}
	}
	walk(f.Fields)
	want := []string{
		"name:text:ep-People-Call-name", "age:number:ep-People-Call-age", "vip:checkbox:ep-People-Call-vip",
		"address:group:ep-People-Call-address", "address.city:text:ep-People-Call-address-city",
		"tags:json:ep-People-Call-tags", "labels:json:ep-People-Call-labels",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("fields\n got %v\nwant %v", got, want)
	}
	if f.Example != "{\n  \"name\": \"Alice\",\n  \"address\": {\n    \"city\": \"Paris\"\n  }\n}" {
		t.Errorf("example: %q", f.Example)
	}

	// Without a (valid) example the body is the request's zero value.
	ep.Metadata["example"] = "{not json"
	f = newCallForm("acme", "people", ep)
	var body map[string]any
	if err := json.Unmarshal([]byte(f.Example), &body); err != nil {
		t.Fatalf("skeleton %q: %v", f.Example, err)
	}
	if body["name"] != "" || body["age"] != float64(0) || body["vip"] != false || body["address"].(map[string]any)["city"] != "" || len(body["tags"].([]any)) != 0 {
		t.Errorf("skeleton: %v", body)
	}
	// An endpoint without a registered shape still gets a form: an empty body.
	if f := newCallForm("acme", "x", platform.Endpoint{Name: "X.Y"}); f.Example != "{}" || len(f.Fields) != 0 {
		t.Errorf("bare endpoint: %+v", f)
	}
}

func TestShellArg(t *testing.T) {
	for in, want := range map[string]string{
		"Helloworld.Call":                 "Helloworld.Call",
		"http://127.0.0.1:8080/api/x/Y.Z": "http://127.0.0.1:8080/api/x/Y.Z",
		"X.Y;rm -rf ~":                    `'X.Y;rm -rf ~'`,
		"$(id)":                           `'$(id)'`,
		"a'b":                             `'a'\''b'`,
	} {
		if got := shellArg(in); got != want {
			t.Errorf("shellArg(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{`{"a":"b"}`: `'{"a":"b"}'`, `it's`: `'it'\''s'`, ``: `''`} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// After sign-in the browser goes back to the dashboard page it came from, never to
// another site.
func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/ui/n/acme":                "/ui/n/acme",
		"/ui/n/acme?region=local":   "/ui/n/acme?region=local",
		"":                          "/ui/",
		"https://evil.example/ui/":  "/ui/",
		"//evil.example/ui/":        "/ui/",
		"/ui/\\evil":                "/ui/",
		"/uix":                      "/ui/",
		"/v1/tokens":                "/ui/",
		"/ui/n/acme\r\nSet-Cookie:": "/ui/",
		"/oauth/continue":           "/oauth/continue",
		"/oauth/continue/x":         "/ui/",
		"/oauth/token":              "/ui/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStepClass(t *testing.T) {
	for _, c := range []struct {
		rel  platform.Release
		want string // build rollout live
	}{
		{platform.Release{Status: platform.ReleaseBuilding}, "current waiting waiting"},
		{platform.Release{Status: platform.ReleaseRollingOut, Artifact: "a"}, "done current waiting"},
		{platform.Release{Status: platform.ReleaseLive, Artifact: "a"}, "done done done"},
		{platform.Release{Status: platform.ReleaseFailed}, "failed waiting waiting"},
		{platform.Release{Status: platform.ReleaseFailed, Artifact: "a"}, "done failed waiting"},
	} {
		got := stepClass(&c.rel, "build") + " " + stepClass(&c.rel, "rollout") + " " + stepClass(&c.rel, "live")
		if got != c.want {
			t.Errorf("%s (artifact %q): %s, want %s", c.rel.Status, c.rel.Artifact, got, c.want)
		}
	}
}

// Every page template parses with the layout, and the SVG helpers escape what they are
// given.
func TestTemplatesAndCharts(t *testing.T) {
	pages := parsePages()
	for _, name := range []string{"signin", "error", "namespaces", "services", "service", "endpoints", "logs", "events", "metrics", "releases", "release", "settings", "new", "team", "tokens", "audit", "regions", "alerts", "usage", "agents", "activity"} {
		if pages[name] == nil {
			t.Errorf("no page %s", name)
		}
	}
	svg := string(chart(`<script>`, "ms", series{Class: `"x`, Values: []float64{0, 1, 2}}))
	if strings.Contains(svg, "<script>") || strings.Contains(svg, `class=""x"`) || !strings.Contains(svg, "M0.0 ") {
		t.Errorf("chart: %s", svg)
	}
	if s := sparkline(nil, "requests"); s != template.HTML(`<svg class="spark requests" width="96" height="24" viewBox="0 0 96 24" aria-hidden="true" focusable="false"><path d=""/></svg>`) {
		t.Errorf("empty sparkline: %s", s)
	}
}

// streamCP is a control plane with one namespace, "acme", of two services; ListServices
// answers listErr when set, ListTools tools or toolsErr, and both call during while the
// test looks at what was sent.
type streamCP struct {
	platform.ControlPlane
	listErr error
	during  func()
	listed  bool

	tools       []platform.Tool
	toolsErr    error
	toolsListed bool
}

var streamToken = &platform.Token{ID: "t1", Name: "admin", Role: platform.RoleOwner}

func (c *streamCP) Whoami(context.Context) (*platform.Whoami, error) {
	return &platform.Whoami{Token: streamToken, Org: platform.DefaultOrg, Role: platform.RoleOwner}, nil
}

func (c *streamCP) ListNamespaces(context.Context) ([]*platform.Namespace, error) {
	return []*platform.Namespace{{Name: "acme"}}, nil
}

func (c *streamCP) ListRegions(context.Context) ([]*platform.Region, error) {
	return []*platform.Region{{Name: "local", Health: platform.RegionConnected}}, nil
}

func (c *streamCP) ListServices(ctx context.Context, ns string) ([]*platform.ServiceView, error) {
	c.listed = true
	if c.during != nil {
		c.during()
	}
	if c.listErr != nil {
		return nil, c.listErr
	}
	var list []*platform.ServiceView
	for _, name := range []string{"zeta", "alpha"} {
		list = append(list, &platform.ServiceView{
			Service:   platform.Service{Namespace: ns, Name: name, Status: platform.ServiceRunning},
			Version:   "v3",
			Instances: []*platform.Instance{{ID: name + "-1", State: platform.InstanceRunning}},
			PerRegion: []platform.ServiceRegion{{Region: "local", Status: platform.ServiceRunning}},
		})
	}
	return list, nil
}

func (c *streamCP) ListTools(ctx context.Context, ns string) ([]platform.Tool, error) {
	c.toolsListed = true
	if c.during != nil {
		c.during()
	}
	if ns != "acme" {
		return nil, platform.Errorf(platform.EFORBIDDEN, "not your namespace")
	}
	return c.tools, c.toolsErr
}

type nopAuth struct{}

func (nopAuth) Authenticate(context.Context, string) (*platform.Token, error) {
	return nil, errors.New("no")
}

type fixedCSRF struct{}

func (fixedCSRF) Issue(http.ResponseWriter) string { return "csrf" }

func streamGet(t *testing.T, cp platform.ControlPlane, path string, during func(*httptest.ResponseRecorder)) *httptest.ResponseRecorder {
	t.Helper()
	d := New(Options{ControlPlane: cp, Auth: nopAuth{}, SessionCookie: "s", CSRF: fixedCSRF{}, CSRFCookie: "c"})
	rec := httptest.NewRecorder()
	if c, ok := cp.(*streamCP); ok && during != nil {
		c.during = func() { during(rec) }
	}
	mux := chi.NewRouter()
	mux.Mount(Prefix, d)
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req = req.WithContext(platform.NewContextWithToken(req.Context(), streamToken))
	mux.ServeHTTP(rec, req)
	return rec
}

// The services page sends its layout and heading before it lists the services (which
// asks every region), then the table; a listing that fails after that shows inline, an
// internal error without its details; a namespace the caller does not reach is a 404
// before anything is listed.
func TestServicesPageStreams(t *testing.T) {
	cp := &streamCP{}
	rec := streamGet(t, cp, "/ui/n/acme", func(rec *httptest.ResponseRecorder) {
		body := rec.Body.String()
		if !rec.Flushed || !strings.Contains(body, "<h1>Services") || !strings.Contains(body, `<nav class="side"`) || strings.Contains(body, "<table") {
			t.Errorf("before the listing: flushed %v, sent %q", rec.Flushed, body)
		}
	})
	body := rec.Body.String()
	if rec.Code != 200 || !cp.listed || !strings.Contains(body, `href="/ui/n/acme/s/alpha"`) || strings.Index(body, "/s/alpha") > strings.Index(body, "/s/zeta") || !strings.HasSuffix(strings.TrimSpace(body), "</html>") {
		t.Errorf("HTTP %d, listed %v: %s", rec.Code, cp.listed, body)
	}

	cp = &streamCP{listErr: platform.Errorf(platform.EUNAVAILABLE, "region local does not answer").WithHint("wait for its agent")}
	rec = streamGet(t, cp, "/ui/n/acme", nil)
	body = rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `<div class="error" role="alert">`) || !strings.Contains(body, "region local does not answer") || !strings.Contains(body, "wait for its agent") ||
		strings.Contains(body, "<table") || !strings.HasSuffix(strings.TrimSpace(body), "</html>") {
		t.Errorf("a failed listing: HTTP %d: %s", rec.Code, body)
	}
	cp = &streamCP{listErr: errors.New("pq: connection refused to 10.0.0.7")}
	rec = streamGet(t, cp, "/ui/n/acme", nil)
	if body = rec.Body.String(); !strings.Contains(body, "internal error") || strings.Contains(body, "10.0.0.7") {
		t.Errorf("an internal error: %s", body)
	}

	cp = &streamCP{}
	rec = streamGet(t, cp, "/ui/n/other", nil)
	if rec.Code != 404 || cp.listed || strings.Contains(rec.Body.String(), "<h1>Services") {
		t.Errorf("another namespace: HTTP %d, listed %v: %s", rec.Code, cp.listed, rec.Body.String())
	}
}
