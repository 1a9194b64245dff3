package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/micro/platform"
)

func testNamespaces(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()

	t.Run("create sets CreatedAt", func(t *testing.T) {
		before := time.Now().Add(-time.Second)
		ns := &platform.Namespace{Name: "acme"}
		must(t, s.CreateNamespace(ctx, ns))
		if ns.CreatedAt.Before(before) || ns.CreatedAt.After(time.Now().Add(time.Second)) {
			t.Fatalf("CreatedAt = %v, want about now", ns.CreatedAt)
		}
		got, err := s.GetNamespace(ctx, "acme")
		must(t, err)
		sameJSON(t, "GetNamespace", got, ns)
	})
	t.Run("create keeps a given CreatedAt", func(t *testing.T) {
		must(t, s.CreateNamespace(ctx, &platform.Namespace{Name: "globex", CreatedAt: testTime}))
		got, err := s.GetNamespace(ctx, "globex")
		must(t, err)
		sameTime(t, "CreatedAt", got.CreatedAt, testTime)
	})
	t.Run("duplicate is a conflict", func(t *testing.T) {
		wantCode(t, s.CreateNamespace(ctx, &platform.Namespace{Name: "acme"}), platform.ECONFLICT)
	})
	for _, name := range []string{"", "Acme", "-acme", "acme-", "ac_me", "1acme", strings.Repeat("a", 41)} {
		t.Run("invalid name "+name, func(t *testing.T) {
			wantCode(t, s.CreateNamespace(ctx, &platform.Namespace{Name: name}), platform.EINVALID)
		})
	}
	t.Run("list is ordered by name", func(t *testing.T) {
		mustNamespace(t, s, "zeta")
		mustNamespace(t, s, "beta")
		list, err := s.ListNamespaces(ctx)
		must(t, err)
		var names []string
		for _, ns := range list {
			names = append(names, ns.Name)
		}
		if got, want := strings.Join(names, ","), "acme,beta,globex,zeta"; got != want {
			t.Fatalf("ListNamespaces = %s, want %s (invalid names must not be stored)", got, want)
		}
	})
	t.Run("missing", func(t *testing.T) {
		_, err := s.GetNamespace(ctx, "nope")
		wantCode(t, err, platform.ENOTFOUND)
		wantCode(t, s.DeleteNamespace(ctx, "nope"), platform.ENOTFOUND)
	})
	t.Run("delete then recreate", func(t *testing.T) {
		must(t, s.DeleteNamespace(ctx, "beta"))
		_, err := s.GetNamespace(ctx, "beta")
		wantCode(t, err, platform.ENOTFOUND)
		wantCode(t, s.DeleteNamespace(ctx, "beta"), platform.ENOTFOUND)
		must(t, s.CreateNamespace(ctx, &platform.Namespace{Name: "beta"}))
	})
}

// testNamespaceRegions checks that a namespace's default regions are stored in the order
// given and replaced by SetNamespaceRegions.
func testNamespaceRegions(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	acme := &platform.Namespace{Name: "acme", Regions: []string{"lon1", "fra1"}}
	must(t, s.CreateNamespace(ctx, acme))
	mustNamespace(t, s, "globex")
	regionsOf := func(name string) []string {
		t.Helper()
		ns, err := s.GetNamespace(ctx, name)
		must(t, err)
		return ns.Regions
	}

	t.Run("create stores them", func(t *testing.T) {
		got, err := s.GetNamespace(ctx, "acme")
		must(t, err)
		sameJSON(t, "GetNamespace", got, acme)
		list, err := s.ListNamespaces(ctx)
		must(t, err)
		if len(list) != 2 || !slices.Equal(list[0].Regions, []string{"lon1", "fra1"}) || list[1].Regions != nil {
			t.Fatalf("ListNamespaces = %+v, want acme in lon1 and fra1, globex in none", list)
		}
	})
	t.Run("set replaces them", func(t *testing.T) {
		must(t, s.SetNamespaceRegions(ctx, "globex", []string{"nyc1"}))
		if got := regionsOf("globex"); !slices.Equal(got, []string{"nyc1"}) {
			t.Fatalf("regions = %q, want nyc1", got)
		}
		must(t, s.SetNamespaceRegions(ctx, "acme", []string{"fra1", "lon1", "sgp1"}))
		if got := regionsOf("acme"); !slices.Equal(got, []string{"fra1", "lon1", "sgp1"}) {
			t.Fatalf("regions = %q, want fra1, lon1, sgp1", got)
		}
		must(t, s.SetNamespaceRegions(ctx, "acme", nil))
		if got := regionsOf("acme"); len(got) != 0 {
			t.Fatalf("regions after clearing = %q, want none", got)
		}
	})
	t.Run("errors", func(t *testing.T) {
		wantCode(t, s.SetNamespaceRegions(ctx, "nope", []string{"lon1"}), platform.ENOTFOUND)
		wantCode(t, s.SetNamespaceRegions(ctx, "globex", []string{"Bad_Region"}), platform.EINVALID)
		wantCode(t, s.SetNamespaceRegions(ctx, "globex", []string{"lon1", "lon1"}), platform.EINVALID)
		wantCode(t, s.CreateNamespace(ctx, &platform.Namespace{Name: "initech", Regions: []string{""}}), platform.EINVALID)
		_, err := s.GetNamespace(ctx, "initech")
		wantCode(t, err, platform.ENOTFOUND)
		if got := regionsOf("globex"); !slices.Equal(got, []string{"nyc1"}) {
			t.Fatalf("regions after rejected sets = %q, want nyc1", got)
		}
	})
}

