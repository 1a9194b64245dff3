package dashboard

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"

	"github.com/go-chi/chi/v5"

	platform "github.com/micro/platform"
)

// callForm is an endpoint with the form generated from its request type, as go-micro's
// registry describes it (platform.Value): a field per scalar, a fieldset per nested
// message, a JSON box for lists and maps, and the whole body as JSON, prefilled with the
// endpoint's `@example` when its doc comment has one.
type callForm struct {
	// ID is unique on the page and safe in an HTML id.
	ID          string
	Service     string
	Endpoint    string
	Description string
	Fields      []*formField
	// Example is the body the form starts with: the endpoint's example, or the request's
	// fields with zero values.
	Example string
	// Response describes the response's fields, e.g. "msg string".
	Response string
}

// formField is one input of a call form.
type formField struct {
	ID string
	// Path is the field's JSON path in the body, dot-separated.
	Path  string
	Label string
	// Kind is text, number, checkbox, json (lists, maps, anything without fields) or
	// group (a nested message: Children).
	Kind     string
	Type     string
	Children []*formField
}

var notIDChars = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

func newCallForm(ns, svc string, ep platform.Endpoint) *callForm {
	id := "ep-" + notIDChars.ReplaceAllString(ep.Name, "-")
	f := &callForm{ID: id, Service: svc, Endpoint: ep.Name, Description: ep.Metadata["description"]}
	if ep.Request != nil {
		f.Fields = formFields(id, "", ep.Request.Values)
	}
	f.Example = skeleton(ep.Request)
	if ex := strings.TrimSpace(ep.Metadata["example"]); ex != "" && json.Valid([]byte(ex)) {
		var buf bytes.Buffer
		if json.Indent(&buf, []byte(ex), "", "  ") == nil {
			f.Example = buf.String()
		}
	}
	if ep.Response != nil {
		var parts []string
		for _, v := range ep.Response.Values {
			parts = append(parts, v.Name+" "+v.Type)
		}
		f.Response = strings.Join(parts, ", ")
	}
	return f
}

func formFields(id, prefix string, values []*platform.Value) []*formField {
	var out []*formField
	for _, v := range values {
		if v == nil || v.Name == "" {
			continue
		}
		path := v.Name
		if prefix != "" {
			path = prefix + "." + v.Name
		}
		ff := &formField{ID: id + "-" + notIDChars.ReplaceAllString(path, "-"), Path: path, Label: v.Name, Type: v.Type, Kind: fieldKind(v)}
		if ff.Kind == "group" {
			ff.Children = formFields(id, path, v.Values)
		}
		out = append(out, ff)
	}
	return out
}

func fieldKind(v *platform.Value) string {
	switch v.Type {
	case "string":
		return "text"
	case "bool":
		return "checkbox"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "number"
	}
	if len(v.Values) > 0 && !strings.HasPrefix(v.Type, "[]") {
		return "group"
	}
	return "json"
}

// skeleton is a request body with every field at its zero value, indented.
func skeleton(v *platform.Value) string {
	if v == nil {
		return "{}"
	}
	b, err := json.MarshalIndent(zero(v), "", "  ")
	if err != nil {
		return "{}"
	}
	return string(b)
}

func zero(v *platform.Value) any {
	switch fieldKind(v) {
	case "text":
		return ""
	case "checkbox":
		return false
	case "number":
		return 0
	case "json":
		if strings.HasPrefix(v.Type, "[]") {
			return []any{}
		}
		return map[string]any{}
	}
	m := make(map[string]any, len(v.Values))
	for _, c := range v.Values {
		if c != nil && c.Name != "" {
			m[c.Name] = zero(c)
		}
	}
	return m
}

// endpointsCallResult is the answer of a call made without script.
type endpointsCallResult struct {
	Endpoint string
	Body     string
	Response string
	Err      error
}

// call makes a call posted by the endpoints page without script, and renders the page
// with the answer. Script posts to the API's call route instead.
func (d *Dashboard) call(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		return "", platform.Errorf(platform.EINVALID, "could not read the form: %v", err)
	}
	name, err := d.serviceEndpoints(w, r, v)
	if err != nil {
		return "", err
	}
	res := &endpointsCallResult{Endpoint: r.PostForm.Get("endpoint"), Body: r.PostForm.Get("body")}
	body := strings.TrimSpace(res.Body)
	if body == "" {
		body = "{}"
	}
	if !json.Valid([]byte(body)) {
		res.Err = platform.Errorf(platform.EINVALID, "the request body is not valid JSON").WithHint("fix it and call again")
	} else {
		resp, err := d.cp.Call(r.Context(), platform.CallRequest{Namespace: chi.URLParam(r, "ns"), Service: chi.URLParam(r, "svc"), Endpoint: res.Endpoint, Body: []byte(body)})
		if err != nil {
			res.Err = err
		} else {
			var buf bytes.Buffer
			if json.Indent(&buf, resp, "", "  ") != nil {
				buf.Reset()
				buf.Write(resp)
			}
			res.Response = buf.String()
		}
	}
	v.Data.(*serviceData).Result = res
	return name, nil
}

// plainArg matches what a POSIX shell takes literally without quotes.
var plainArg = regexp.MustCompile(`^[A-Za-z0-9._/:@%+=-]+$`)

// shellArg is s as one shell word: as it is when that is safe, else quoted. Endpoint
// and service names come from the tenant's registry, so a copied command line must not
// run what a name smuggles in.
func shellArg(s string) string {
	if plainArg.MatchString(s) {
		return s
	}
	return shellQuote(s)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// compactJSON is s on one line, for the curl and CLI lines.
func compactJSON(s string) string {
	var buf bytes.Buffer
	if json.Compact(&buf, []byte(s)) != nil {
		return s
	}
	return buf.String()
}
