package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/micro/platform"
)

func testServices(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustNamespace(t, s, "acme")
	mustNamespace(t, s, "globex")
	deploy(t, s, "acme", "web", "")
	deploy(t, s, "acme", "api", "")
	deploy(t, s, "globex", "billing", "")

	t.Run("list", func(t *testing.T) {
		tests := []struct {
			namespace string
			want      []string
		}{
			{"acme", []string{"acme/api", "acme/web"}},
			{"globex", []string{"globex/billing"}},
			{"", []string{"acme/api", "acme/web", "globex/billing"}},
			{"nobody", nil},
		}
		for _, tc := range tests {
			list, err := s.ListServices(ctx, tc.namespace)
			must(t, err)
			var got []string
			for _, svc := range list {
				got = append(got, svc.Namespace+"/"+svc.Name)
			}
			sameJSON(t, fmt.Sprintf("ListServices(%q)", tc.namespace), got, tc.want)
		}
	})
	t.Run("update writes the status fields only", func(t *testing.T) {
		svc, err := s.GetService(ctx, "acme", "api")
		must(t, err)
		desired, created := svc.DesiredRelease, svc.CreatedAt
		time.Sleep(2 * time.Millisecond)
		svc.CurrentRelease, svc.Status, svc.Reason = "r-current", platform.ServiceCrashLoop, "exit status 2"
		svc.DesiredRelease = "r-other" // not a status field
		must(t, s.UpdateService(ctx, svc))
		got, err := s.GetService(ctx, "acme", "api")
		must(t, err)
		if got.CurrentRelease != "r-current" || got.Status != platform.ServiceCrashLoop || got.Reason != "exit status 2" ||
			got.DesiredRelease != desired || !got.CreatedAt.Equal(created) || !got.UpdatedAt.After(created) {
			t.Fatalf("service after update = %+v, want current r-current, crashloop, reason, desired %s kept, UpdatedAt advanced", got, desired)
		}
		sameTime(t, "UpdatedAt written back", svc.UpdatedAt, got.UpdatedAt)
	})
	t.Run("missing", func(t *testing.T) {
		_, err := s.GetService(ctx, "acme", "nope")
		wantCode(t, err, platform.ENOTFOUND)
		_, err = s.GetService(ctx, "nope", "api")
		wantCode(t, err, platform.ENOTFOUND)
		wantCode(t, s.UpdateService(ctx, &platform.Service{Namespace: "acme", Name: "nope", Status: platform.ServiceRunning}), platform.ENOTFOUND)
		wantCode(t, s.DeleteService(ctx, "acme", "nope"), platform.ENOTFOUND)
	})
}

func testDeleteService(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustNamespace(t, s, "acme")
	b, r := deploy(t, s, "acme", "api", "")
	_, other := deploy(t, s, "acme", "web", "")
	for _, svc := range []string{"api", "web"} {
		must(t, s.ReplaceInstances(ctx, "acme", svc, "local", []*platform.Instance{{ID: svc + "-1", State: platform.InstanceRunning}}))
	}
	must(t, s.AppendEvent(ctx, &platform.Event{Namespace: "acme", Service: "api", Type: platform.EventServiceDeleted}))

	must(t, s.DeleteService(ctx, "acme", "api"))

	_, err := s.GetService(ctx, "acme", "api")
	wantCode(t, err, platform.ENOTFOUND)
	_, err = s.GetBuild(ctx, b.ID)
	wantCode(t, err, platform.ENOTFOUND)
	_, err = s.GetRelease(ctx, r.ID)
	wantCode(t, err, platform.ENOTFOUND)
	instances, err := s.ListInstances(ctx, "acme", "")
	must(t, err)
	if len(instances) != 1 || instances[0].Service != "web" {
		t.Fatalf("instances after deleting api = %+v, want only web's", instances)
	}
	if _, err := s.GetRelease(ctx, other.ID); err != nil {
		t.Fatalf("the other service's release: %v", err)
	}
	events, err := s.ListEvents(ctx, platform.EventFilter{Namespace: "acme", Service: "api"})
	must(t, err)
	if len(events) != 1 {
		t.Fatalf("events of the deleted service = %d, want 1: events outlive the service", len(events))
	}
	wantCode(t, s.DeleteService(ctx, "acme", "api"), platform.ENOTFOUND)
}

