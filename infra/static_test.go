package infra

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	"github.com/zclconf/go-cty/cty/gocty"
)

// staticModule reads a shipped module's .tf files with the values of its variables, to
// tell without a provider what a plan would contain: how many of a resource (count),
// whether a dynamic block is rendered (for_each), and what an attribute is set to. A
// conditional whose condition depends only on variables is resolved to its branch; an
// expression that reads anything else (resources, locals, data) has no value, only the
// references it makes.
type staticModule struct {
	t      *testing.T
	dir    string
	blocks map[string]*hclsyntax.Body // "aws_vpc.this", "data.x.y", "locals"
	ctx    *hcl.EvalContext
}

func loadStatic(t *testing.T, dir string, args map[string]cty.Value) *staticModule {
	t.Helper()
	m := &staticModule{t: t, dir: dir, blocks: map[string]*hclsyntax.Body{}}
	locals := &hclsyntax.Body{Attributes: hclsyntax.Attributes{}}
	m.blocks["locals"] = locals
	vars := map[string]cty.Value{}
	p := hclparse.NewParser()
	for name, data := range moduleFiles(t, dir) {
		f, diags := p.ParseHCL(data, name)
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			switch b.Type {
			case "resource":
				m.blocks[b.Labels[0]+"."+b.Labels[1]] = b.Body
			case "data":
				m.blocks["data."+b.Labels[0]+"."+b.Labels[1]] = b.Body
			case "locals":
				for k, a := range b.Body.Attributes {
					locals.Attributes[k] = a
				}
			case "variable":
				v, ok := args[b.Labels[0]]
				if ok {
					// The engine converts an argument to the variable's type.
					ty, diags := typeexpr.TypeConstraint(b.Body.Attributes["type"].Expr)
					if diags.HasErrors() {
						t.Fatal(diags.Error())
					}
					var err error
					if v, err = convert.Convert(v, ty); err != nil {
						t.Fatalf("module %s: variable %s: %v", dir, b.Labels[0], err)
					}
				} else {
					d := b.Body.Attributes["default"]
					if d == nil {
						t.Fatalf("module %s: variable %s has no default and no value", dir, b.Labels[0])
					}
					v, diags = d.Expr.Value(nil)
					if diags.HasErrors() {
						t.Fatal(diags.Error())
					}
				}
				vars[b.Labels[0]] = v
			}
		}
	}
	for name := range args {
		if _, ok := vars[name]; !ok {
			t.Fatalf("module %s: no variable %s", dir, name)
		}
	}
	m.ctx = &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)},
		Functions: map[string]function.Function{"jsonencode": stdlib.JSONEncodeFunc},
	}
	return m
}

// resolve picks the branch of every conditional whose condition is known.
func (m *staticModule) resolve(e hclsyntax.Expression) hclsyntax.Expression {
	for {
		c, ok := e.(*hclsyntax.ConditionalExpr)
		if !ok {
			return e
		}
		v, diags := c.Condition.Value(m.ctx)
		if diags.HasErrors() || !v.IsKnown() {
			return e
		}
		if v.True() {
			e = c.TrueResult
		} else {
			e = c.FalseResult
		}
	}
}

// body returns the body at path inside block addr: each element names a nested block,
// static or dynamic (its content), or nil when a dynamic block's for_each is empty.
func (m *staticModule) body(addr string, path ...string) *hclsyntax.Body {
	m.t.Helper()
	b := m.blocks[addr]
	if b == nil {
		m.t.Fatalf("module %s: no %s", m.dir, addr)
	}
	for _, name := range path {
		var next *hclsyntax.Body
		for _, nb := range b.Blocks {
			switch {
			case nb.Type == name:
				next = nb.Body
			case nb.Type == "dynamic" && nb.Labels[0] == name:
				if m.size(nb.Body.Attributes["for_each"].Expr) == 0 {
					return nil
				}
				for _, c := range nb.Body.Blocks {
					if c.Type == "content" {
						next = c.Body
					}
				}
			}
		}
		if next == nil {
			return nil
		}
		b = next
	}
	return b
}

// size is the number of elements of a count or for_each expression: -1 when it depends
// on more than variables (it is then at least one, as far as this module is concerned).
func (m *staticModule) size(e hclsyntax.Expression) int {
	e = m.resolve(e)
	if tuple, ok := e.(*hclsyntax.TupleConsExpr); ok {
		return len(tuple.Exprs)
	}
	v, diags := e.Value(m.ctx)
	switch {
	case diags.HasErrors() || !v.IsKnown():
		return -1
	case v.Type() == cty.Number:
		n, _ := v.AsBigFloat().Int64()
		return int(n)
	default:
		return v.LengthInt()
	}
}

