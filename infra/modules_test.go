package infra

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// moduleReport is what lintModule learns about one Terraform module.
type moduleReport struct {
	problems []string
	pins     map[string]string // provider name to version constraint
}

// lintModule parses the .tf files of one module and reports what a reviewer would refuse:
// a variable without type or description, an output without description, a required
// provider without source and version, no required_version, a provider block (with
// credentials or not) inside a shipped module, and a literal value in an attribute named
// like a secret. providers says whether the module must pin providers (true) or must
// need none (false, the local module).
func lintModule(files map[string][]byte, providers, shipped bool) moduleReport {
	rep := moduleReport{pins: map[string]string{}}
	p := hclparse.NewParser()
	var requiredVersion, requiredProviders bool
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f, diags := p.ParseHCL(files[name], name)
		if diags.HasErrors() {
			rep.problems = append(rep.problems, diags.Error())
			continue
		}
		body := f.Body.(*hclsyntax.Body)
		for _, b := range body.Blocks {
			where := fmt.Sprintf("%s: %s %s", name, b.Type, strings.Join(b.Labels, "."))
			switch b.Type {
			case "variable":
				for _, attr := range []string{"type", "description"} {
					if !hasNonEmpty(b.Body, attr) {
						rep.problems = append(rep.problems, where+": no "+attr)
					}
				}
			case "output":
				if !hasNonEmpty(b.Body, "description") {
					rep.problems = append(rep.problems, where+": no description")
				}
			case "provider":
				if shipped {
					rep.problems = append(rep.problems, where+": provider blocks belong to the root module")
				}
			case "terraform":
				if b.Body.Attributes["required_version"] != nil {
					requiredVersion = true
				}
				for _, rp := range b.Body.Blocks {
					if rp.Type == "required_providers" {
						requiredProviders = true
						rep.problems = append(rep.problems, lintRequiredProviders(name, rp.Body, rep.pins)...)
					}
				}
			}
			rep.problems = append(rep.problems, lintSecrets(where, b.Body)...)
		}
	}
	if !requiredVersion {
		rep.problems = append(rep.problems, "no terraform.required_version")
	}
	switch {
	case providers && !requiredProviders:
		rep.problems = append(rep.problems, "no terraform.required_providers")
	case !providers && requiredProviders:
		rep.problems = append(rep.problems, "required_providers in a module that must need no provider")
	}
	return rep
}

// hasNonEmpty reports whether body sets attr to anything but an empty string.
func hasNonEmpty(body *hclsyntax.Body, attr string) bool {
	a := body.Attributes[attr]
	if a == nil {
		return false
	}
	v, diags := a.Expr.Value(nil)
	return diags.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type().FriendlyName() != "string" || v.AsString() != ""
}

// lintRequiredProviders checks each entry of required_providers has a source and a version.
func lintRequiredProviders(file string, body *hclsyntax.Body, pins map[string]string) []string {
	var problems []string
	for name, attr := range body.Attributes {
		obj, ok := attr.Expr.(*hclsyntax.ObjectConsExpr)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: required provider %s: want { source, version }", file, name))
			continue
		}
		got := map[string]string{}
		for _, item := range obj.Items {
			v, diags := item.ValueExpr.Value(nil)
			if !diags.HasErrors() && v.Type().FriendlyName() == "string" {
				got[hcl.ExprAsKeyword(item.KeyExpr)] = v.AsString()
			}
		}
		for _, k := range []string{"source", "version"} {
			if got[k] == "" {
				problems = append(problems, fmt.Sprintf("%s: required provider %s: no %s", file, name, k))
			}
		}
		pins[name] = got["version"]
	}
	return problems
}