func testBuilds(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustNamespace(t, s, "acme")
	mustNamespace(t, s, "globex")
	var api []*platform.Build
	for range 3 {
		b, _ := deploy(t, s, "acme", "api", "")
		api = append(api, b)
	}
	time.Sleep(2 * time.Millisecond) // distinct CreatedAt for the namespace-wide order
	web, _ := deploy(t, s, "acme", "web", "")
	time.Sleep(2 * time.Millisecond)
	billing, _ := deploy(t, s, "globex", "billing", "")

	t.Run("list", func(t *testing.T) {
		tests := []struct {
			namespace, service string
			limit              int
			want               []*platform.Build
		}{
			{"acme", "api", 0, []*platform.Build{api[2], api[1], api[0]}},
			{"acme", "api", 2, []*platform.Build{api[2], api[1]}},
			{"acme", "", 2, []*platform.Build{web, api[2]}},
			{"", "", 2, []*platform.Build{billing, web}},
			{"acme", "nope", 0, []*platform.Build{}},
		}
		for _, tc := range tests {
			list, err := s.ListBuilds(ctx, tc.namespace, tc.service, tc.limit)
			must(t, err)
			sameJSON(t, fmt.Sprintf("ListBuilds(%q, %q, %d)", tc.namespace, tc.service, tc.limit), list, tc.want)
		}
		all, err := s.ListBuilds(ctx, "", "", 0)
		must(t, err)
		if len(all) != 5 {
			t.Fatalf("all builds = %d, want 5", len(all))
		}
	})
	t.Run("update", func(t *testing.T) {
		b := api[0]
		started := testTime
		b.Status, b.StartedAt = platform.BuildRunning, &started
		must(t, s.UpdateBuild(ctx, b))
		finished := testTime.Add(90 * time.Second)
		b.Status, b.FinishedAt, b.Source.Commit, b.Artifact = platform.BuildSucceeded, &finished, "0123abcd", "/data/bin/api-1"
		b.Source.URL = "ignored" // not an updatable field
		must(t, s.UpdateBuild(ctx, b))
		got, err := s.GetBuild(ctx, b.ID)
		must(t, err)
		if got.Status != platform.BuildSucceeded || got.Source.Commit != "0123abcd" || got.Artifact != "/data/bin/api-1" ||
			got.Source.URL != "" || got.StartedAt == nil || got.FinishedAt == nil {
			t.Fatalf("build after updates = %+v", got)
		}
		sameTime(t, "StartedAt", *got.StartedAt, started)
		sameTime(t, "FinishedAt", *got.FinishedAt, finished)

		b.Status, b.Error = platform.BuildFailed, "main.go:3: undefined: x"
		must(t, s.UpdateBuild(ctx, b))
		got, err = s.GetBuild(ctx, b.ID)
		must(t, err)
		if got.Status != platform.BuildFailed || got.Error != b.Error {
			t.Fatalf("failed build = %+v, want failed with the compiler error", got)
		}
	})
	t.Run("docs", func(t *testing.T) {
		b := api[1]
		b.Status, b.Artifact = platform.BuildSucceeded, "/data/bin/api-2"
		b.Docs = map[string]platform.EndpointDoc{
			"Helloworld.Call":   {Description: "Call greets a person — «quoted» \"text\".", Example: `{"name": "Alice"}`},
			"Helloworld.Stream": {Example: `{"count": 3}`},
			"Admin.Reset":       {Description: "Reset forgets everything."},
		}
		must(t, s.UpdateBuild(ctx, b))
		got, err := s.GetBuild(ctx, b.ID)
		must(t, err)
		sameJSON(t, "Docs after UpdateBuild", got.Docs, b.Docs)

		list, err := s.ListBuilds(ctx, "acme", "api", 0)
		must(t, err)
		for _, l := range list {
			if l.Docs != nil {
				t.Errorf("ListBuilds: build %s has docs %v, want them left out", l.ID, l.Docs)
			}
		}

		// More ids than one query takes, repeated and unknown ones, and a build without
		// docs: only the build with docs is in the answer.
		ids := []string{"", api[0].ID, b.ID, b.ID}
		for i := range 700 {
			ids = append(ids, fmt.Sprintf("b-nope-%d", i))
		}
		ids = append(ids, b.ID)
		docs, err := s.BuildDocs(ctx, ids)
		must(t, err)
		sameJSON(t, "BuildDocs", docs, map[string]map[string]platform.EndpointDoc{b.ID: b.Docs})
		docs, err = s.BuildDocs(ctx, nil)
		must(t, err)
		if len(docs) != 0 {
			t.Errorf("BuildDocs(nil) = %v, want none", docs)
		}

		b.Docs = nil
		must(t, s.UpdateBuild(ctx, b))
		got, err = s.GetBuild(ctx, b.ID)
		must(t, err)
		if got.Docs != nil {
			t.Errorf("Docs after clearing = %v, want none", got.Docs)
		}
		docs, err = s.BuildDocs(ctx, []string{b.ID})
		must(t, err)
		if len(docs) != 0 {
			t.Errorf("BuildDocs of a build whose docs were cleared = %v, want none", docs)
		}
	})
	t.Run("missing", func(t *testing.T) {
		_, err := s.GetBuild(ctx, "b-nope")
		wantCode(t, err, platform.ENOTFOUND)
		wantCode(t, s.UpdateBuild(ctx, &platform.Build{ID: "b-nope", Status: platform.BuildRunning}), platform.ENOTFOUND)
	})
}

