package dashboard

import (
	"encoding/json"
	"html/template"
	"strings"
	"testing"

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
	for _, name := range []string{"signin", "error", "namespaces", "services", "service", "endpoints", "logs", "events", "metrics", "releases", "release", "settings", "new", "team", "tokens", "audit", "regions", "activity"} {
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