// count is how many instances of resource addr a plan would hold (-1: some).
func (m *staticModule) count(addr string) int {
	m.t.Helper()
	b := m.body(addr)
	for _, meta := range []string{"count", "for_each"} {
		if a := b.Attributes[meta]; a != nil {
			return m.size(a.Expr)
		}
	}
	return 1
}

// has reports whether the nested block at path of addr is rendered.
func (m *staticModule) has(addr string, path ...string) bool {
	m.t.Helper()
	return m.body(addr, path...) != nil
}

// attr returns the expression the attribute at path (blocks, then the attribute) is set
// to, conditionals resolved, or nil when it or a block on the way is absent.
func (m *staticModule) attr(addr string, path ...string) hclsyntax.Expression {
	m.t.Helper()
	b := m.body(addr, path[:len(path)-1]...)
	if b == nil || b.Attributes[path[len(path)-1]] == nil {
		return nil
	}
	return m.resolve(b.Attributes[path[len(path)-1]].Expr)
}

// value evaluates the attribute at path; an absent or unknowable one is cty.NilVal.
func (m *staticModule) value(addr string, path ...string) cty.Value {
	m.t.Helper()
	e := m.attr(addr, path...)
	if e == nil {
		return cty.NilVal
	}
	v, diags := e.Value(m.ctx)
	if diags.HasErrors() {
		return cty.NilVal
	}
	return v
}

// refs lists what the attribute at path reads, such as aws_subnet.private.
func (m *staticModule) refs(addr string, path ...string) []string {
	m.t.Helper()
	e := m.attr(addr, path...)
	if e == nil {
		return nil
	}
	var out []string
	for _, tr := range e.Variables() {
		var parts []string
		for _, step := range tr {
			switch s := step.(type) {
			case hcl.TraverseRoot:
				parts = append(parts, s.Name)
			case hcl.TraverseAttr:
				parts = append(parts, s.Name)
			}
			if len(parts) == 2 && parts[0] != "data" || len(parts) == 3 {
				break
			}
		}
		out = append(out, strings.Join(parts, "."))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// clusterArgs renders the root of region one of yaml and returns the arguments of its
// cluster module and the module's directory.
func clusterArgs(t *testing.T, yaml string) (string, map[string]cty.Value) {
	t.Helper()
	cfg := mustParse(t, yaml)
	files, err := RenderRegion(cfg, "one")
	if err != nil {
		t.Fatal(err)
	}
	f, diags := hclparse.NewParser().ParseHCL(files["main.tf"], "main.tf")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if b.Type != "module" || b.Labels[0] != "cluster" {
			continue
		}
		args := map[string]cty.Value{}
		var dir string
		for name, a := range b.Body.Attributes {
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				t.Fatalf("cluster argument %s is not a literal: %s", name, diags.Error())
			}
			if name == "source" {
				dir = strings.TrimPrefix(v.AsString(), ModuleSource+"/")
				continue
			}
			args[name] = v
		}
		return dir, args
	}
	t.Fatal("rendered root calls no cluster module")
	return "", nil
}

// validation returns the condition of the validation block of variable name in dir.
func validation(t *testing.T, dir, name string) hclsyntax.Expression {
	t.Helper()
	f, diags := hclparse.NewParser().ParseHCL(moduleFiles(t, dir)["variables.tf"], "variables.tf")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if b.Type == "variable" && b.Labels[0] == name {
			for _, v := range b.Body.Blocks {
				if v.Type == "validation" {
					return v.Body.Attributes["condition"].Expr
				}
			}
		}
	}
	t.Fatalf("module %s: variable %s has no validation", dir, name)
	return nil
}

// tfFunctions are the engine's functions the modules' validations call, enough to
// evaluate them here: can, length, alltrue, regex and cidrhost (IPv4 prefixes).
var tfFunctions = map[string]function.Function{
	"can":    tryfunc.CanFunc,
	"length": stdlib.LengthFunc,
	"regex":  stdlib.RegexFunc,
	"alltrue": function.New(&function.Spec{
		Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			for it := args[0].ElementIterator(); it.Next(); {
				if _, v := it.Element(); !v.True() {
					return cty.False, nil
				}
			}
			return cty.True, nil
		},
	}),
	"cidrhost": function.New(&function.Spec{
		Params: []function.Parameter{{Name: "prefix", Type: cty.String}, {Name: "hostnum", Type: cty.Number}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p, err := netip.ParsePrefix(args[0].AsString())
			if err != nil {
				return cty.NilVal, err
			}
			var n int
			if err := gocty.FromCtyValue(args[1], &n); err != nil {
				return cty.NilVal, err
			}
			a := p.Masked().Addr()
			for range n {
				a = a.Next()
			}
			if !p.Contains(a) {
				return cty.NilVal, fmt.Errorf("prefix %s has no host %d", p, n)
			}
			return cty.StringVal(a.String()), nil
		},
	}),
}