func testInstances(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustNamespace(t, s, "acme")
	_, r := deploy(t, s, "acme", "api", "")
	deploy(t, s, "acme", "web", "")
	instance := func(id string) *platform.Instance {
		return &platform.Instance{
			ID: id, ReleaseID: r.ID, Version: r.Version, State: platform.InstanceBackoff, Restarts: 3, ExitCode: 2,
			Message: "exit status 2", Registered: true, StartedAt: testTime.Truncate(time.Microsecond),
			CPUPercent: 12.5, MemoryBytes: 64 << 20,
		}
	}
	list := func(ns, svc string) []*platform.Instance {
		got, err := s.ListInstances(ctx, ns, svc)
		must(t, err)
		return got
	}

	must(t, s.ReplaceInstances(ctx, "acme", "api", "local", []*platform.Instance{instance("c"), instance("a"), instance("b")}))
	want := []*platform.Instance{instance("a"), instance("b"), instance("c")}
	for _, in := range want {
		in.Region, in.Namespace, in.Service = "local", "acme", "api"
	}
	sameJSON(t, "instances ordered by ID", list("acme", "api"), want)

	must(t, s.ReplaceInstances(ctx, "acme", "web", "local", []*platform.Instance{{ID: "aa", State: platform.InstanceStarting}}))
	must(t, s.ReplaceInstances(ctx, "acme", "api", "local", []*platform.Instance{instance("b"), instance("d")}))
	var ids []string
	for _, in := range list("acme", "") {
		ids = append(ids, in.Service+"/"+in.ID)
	}
	sameJSON(t, "namespace instances after a replace", ids, []string{"web/aa", "api/b", "api/d"})

	must(t, s.ReplaceInstances(ctx, "acme", "api", "local", nil))
	if got := list("acme", "api"); len(got) != 0 {
		t.Fatalf("instances after replacing with none = %d, want 0", len(got))
	}
	if got := list("acme", "web"); len(got) != 1 {
		t.Fatalf("the other service's instances = %d, want 1", len(got))
	}

	wantCode(t, s.ReplaceInstances(ctx, "acme", "nope", "local", []*platform.Instance{instance("x")}), platform.ENOTFOUND)
	wantCode(t, s.ReplaceInstances(ctx, "acme", "web", "local", []*platform.Instance{{ID: ""}}), platform.EINVALID)
	wantCode(t, s.ReplaceInstances(ctx, "acme", "web", "local", []*platform.Instance{instance("x"), instance("x")}), platform.EINVALID)
	if got := list("acme", "web"); len(got) != 1 || got[0].ID != "aa" {
		t.Fatalf("instances after rejected replaces = %+v, want aa untouched", got)
	}
}

// testInstanceRegions checks that a service's instances are kept per region: replacing
// one region's leaves the others', and listings order by region then ID.
func testInstanceRegions(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustNamespace(t, s, "acme")
	deploy(t, s, "acme", "api", "")
	deploy(t, s, "acme", "web", "")
	running := func(ids ...string) []*platform.Instance {
		var list []*platform.Instance
		for _, id := range ids {
			list = append(list, &platform.Instance{ID: id, State: platform.InstanceRunning})
		}
		return list
	}
	listed := func(ns, svc string) []string {
		got, err := s.ListInstances(ctx, ns, svc)
		must(t, err)
		names := []string{}
		for _, in := range got {
			names = append(names, in.Region+"/"+in.Service+"/"+in.ID)
		}
		return names
	}

	lon := running("c", "a")
	must(t, s.ReplaceInstances(ctx, "acme", "api", "lon1", lon))
	for _, in := range lon {
		if in.Region != "lon1" || in.Namespace != "acme" || in.Service != "api" {
			t.Fatalf("written back instance = %+v, want region lon1 of acme/api", in)
		}
	}
	must(t, s.ReplaceInstances(ctx, "acme", "api", "fra1", running("d", "b")))
	must(t, s.ReplaceInstances(ctx, "acme", "web", "lon1", running("e")))
	sameJSON(t, "service instances by region then ID", listed("acme", "api"),
		[]string{"fra1/api/b", "fra1/api/d", "lon1/api/a", "lon1/api/c"})
	sameJSON(t, "namespace instances", listed("acme", ""),
		[]string{"fra1/api/b", "fra1/api/d", "lon1/api/a", "lon1/api/c", "lon1/web/e"})

	t.Run("replacing one region leaves the others", func(t *testing.T) {
		must(t, s.ReplaceInstances(ctx, "acme", "api", "lon1", running("f")))
		sameJSON(t, "after replacing lon1", listed("acme", "api"), []string{"fra1/api/b", "fra1/api/d", "lon1/api/f"})
		must(t, s.ReplaceInstances(ctx, "acme", "api", "fra1", nil))
		sameJSON(t, "after emptying fra1", listed("acme", "api"), []string{"lon1/api/f"})
		sameJSON(t, "the other service", listed("acme", "web"), []string{"lon1/web/e"})
	})
	t.Run("errors", func(t *testing.T) {
		wantCode(t, s.ReplaceInstances(ctx, "acme", "api", "", running("g")), platform.EINVALID)
		// Instance IDs are unique across regions.
		wantCode(t, s.ReplaceInstances(ctx, "acme", "api", "fra1", running("g", "f")), platform.ECONFLICT)
		sameJSON(t, "after rejected replaces", listed("acme", "api"), []string{"lon1/api/f"})
	})
}
