package control_test

import (
	"context"
	"maps"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime/fake"
)

// docsCountingStore counts the plane's BuildDocs queries.
type docsCountingStore struct {
	platform.Store
	queries atomic.Int32
}

func (s *docsCountingStore) BuildDocs(ctx context.Context, ids []string) (map[string]map[string]platform.EndpointDoc, error) {
	s.queries.Add(1)
	return s.Store.BuildDocs(ctx, ids)
}

// TestServiceEndpointDocs checks that a service's endpoints show the description and
// example its build read from the source where the registry has none, that what the
// service registers itself wins, and that a listing reads the docs of every service's
// build in one query.
func TestServiceEndpointDocs(t *testing.T) {
	t.Parallel()
	counting := &docsCountingStore{}
	h := openHarness(t, t.TempDir(), fake.NewHost(), harnessOptions{rollout: 5 * time.Second,
		wrapStore: func(st platform.Store) platform.Store { counting.Store = st; return counting }})
	h.start()
	if _, err := h.plane.CreateNamespace(h.admin, "acme"); err != nil {
		t.Fatal(err)
	}
	// What services register in code (server.WithEndpointExample, WithEndpointDocs).
	registered := map[string]map[string]string{
		"own":  {"example": `{"name": "Bob"}`, "stream": "false"},
		"full": {"description": "Call says hello.", "example": `{"name": "Carol"}`},
	}
	h.mesh.mu.Lock()
	for svc, md := range registered {
		h.mesh.meta[svc] = maps.Clone(md)
	}
	h.mesh.mu.Unlock()

	archives := map[string]string{"plain": digest("d0c1"), "own": digest("d0c2"), "full": digest("d0c3"), "nodocs": digest("aaaa")}
	releases := map[string]*platform.Release{}
	for svc, archive := range archives {
		releases[svc] = h.deploy("acme", svc, archive)
	}
	for _, r := range releases {
		h.waitRelease(r.ID, platform.ReleaseLive)
	}

	t.Run("stored with the build", func(t *testing.T) {
		b, err := h.store.GetBuild(context.Background(), releases["plain"].BuildID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(b.Docs, fakeDocs) {
			t.Errorf("build docs = %+v, want %+v", b.Docs, fakeDocs)
		}
		b, err = h.store.GetBuild(context.Background(), releases["nodocs"].BuildID)
		if err != nil {
			t.Fatal(err)
		}
		if b.Docs != nil {
			t.Errorf("docs of a build that found none = %+v", b.Docs)
		}
	})

	want := map[string]map[string]string{
		"plain":  {"description": "Call greets a person.", "example": `{"name": "Alice"}`},
		"own":    {"description": "Call greets a person.", "example": `{"name": "Bob"}`, "stream": "false"},
		"full":   registered["full"],
		"nodocs": nil,
	}
	check := func(t *testing.T, v *platform.ServiceView) {
		t.Helper()
		if len(v.Endpoints) != 1 || v.Endpoints[0].Name != "Helloworld.Call" {
			t.Fatalf("%s: endpoints = %+v, want Helloworld.Call alone (docs of unregistered endpoints stay out)", v.Name, v.Endpoints)
		}
		if got := v.Endpoints[0].Metadata; !reflect.DeepEqual(got, want[v.Name]) {
			t.Errorf("%s: metadata = %v, want %v", v.Name, got, want[v.Name])
		}
	}
	t.Run("GetService", func(t *testing.T) {
		for svc := range archives {
			before := counting.queries.Load()
			v, err := h.plane.GetService(h.admin, "acme", svc)
			if err != nil {
				t.Fatal(err)
			}
			check(t, v)
			wantQueries := int32(1)
			if svc == "full" {
				wantQueries = 0 // the registry has both: no query
			}
			if queries := counting.queries.Load() - before; queries != wantQueries {
				t.Errorf("%s: %d docs queries, want %d", svc, queries, wantQueries)
			}
		}
	})
	t.Run("ListServices", func(t *testing.T) {
		before := counting.queries.Load()
		views, err := h.plane.ListServices(h.admin, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if queries := counting.queries.Load() - before; queries != 1 {
			t.Errorf("ListServices made %d docs queries, want 1 for all its services", queries)
		}
		if len(views) != len(archives) {
			t.Fatalf("services = %d, want %d", len(views), len(archives))
		}
		for _, v := range views {
			check(t, v)
		}
	})
}