// lintSecrets refuses literal values in attributes named like credentials, at any depth.
func lintSecrets(where string, body *hclsyntax.Body) []string {
	var problems []string
	for name, attr := range body.Attributes {
		if _, literal := attr.Expr.(*hclsyntax.TemplateExpr); literal && isSecretKey(name) && len(attr.Expr.Variables()) == 0 {
			problems = append(problems, fmt.Sprintf("%s: %s is a hard-coded credential", where, name))
		}
	}
	for _, b := range body.Blocks {
		problems = append(problems, lintSecrets(where, b.Body)...)
	}
	return problems
}

// moduleFiles reads the .tf files of the shipped module dir.
func moduleFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	matches, err := fs.Glob(Modules(), path.Join(dir, "*.tf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range matches {
		data, err := fs.ReadFile(Modules(), m)
		if err != nil {
			t.Fatal(err)
		}
		files[path.Base(m)] = data
	}
	return files
}

func TestShippedModules(t *testing.T) {
	t.Parallel()
	entries, err := fs.ReadDir(Modules(), ".")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"agent", "aks", "dns-cloudflare", "dns-local", "doks", "eks", "existing", "gke", "local", "platform", "region-tokens"}
	// Modules that model a cloud with terraform_data need no provider, nor does
	// region-tokens, which the local module runs too, nor existing, which installs with
	// kubectl only.
	providerless := map[string]bool{"local": true, "dns-local": true, "region-tokens": true, "existing": true}
	var got []string
	pins := map[string]string{}
	for _, e := range entries {
		got = append(got, e.Name())
		files := moduleFiles(t, e.Name())
		for _, f := range []string{"versions.tf", "variables.tf", "main.tf", "outputs.tf"} {
			if files[f] == nil {
				t.Errorf("module %s: no %s", e.Name(), f)
			}
		}
		rep := lintModule(files, !providerless[e.Name()], true)
		for _, p := range rep.problems {
			t.Errorf("module %s: %s", e.Name(), p)
		}
		for name, v := range rep.pins {
			pins[name] = v
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("shipped modules = %v, want %v", got, want)
	}
	// platform/install, the kubectl step of the platform module, needs no provider: it
	// must plan before the cluster exists.
	install := moduleFiles(t, "platform/install")
	for _, f := range []string{"versions.tf", "variables.tf", "main.tf", "outputs.tf"} {
		if install[f] == nil {
			t.Errorf("module platform/install: no %s", f)
		}
	}
	for _, p := range lintModule(install, false, true).problems {
		t.Errorf("module platform/install: %s", p)
	}
	if pins["helm"] != "" {
		t.Errorf("a module still requires the helm provider (%s): the platform is installed from deploy/kubernetes, not a chart", pins["helm"])
	}
	// Rendered roots must pin each provider exactly as the modules they call do.
	for _, pin := range append(platformProviders, cloudProviders[ProviderDigitalOcean], cloudProviders[ProviderAWS], cloudProviders[ProviderAzure], cloudProviders[ProviderGCP], dnsProvider) {
		if pins[pin.name] != pin.version {
			t.Errorf("provider %s: roots pin %q, modules pin %q", pin.name, pin.version, pins[pin.name])
		}
	}
}

func TestRenderedRootModules(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t)
	for _, r := range cfg.Regions {
		t.Run(r.Provider, func(t *testing.T) {
			t.Parallel()
			files, err := RenderRegion(cfg, r.Name)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range lintModule(files, r.Provider != ProviderLocal, false).problems {
				t.Errorf("root of region %s: %s", r.Name, p)
			}
		})
	}
	t.Run(GlobalRoot, func(t *testing.T) {
		t.Parallel()
		cfg := mustParse(t, globalYAML)
		files, err := RenderGlobal(cfg, globalEndpoints)
		if err != nil {
			t.Fatal(err)
		}
		rep := lintModule(files, true, false)
		for _, p := range rep.problems {
			t.Errorf("global root: %s", p)
		}
		if rep.pins[dnsProvider.name] != dnsProvider.version {
			t.Errorf("global root pins %v, want %s %s", rep.pins, dnsProvider.name, dnsProvider.version)
		}
	})
}

