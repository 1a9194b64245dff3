package builder

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	platform "github.com/micro/platform"
)

// writeTree writes files (slash-separated path → content) under a new temp dir.
func writeTree(tb testing.TB, files map[string]string) string {
	tb.Helper()
	root := tb.TempDir()
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return root
}

const docsMain = `package main

import (
	"context"
	stdctx "context"

	"example.com/svc/handler"
)

// Greeter greets.
type Greeter struct{}

// Call greets a person.
//
// @example {"name": "Alice"}
func (g *Greeter) Call(ctx context.Context, req *Request, rsp *Response) error { return nil }

// Wave waves back.
//
// @example {"hands": 2,
//   "loud": true}
//
// It never fails.
func (g Greeter) Wave(ctx stdctx.Context, req, rsp *Wave) error { return nil }

// Stream sends numbers.
//
// @example {"count": 3}
func (g *Greeter) Stream(ctx context.Context, stream Greeter_StreamStream) error { return nil }

// Broken has an example that is not JSON.
//
// @example {name: Alice}
func (g *Greeter) Broken(ctx context.Context, req *Request, rsp *Response) error { return nil }

// Plain has no example.
func (g *Greeter) Plain(ctx context.Context, req *Request, rsp *Response) error { return nil }

func (g *Greeter) Undocumented(ctx context.Context, req *Request, rsp *Response) error { return nil }

// Helper is exported but not a handler: it returns two values.
//
// @example {"no": true}
func (g *Greeter) Helper(ctx context.Context, req *Request, rsp *Response) (int, error) { return 0, nil }

// Close is not a handler: no context.
//
// @example {}
func (g *Greeter) Close() error { return nil }

// Four takes one argument too many.
//
// @example {}
func (g *Greeter) Four(ctx context.Context, a, b, c *Request) error { return nil }

// lower is not exported.
//
// @example {}
func (g *Greeter) lower(ctx context.Context, req *Request, rsp *Response) error { return nil }

// hidden is a type go-micro refuses as a handler.
type hidden struct{}

// Call of an unexported type.
//
// @example {}
func (h *hidden) Call(ctx context.Context, req *Request, rsp *Response) error { return nil }

// Call is a function, not a method.
//
// @example {}
func Call(ctx context.Context, req *Request, rsp *Response) error { return nil }

func main() { _ = handler.Users{} }
`

const docsHandler = `package handler

import "context"

// Users keeps users.
type Users struct{}

// Create adds a user.
//
// @example {"email": "a@example.com"}
func (u Users) Create(ctx context.Context, req *CreateRequest, rsp *CreateResponse) error { return nil }

// Call greets from another package; the main package's Greeter.Call is not this one.
func (u *Greeter) Call(ctx context.Context, req *Request, rsp *Response) error { return nil }
`