// testDeleteNamespaceCascades fills two namespaces, deletes one and checks that nothing
// of it remains while the other is untouched.
func testDeleteNamespaceCascades(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	type filled struct {
		build   *platform.Build
		release *platform.Release
	}
	fill := func(ns string) filled {
		mustNamespace(t, s, ns)
		deploy(t, s, ns, "api", "")
		b, r := deploy(t, s, ns, "api", "")
		deploy(t, s, ns, "web", "")
		must(t, s.ReplaceInstances(ctx, ns, "api", "local", []*platform.Instance{{ID: ns + "-i1", ReleaseID: r.ID, State: platform.InstanceRunning}}))
		must(t, s.AppendEvent(ctx, &platform.Event{Namespace: ns, Service: "api", Type: platform.EventReleaseCreated}))
		must(t, s.AppendEvent(ctx, &platform.Event{Namespace: ns, Type: platform.EventNamespaceCreated}))
		must(t, s.AddRequestUsage(ctx, []*platform.RequestUsage{{Namespace: ns, Service: "api", Minute: testTime, Requests: 1}}))
		must(t, s.PutResourceUsage(ctx, []*platform.ResourceUsage{{Namespace: ns, Service: "api", Minute: testTime, CPUMillicores: 5}}))
		return filled{b, r}
	}
	gone, kept := fill("gone"), fill("kept")

	must(t, s.DeleteNamespace(ctx, "gone"))

	counts := func(ns string) map[string]int {
		services, err := s.ListServices(ctx, ns)
		must(t, err)
		builds, err := s.ListBuilds(ctx, ns, "", 0)
		must(t, err)
		releases, err := s.ListReleases(ctx, ns, "api", 0)
		must(t, err)
		instances, err := s.ListInstances(ctx, ns, "")
		must(t, err)
		events, err := s.ListEvents(ctx, platform.EventFilter{Namespace: ns})
		must(t, err)
		usage, err := s.ListRequestUsage(ctx, ns, "", testTime.Add(-time.Hour), testTime.Add(time.Hour))
		must(t, err)
		resources, err := s.ListResourceUsage(ctx, ns, "api", testTime.Add(-time.Hour), testTime.Add(time.Hour))
		must(t, err)
		return map[string]int{"services": len(services), "builds": len(builds), "releases": len(releases),
			"instances": len(instances), "events": len(events), "usage": len(usage), "resources": len(resources)}
	}
	sameJSON(t, "what remains of the deleted namespace", counts("gone"),
		map[string]int{"services": 0, "builds": 0, "releases": 0, "instances": 0, "events": 0, "usage": 0, "resources": 0})
	sameJSON(t, "the other namespace", counts("kept"),
		map[string]int{"services": 2, "builds": 3, "releases": 2, "instances": 1, "events": 2, "usage": 1, "resources": 1})

	_, err := s.GetService(ctx, "gone", "api")
	wantCode(t, err, platform.ENOTFOUND)
	_, err = s.GetBuild(ctx, gone.build.ID)
	wantCode(t, err, platform.ENOTFOUND)
	_, err = s.GetRelease(ctx, gone.release.ID)
	wantCode(t, err, platform.ENOTFOUND)
	_, err = s.GetRelease(ctx, kept.release.ID)
	must(t, err)

	// A namespace of the same name starts empty.
	mustNamespace(t, s, "gone")
	sameJSON(t, "recreated namespace", counts("gone"),
		map[string]int{"services": 0, "builds": 0, "releases": 0, "instances": 0, "events": 0, "usage": 0, "resources": 0})
}