// TestLintModule proves the module checks fail on the mistakes they exist to catch.
func TestLintModule(t *testing.T) {
	t.Parallel()
	const versions = "terraform {\n  required_version = \">= 1.6.0\"\n  required_providers {\n    aws = { source = \"hashicorp/aws\", version = \"~> 5.70\" }\n  }\n}\n"
	tests := []struct {
		name      string
		files     map[string][]byte
		providers bool
		want      []string
	}{
		{"good", map[string][]byte{"versions.tf": []byte(versions), "variables.tf": []byte("variable \"a\" {\n  type = string\n  description = \"A.\"\n}\n")}, true, nil},
		{"variable without description", map[string][]byte{"versions.tf": []byte(versions), "variables.tf": []byte("variable \"a\" {\n  type = string\n}\n")}, true,
			[]string{"variables.tf: variable a: no description"}},
		{"variable with empty description and no type", map[string][]byte{"versions.tf": []byte(versions), "variables.tf": []byte("variable \"a\" {\n  description = \"\"\n}\n")}, true,
			[]string{"variables.tf: variable a: no type", "variables.tf: variable a: no description"}},
		{"output without description", map[string][]byte{"versions.tf": []byte(versions), "outputs.tf": []byte("output \"a\" {\n  value = 1\n}\n")}, true,
			[]string{"outputs.tf: output a: no description"}},
		{"unpinned provider", map[string][]byte{"versions.tf": []byte("terraform {\n  required_version = \">= 1.6.0\"\n  required_providers {\n    aws = { source = \"hashicorp/aws\" }\n  }\n}\n")}, true,
			[]string{"versions.tf: required provider aws: no version"}},
		{"no required_version", map[string][]byte{"versions.tf": []byte("terraform {\n  required_providers {\n    aws = { source = \"hashicorp/aws\", version = \"~> 5.70\" }\n  }\n}\n")}, true,
			[]string{"no terraform.required_version"}},
		{"local module with a provider", map[string][]byte{"versions.tf": []byte(versions)}, false,
			[]string{"required_providers in a module that must need no provider"}},
		{"provider block with a credential", map[string][]byte{"versions.tf": []byte(versions), "main.tf": []byte("provider \"digitalocean\" {\n  token = \"dop_v1_abc\"\n}\n")}, true,
			[]string{"main.tf: provider digitalocean: provider blocks belong to the root module", "main.tf: provider digitalocean: token is a hard-coded credential"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := lintModule(tt.files, tt.providers, true).problems
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// moduleShape is what a module offers its callers and asks of the modules it calls.
type moduleShape struct {
	variables map[string]bool // name to whether it has a default
	outputs   map[string]bool
	calls     map[string]moduleCall
	refs      []hcl.Traversal // every module.<call>.<output> reference
}

// moduleCall is one module block: its source and the arguments it passes.
type moduleCall struct {
	source string
	args   []string
}

// callMeta are the arguments of a module block that are not the callee's variables.
var callMeta = map[string]bool{"source": true, "version": true, "depends_on": true, "providers": true, "count": true, "for_each": true}

// shapeOf parses a module's .tf files into its shape.
func shapeOf(t *testing.T, files map[string][]byte) moduleShape {
	t.Helper()
	s := moduleShape{variables: map[string]bool{}, outputs: map[string]bool{}, calls: map[string]moduleCall{}}
	p := hclparse.NewParser()
	var walk func(b *hclsyntax.Body)
	walk = func(b *hclsyntax.Body) {
		for _, a := range b.Attributes {
			for _, tr := range a.Expr.Variables() {
				if tr.RootName() == "module" && len(tr) >= 3 {
					s.refs = append(s.refs, tr)
				}
			}
		}
		for _, blk := range b.Blocks {
			walk(blk.Body)
		}
	}
	for name, data := range files {
		f, diags := p.ParseHCL(data, name)
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		body := f.Body.(*hclsyntax.Body)
		for _, b := range body.Blocks {
			switch b.Type {
			case "variable":
				s.variables[b.Labels[0]] = b.Body.Attributes["default"] != nil
			case "output":
				s.outputs[b.Labels[0]] = true
			case "module":
				c := moduleCall{}
				for n, a := range b.Body.Attributes {
					if n == "source" {
						v, _ := a.Expr.Value(nil)
						c.source = v.AsString()
					} else if !callMeta[n] {
						c.args = append(c.args, n)
					}
				}
				s.calls[b.Labels[0]] = c
			}
		}
		walk(body)
	}
	return s
}

// checkCalls reports every argument a module call passes that the callee does not
// declare, every variable without a default it does not pass, and every module.X.Y
// reference to an output the callee does not have. resolve maps a call's source to the
// callee's directory in Modules().
func checkCalls(t *testing.T, who string, caller moduleShape, resolve func(source string) string) {
	t.Helper()
	callees := map[string]moduleShape{}
	for name, c := range caller.calls {
		dir := resolve(c.source)
		callee := shapeOf(t, moduleFiles(t, dir))
		if len(callee.variables) == 0 && len(callee.outputs) == 0 {
			t.Errorf("%s: module %s: source %q is not a shipped module", who, name, c.source)
			continue
		}
		callees[name] = callee
		passed := map[string]bool{}
		for _, a := range c.args {
			passed[a] = true
			if _, ok := callee.variables[a]; !ok {
				t.Errorf("%s: module %s passes %s, which %s does not declare", who, name, a, dir)
			}
		}
		for v, hasDefault := range callee.variables {
			if !hasDefault && !passed[v] {
				t.Errorf("%s: module %s does not pass %s, which %s requires", who, name, v, dir)
			}
		}
	}
	for _, ref := range caller.refs {
		call := ref[1].(hcl.TraverseAttr).Name
		out, ok := ref[2].(hcl.TraverseAttr)
		if !ok {
			t.Errorf("%s: module.%s is indexed: no shipped module is called with count or for_each", who, call)
			continue
		}
		if callee, known := callees[call]; !known {
			t.Errorf("%s: reference to module.%s, which it does not call", who, call)
		} else if !callee.outputs[out.Name] {
			t.Errorf("%s: module.%s has no output %s", who, call, out.Name)
		}
	}
}

// TestModuleCallsMatch checks, without providers, that every rendered root and every
// shipped module calls its modules with exactly their variables and reads only outputs
// they have: the wiring of the cloud roots and of the platform module that no engine
// runs here.
func TestModuleCallsMatch(t *testing.T) {
	t.Parallel()
	fromRoot := func(source string) string { return strings.TrimPrefix(source, ModuleSource+"/") }
	cfg := mustLoad(t)
	for _, r := range cfg.Regions {
		files, err := RenderRegion(cfg, r.Name)
		if err != nil {
			t.Fatal(err)
		}
		checkCalls(t, "root of "+r.Name, shapeOf(t, files), fromRoot)
	}
	for _, dns := range []string{globalYAML, strings.Replace(globalYAML, "provider: cloudflare, zone: example.dev, account_id: 0123456789abcdef0123456789abcdef", "provider: local", 1)} {
		files, err := RenderGlobal(mustParse(t, dns), globalEndpoints)
		if err != nil {
			t.Fatal(err)
		}
		checkCalls(t, "global root", shapeOf(t, files), fromRoot)
	}
	entries, err := fs.ReadDir(Modules(), ".")
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	for _, e := range entries {
		shape := shapeOf(t, moduleFiles(t, e.Name()))
		calls += len(shape.calls)
		checkCalls(t, "module "+e.Name(), shape, func(source string) string { return path.Join(e.Name(), source) })
	}
	if calls == 0 {
		t.Error("no shipped module calls another: platform should call ./install")
	}
}