func TestEndpointDocs(t *testing.T) {
	t.Parallel()
	documented := func(typ string) string {
		return "package p\n\nimport \"context\"\n\ntype " + typ + " struct{}\n\n// Get must not be read.\n//\n// @example {}\nfunc (x *" + typ +
			") Get(ctx context.Context, req, rsp *int) error { return nil }\n"
	}
	src := writeTree(t, map[string]string{
		"go.mod":                     "module example.com/svc\n",
		"main.go":                    docsMain,
		"handler/users.go":           docsHandler,
		"handler/syntax.go":          "package handler\n\n// Bad is fine.\n//\n// @example {}\nfunc (b *Bad) Get(ctx context.Context, req, rsp *int) error {\n",
		"handler/users_test.go":      documented("Tested"),
		"vendor/x/x.go":              documented("Vendored"),
		"testdata/x.go":              documented("Testdata"),
		".hidden/x.go":               documented("Hidden"),
		"_skip/x.go":                 documented("Underscore"),
		"other/go.mod":               "module example.com/other\n",
		"other/x.go":                 documented("OtherModule"),
		"notgo.txt":                  documented("Text"),
		"handler/internal/deep/d.go": "package deep\n\nimport \"context\"\n\n// Get is deep down.\nfunc (d *Deep) Get(ctx context.Context, req, rsp *int) error { return nil }\n",
	})
	got := endpointDocs(context.Background(), src)
	want := map[string]platform.EndpointDoc{
		"Greeter.Call":   {Description: "Call greets a person.", Example: `{"name": "Alice"}`},
		"Greeter.Wave":   {Description: "Wave waves back.\n\nIt never fails.", Example: "{\"hands\": 2,\n  \"loud\": true}"},
		"Greeter.Stream": {Description: "Stream sends numbers.", Example: `{"count": 3}`},
		"Greeter.Broken": {Description: "Broken has an example that is not JSON."},
		"Greeter.Plain":  {Description: "Plain has no example."},
		"Users.Create":   {Description: "Create adds a user.", Example: `{"email": "a@example.com"}`},
		"Deep.Get":       {Description: "Get is deep down."},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("endpointDocs:\n got %#v\nwant %#v", got, want)
	}

	t.Run("no handlers", func(t *testing.T) {
		src := writeTree(t, map[string]string{"main.go": "package main\n\nfunc main() {}\n"})
		if got := endpointDocs(context.Background(), src); got != nil {
			t.Errorf("endpointDocs = %v, want nil", got)
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		if got := endpointDocs(context.Background(), filepath.Join(t.TempDir(), "nope")); got != nil {
			t.Errorf("endpointDocs = %v, want nil", got)
		}
	})
	t.Run("at most maxDocEndpoints", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("package main\n\nimport \"context\"\n\ntype Many struct{}\n")
		for i := range maxDocEndpoints + 20 {
			fmt.Fprintf(&b, "\n// M%d is one of many.\nfunc (m *Many) M%d(ctx context.Context, req, rsp *int) error { return nil }\n", i, i)
		}
		src := writeTree(t, map[string]string{"main.go": b.String()})
		got := endpointDocs(context.Background(), src)
		if len(got) != maxDocEndpoints {
			t.Errorf("endpoints = %d, want %d", len(got), maxDocEndpoints)
		}
		if got["Many.M0"].Description != "M0 is one of many." {
			t.Errorf("Many.M0 = %+v, want the first endpoints kept", got["Many.M0"])
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if got := endpointDocs(ctx, src); got != nil {
			t.Errorf("endpointDocs after cancel = %v, want nil", got)
		}
	})
}

func TestParseDocComment(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("word ", 60) // 300 bytes, no sentence end
	bigJSON := `{"s": "` + strings.Repeat("x", maxDocExample) + `"}`
	tests := []struct {
		name    string
		comment string
		want    platform.EndpointDoc
	}{
		{"empty", "", platform.EndpointDoc{}},
		{"description only", "Call greets.\n", platform.EndpointDoc{Description: "Call greets."}},
		{"example only", "@example {\"a\": 1}\n", platform.EndpointDoc{Example: `{"a": 1}`}},
		{"example at the end", "Call greets.\n\n@example {\"a\": 1}\n", platform.EndpointDoc{Description: "Call greets.", Example: `{"a": 1}`}},
		{"example in the middle", "Call greets.\n\n@example [1,\n2]\n\nMore text.\n",
			platform.EndpointDoc{Description: "Call greets.\n\nMore text.", Example: "[1,\n2]"}},
		{"example on the description's line", "Call greets. @example {}\n", platform.EndpointDoc{Description: "Call greets.", Example: "{}"}},
		{"first example wins, every one leaves the description", "A.\n\n@example {\"first\": 1}\n\n@example {\"second\": 2}\n",
			platform.EndpointDoc{Description: "A.", Example: `{"first": 1}`}},
		{"invalid JSON example dropped", "A.\n\n@example {name: Alice}\n", platform.EndpointDoc{Description: "A."}},
		{"scalar JSON kept", "@example \"Alice\"\n", platform.EndpointDoc{Example: `"Alice"`}},
		{"example over the bound dropped", "A.\n\n@example " + bigJSON + "\n", platform.EndpointDoc{Description: "A."}},
		{"long description cut to its first sentence", "Call greets a person. " + long + "\n",
			platform.EndpointDoc{Description: "Call greets a person."}},
		{"short description kept whole", "Call greets. Then waves.\n", platform.EndpointDoc{Description: "Call greets. Then waves."}},
		{"long sentence cut to the bound", strings.Repeat("é", maxDocDescription) + "\n",
			platform.EndpointDoc{Description: strings.Repeat("é", maxDocDescription/2)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := parseDocComment(tc.comment)
			if got != tc.want {
				t.Errorf("parseDocComment(%q):\n got %+q\nwant %+q", tc.comment, got, tc.want)
			}
		})
	}
}
