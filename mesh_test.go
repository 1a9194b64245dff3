package platform_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/micro/platform"
)

// node is a value tree in a foreign form, as go-micro's registry.Value is.
type node struct {
	name, typ string
	values    []*node
}

func nodeFields(n *node) (string, string, []*node) { return n.name, n.typ, n.values }

// chain returns a request whose fields nest n levels deep: f1 holds f2 holds ... fn.
func chain(n int) *node {
	root := &node{name: "Req", typ: "Req"}
	cur := root
	for i := 1; i <= n; i++ {
		c := &node{name: fmt.Sprintf("f%d", i), typ: fmt.Sprintf("T%d", i)}
		cur.values = []*node{c}
		cur = c
	}
	return root
}

// depth returns how many levels of fields v has below itself.
func depth(v *platform.Value) int {
	d := 0
	for _, c := range v.Values {
		d = max(d, 1+depth(c))
	}
	return d
}

// count returns how many fields v has below itself.
func count(v *platform.Value) int {
	n := 0
	for _, c := range v.Values {
		n += 1 + count(c)
	}
	return n
}

func TestConvertValue(t *testing.T) {
	wide := &node{name: "Req", typ: "Req"}
	for i := range 1000 {
		wide.values = append(wide.values, &node{name: fmt.Sprintf("f%d", i), typ: "string"})
	}
	// Each of 100 fields holds 10 more: 1100 fields, 256 kept in depth-first order.
	bushy := &node{name: "Req", typ: "Req"}
	for i := range 100 {
		c := &node{name: fmt.Sprintf("f%d", i), typ: "Sub"}
		for j := range 10 {
			c.values = append(c.values, &node{name: fmt.Sprintf("g%d", j), typ: "int"})
		}
		bushy.values = append(bushy.values, c)
	}
	// A tree that refers to itself has no end; the bounds end it.
	cyclic := &node{name: "Loop", typ: "Loop"}
	cyclic.values = []*node{cyclic, cyclic}

	tests := []struct {
		name       string
		in         *node
		want       *platform.Value // checked when set
		wantDepth  int
		wantFields int
		check      func(t *testing.T, v *platform.Value)
	}{
		{name: "nil", in: nil},
		{
			name: "nested request",
			in: &node{name: "CallRequest", typ: "CallRequest", values: []*node{
				{name: "name", typ: "string"},
				{name: "address", typ: "Address", values: []*node{{name: "city", typ: "string"}}},
				nil, // a hole in foreign data is skipped
				{name: "tags", typ: "[]string"},
			}},
			want: &platform.Value{Name: "CallRequest", Type: "CallRequest", Values: []*platform.Value{
				{Name: "name", Type: "string"},
				{Name: "address", Type: "Address", Values: []*platform.Value{{Name: "city", Type: "string"}}},
				{Name: "tags", Type: "[]string"},
			}},
			wantDepth: 2, wantFields: 4,
		},
		{name: "no fields", in: &node{name: "Empty", typ: "Empty"}, want: &platform.Value{Name: "Empty", Type: "Empty"}},
		{name: "exactly as deep as allowed", in: chain(platform.MaxValueDepth), wantDepth: platform.MaxValueDepth, wantFields: platform.MaxValueDepth},
		{name: "too deep", in: chain(100), wantDepth: platform.MaxValueDepth, wantFields: platform.MaxValueDepth},
		{
			name: "too wide", in: wide, wantDepth: 1, wantFields: platform.MaxValueFields,
			check: func(t *testing.T, v *platform.Value) {
				if last := v.Values[len(v.Values)-1].Name; last != fmt.Sprintf("f%d", platform.MaxValueFields-1) {
					t.Errorf("last field kept is %s, want the first ones in order", last)
				}
			},
		},
		{
			name: "too many nested", in: bushy, wantDepth: 2, wantFields: platform.MaxValueFields,
			check: func(t *testing.T, v *platform.Value) {
				// 23 fields of 11 (itself and 10 more) make 253, then f23 and 2 of its 10.
				if len(v.Values) != 24 || len(v.Values[22].Values) != 10 || len(v.Values[23].Values) != 2 {
					t.Errorf("kept %d top fields, the 23rd with %d, the 24th with %d; want 24, 10, 2",
						len(v.Values), len(v.Values[22].Values), len(v.Values[23].Values))
				}
			},
		},
		{name: "cyclic", in: cyclic, wantDepth: platform.MaxValueDepth, wantFields: platform.MaxValueFields},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := platform.ConvertValue(tt.in, nodeFields)
			if tt.in == nil {
				if got != nil {
					t.Fatalf("ConvertValue(nil) = %+v", got)
				}
				return
			}
			if tt.want != nil && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ConvertValue = %s, want %s", mustJSON(t, got), mustJSON(t, tt.want))
			}
			if d := depth(got); d != tt.wantDepth {
				t.Errorf("depth %d, want %d", d, tt.wantDepth)
			}
			if n := count(got); n != tt.wantFields {
				t.Errorf("%d fields, want %d", n, tt.wantFields)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

// TestEndpointJSON pins the JSON form the dashboard builds its call form from.
func TestEndpointJSON(t *testing.T) {
	e := platform.Endpoint{
		Name:     "Greeter.Call",
		Metadata: map[string]string{"example": `{"name":"Alice"}`},
		Request: &platform.Value{Name: "CallRequest", Type: "CallRequest", Values: []*platform.Value{
			{Name: "name", Type: "string"},
			{Name: "address", Type: "Address", Values: []*platform.Value{{Name: "city", Type: "string"}}},
		}},
		Response: &platform.Value{Name: "CallResponse", Type: "CallResponse"},
	}
	const want = `{"name":"Greeter.Call","metadata":{"example":"{\"name\":\"Alice\"}"},` +
		`"request":{"name":"CallRequest","type":"CallRequest","values":[{"name":"name","type":"string"},` +
		`{"name":"address","type":"Address","values":[{"name":"city","type":"string"}]}]},` +
		`"response":{"name":"CallResponse","type":"CallResponse"}}`
	if got := mustJSON(t, e); got != want {
		t.Errorf("JSON\n got %s\nwant %s", got, want)
	}
	if got := mustJSON(t, platform.Endpoint{Name: "Old.Call"}); got != `{"name":"Old.Call"}` {
		t.Errorf("endpoint without shapes: %s", got)
	}
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
