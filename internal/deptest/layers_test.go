package deptest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The sides of docs/architecture.md's layers, as go list patterns from the module root.
// A pattern may name a package that does not exist yet: its rule holds from the day it
// does, and covers every subpackage added under it.
var (
	// runtimeSide runs one region: build, run, isolate, route, observe.
	runtimeSide = []string{
		"./runtime/...", "./builder/...", "./archive/...", "./oci/...", "./logstore/...",
		"./natsbus/...", "./gateway/...", "./region/...", "./agent/...", "./runtimeapi/...",
		// metering's publisher is called from the gateway and the runtime.
		"./metering/...",
	}
	// platformSide is the control plane and its clients.
	platformSide = []string{
		"./control/...", "./http/...", "./client/...", "./cli/...", "./server/...",
		"./sqlstore/...", "./storetest/...", "./github/...", "./infra/...", "./auth/...",
		"./cmd/...", "./alerting/...", "./billing/...",
	}
	// shared may be imported from both sides: the domain, the one authorisation policy,
	// sealing at rest and the reconcilers' work queue.
	shared = []string{".", "./authz/...", "./internal/seal/...", "./internal/workqueue/..."}
	// testHelpers are for _test.go files only.
	testHelpers = []string{
		"./internal/testenv/...", "./internal/kubetest/...", "./internal/deptest/...", "./internal/browsertest/...",
		"./internal/stripetest/...",
	}
	// serverOnly are the packages only the server may wire: a client talks to the API.
	serverOnly = []string{"./server/...", "./control/...", "./sqlstore/..."}
)

// rule holds the packages from matches to their dependencies.
type rule struct {
	name string
	from []string
	// forbid are patterns no dependency of from may match. A package that matches them
	// itself is not held to them: test helpers may use each other.
	forbid []string
	// only, when set, are the patterns every dependency of from must match; "std" is the
	// standard library.
	only []string
}

var rules = []rule{
	{name: "runtime does not import platform", from: runtimeSide, forbid: platformSide},
	{name: "shared packages import neither side", from: shared, forbid: slices.Concat(runtimeSide, platformSide)},
	{name: "root imports only the standard library", from: []string{"."}, only: []string{"std"}},
	{name: "authz depends only on the root", from: []string{"./authz/..."}, only: []string{"std", "."}},
	{name: "cli is a client of the API", from: []string{"./cli/..."}, forbid: serverOnly},
	{name: "client is a client of the API", from: []string{"./client/..."}, forbid: serverOnly},
	{name: "gateway does not import the API", from: []string{"./gateway/..."}, forbid: []string{"./http/..."}},
	{name: "test helpers only in tests", from: []string{"./..."}, forbid: testHelpers},
}

// TestLayers checks every rule against the module's non-test imports.
func TestLayers(t *testing.T) {
	t.Parallel()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			problems, missing, err := check(root, r)
			if err != nil {
				t.Fatal(err)
			}
			if len(missing) > 0 {
				t.Logf("no package yet: %s", strings.Join(missing, " "))
			}
			for _, p := range problems {
				t.Error(p)
			}
		})
	}
}

// TestCheckReportsChain checks that a broken rule names the package, the import and the
// chain that leads to it: the server wires the API, so "server must not import http"
// fails.
func TestCheckReportsChain(t *testing.T) {
	t.Parallel()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	problems, _, err := check(root, rule{name: "example", from: []string{"./server"}, forbid: []string{"./http/..."}})
	if err != nil {
		t.Fatal(err)
	}
	const mod = "github.com/micro/platform"
	want := "example: " + mod + "/server depends on " + mod + "/http: " + mod + "/server → " + mod + "/http"
	if !slices.Contains(problems, want) {
		t.Errorf("problems = %q, want one %q", problems, want)
	}
}

// TestChain checks that Chain finds a shortest import path, and none where there is none.
func TestChain(t *testing.T) {
	t.Parallel()
	g := &Graph{Packages: map[string]*Package{
		"cmd":    {ImportPath: "cmd", Imports: []string{"cli", "server"}},
		"cli":    {ImportPath: "cli", Imports: []string{"client"}},
		"client": {ImportPath: "client", Imports: []string{"root"}},
		"server": {ImportPath: "server", Imports: []string{"http", "root"}},
		"http":   {ImportPath: "http", Imports: []string{"root"}},
		"root":   {ImportPath: "root"},
	}}
	tests := []struct {
		from, to string
		want     []string
	}{
		{"cmd", "root", []string{"cmd", "server", "root"}}, // the shortest, not cli's
		{"cmd", "http", []string{"cmd", "server", "http"}},
		{"cli", "http", nil},
		{"root", "root", []string{"root"}},
	}
	for _, tt := range tests {
		if got := g.Chain(tt.from, tt.to); !slices.Equal(got, tt.want) {
			t.Errorf("Chain(%s, %s) = %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
}

// check returns one message per dependency of r.from that r does not allow, and the
// patterns of r that match no directory yet.
func check(root string, r rule) (problems, missing []string, err error) {
	g, err := Load(root, r.from...)
	if err != nil {
		return nil, nil, err
	}
	forbid, missingForbid, err := Expand(root, r.forbid...)
	if err != nil {
		return nil, nil, err
	}
	only, missingOnly, err := Expand(root, r.only...)
	if err != nil {
		return nil, nil, err
	}
	missing = slices.Concat(g.Missing, missingForbid, missingOnly)
	forbidden, allowed := set(forbid), set(only)
	report := func(pkg, dep string) {
		problems = append(problems, fmt.Sprintf("%s: %s depends on %s: %s",
			r.name, pkg, dep, strings.Join(g.Chain(pkg, dep), " → ")))
	}
	for _, pkg := range g.Listed {
		if !forbidden[pkg] {
			for _, dep := range g.Deps(pkg) {
				if forbidden[dep] {
					report(pkg, dep)
				}
			}
		}
		if len(r.only) > 0 {
			for _, dep := range g.Packages[pkg].Deps {
				if !allowed[dep] {
					report(pkg, dep)
				}
			}
		}
	}
	return problems, missing, nil
}

func set(paths []string) map[string]bool {
	m := make(map[string]bool, len(paths))
	for _, p := range paths {
		m[p] = true
	}
	return m
}