// testNamespaceNamesStayWithTheirOrg checks that a namespace name, once used by an
// organisation, can be created again by that organisation only: the mesh credentials,
// registry credential and image repositories derived from the name must not pass to
// another organisation.
func testNamespaceNamesStayWithTheirOrg(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	must(t, s.CreateOrg(ctx, &platform.Org{Name: "globex"}))
	must(t, s.CreateNamespace(ctx, &platform.Namespace{Name: "staging"}))
	must(t, s.DeleteNamespace(ctx, "staging"))

	t.Run("another org may not reuse a deleted name", func(t *testing.T) {
		err := s.CreateNamespace(ctx, &platform.Namespace{Name: "staging", Org: "globex"})
		wantCode(t, err, platform.ECONFLICT)
		if msg := platform.ErrorMessage(err); !strings.Contains(msg, `namespace name "staging" belongs to another organisation`) {
			t.Fatalf("message = %q", msg)
		}
		var perr *platform.Error
		if !errors.As(err, &perr) || !strings.Contains(perr.Hint, "choose another name") {
			t.Fatalf("hint of %v, want one to choose another name", err)
		}
		_, err = s.GetNamespace(ctx, "staging")
		wantCode(t, err, platform.ENOTFOUND)
	})
	t.Run("the same org may recreate it", func(t *testing.T) {
		must(t, s.CreateNamespace(ctx, &platform.Namespace{Name: "staging"}))
		got, err := s.GetNamespace(ctx, "staging")
		must(t, err)
		if got.Org != platform.DefaultOrg {
			t.Fatalf("org = %q, want %q", got.Org, platform.DefaultOrg)
		}
	})
	t.Run("a live name is a conflict for another org", func(t *testing.T) {
		wantCode(t, s.CreateNamespace(ctx, &platform.Namespace{Name: "staging", Org: "globex"}), platform.ECONFLICT)
	})
	t.Run("a refused name is not claimed", func(t *testing.T) {
		wantCode(t, s.CreateNamespace(ctx, &platform.Namespace{Name: "prod", Org: "nope"}), platform.ENOTFOUND)
		must(t, s.CreateNamespace(ctx, &platform.Namespace{Name: "prod", Org: "globex"}))
	})
}

// testDeleteNamespaceUnscopesTokens checks that deleting a namespace takes it out of
// the tokens narrowed to it, so that a namespace created later under the same name is
// not reached by them, and deletes the tokens narrowed to it alone.
func testDeleteNamespaceUnscopesTokens(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustNamespace(t, s, "staging")
	mustNamespace(t, s, "prod")
	mustNamespace(t, s, "staging-2")
	toks := []*platform.Token{
		{ID: "t-only", Name: "only", Hash: "hash-only", Admin: true, Namespaces: []string{"staging"}},
		{ID: "t-two", Name: "two", Hash: "hash-two", Admin: true, Namespaces: []string{"prod", "staging"}},
		{ID: "t-near", Name: "near", Hash: "hash-near", Admin: true, Namespaces: []string{"staging-2"}},
		{ID: "t-all", Name: "all", Hash: "hash-all", Admin: true},
	}
	for _, tok := range toks {
		must(t, s.CreateToken(ctx, tok))
	}
	must(t, s.DeleteNamespace(ctx, "staging"))
	tests := []struct {
		hash string
		want []string // nil: every namespace
		gone bool
	}{
		{"hash-only", nil, true},
		{"hash-two", []string{"prod"}, false},
		{"hash-near", []string{"staging-2"}, false},
		{"hash-all", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.hash, func(t *testing.T) {
			tok, err := s.GetTokenByHash(ctx, tt.hash)
			if tt.gone {
				wantCode(t, err, platform.ENOTFOUND)
				return
			}
			must(t, err)
			if !slices.Equal(tok.Namespaces, tt.want) {
				t.Fatalf("namespaces = %q, want %q", tok.Namespaces, tt.want)
			}
		})
	}
}

// testNamespaceDev checks that a namespace's dev mode is stored at create and changed by
// SetNamespaceDev.
func testNamespaceDev(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	must(t, s.CreateNamespace(ctx, &platform.Namespace{Name: "acme-dev", Dev: true}))
	mustNamespace(t, s, "acme")
	devOf := func(name string) bool {
		t.Helper()
		ns, err := s.GetNamespace(ctx, name)
		must(t, err)
		return ns.Dev
	}
	if !devOf("acme-dev") || devOf("acme") {
		t.Fatalf("dev = %v, %v; want acme-dev a dev namespace, acme not", devOf("acme-dev"), devOf("acme"))
	}
	must(t, s.SetNamespaceDev(ctx, "acme", true))
	must(t, s.SetNamespaceDev(ctx, "acme-dev", false))
	if devOf("acme-dev") || !devOf("acme") {
		t.Fatalf("after SetNamespaceDev: dev = %v, %v; want acme only", devOf("acme-dev"), devOf("acme"))
	}
	list, err := s.ListNamespaces(ctx)
	must(t, err)
	if len(list) != 2 || !list[0].Dev || list[1].Dev {
		t.Fatalf("ListNamespaces = %+v, want acme dev, acme-dev not", list)
	}
	wantCode(t, s.SetNamespaceDev(ctx, "nope", true), platform.ENOTFOUND)
}
