package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/micro/platform"
)

func testDeploy(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustNamespace(t, s, "acme")

	t.Run("creates the service", func(t *testing.T) {
		b, r := newDeploy("acme", "api", "")
		b.Source = platform.Source{Kind: platform.SourceGit, URL: "https://example.com/api.git", Ref: "main", Path: "cmd/api"}
		must(t, s.Deploy(ctx, b, r))
		if r.Version != "v1" || b.Status != platform.BuildQueued || r.Status != platform.ReleasePending {
			t.Fatalf("deploy wrote back version %q, build %q, release %q; want v1, queued, pending", r.Version, b.Status, r.Status)
		}
		svc, err := s.GetService(ctx, "acme", "api")
		must(t, err)
		if svc.DesiredRelease != r.ID || svc.Status != platform.ServiceDeploying || svc.CurrentRelease != "" || svc.Deleted {
			t.Fatalf("service after first deploy = %+v, want desired %s, deploying, no current release", svc, r.ID)
		}
		gotB, err := s.GetBuild(ctx, b.ID)
		must(t, err)
		sameJSON(t, "GetBuild", gotB, b)
		gotR, err := s.GetRelease(ctx, r.ID)
		must(t, err)
		sameJSON(t, "GetRelease", gotR, r)
	})
	t.Run("assigns the next versions", func(t *testing.T) {
		for _, want := range []string{"v2", "v3"} {
			if _, r := deploy(t, s, "acme", "api", ""); r.Version != want {
				t.Fatalf("Version = %q, want %q", r.Version, want)
			}
		}
	})
	t.Run("versions are per service", func(t *testing.T) {
		if _, r := deploy(t, s, "acme", "web", ""); r.Version != "v1" {
			t.Fatalf("first version of another service = %q, want v1", r.Version)
		}
	})
	t.Run("user-given versions", func(t *testing.T) {
		if _, r := deploy(t, s, "acme", "api", "stable"); r.Version != "stable" {
			t.Fatalf("Version = %q, want stable", r.Version)
		}
		deploy(t, s, "acme", "api", "v10")
		if _, r := deploy(t, s, "acme", "api", ""); r.Version != "v11" {
			t.Fatalf("version after v10 = %q, want v11", r.Version)
		}
	})
	t.Run("sizes round trip", func(t *testing.T) {
		// Empty is what releases recorded before sizes have: it stays empty (the
		// default), and every size of the catalogue comes back as written.
		for _, size := range append([]platform.Size{""}, platform.Sizes()...) {
			b, r := newDeploy("acme", "sized", "")
			r.Size = size
			must(t, s.Deploy(ctx, b, r))
			got, err := s.GetRelease(ctx, r.ID)
			must(t, err)
			if got.Size != size {
				t.Fatalf("GetRelease size = %q, want %q", got.Size, size)
			}
			list, err := s.ListReleases(ctx, "acme", "sized", 1)
			must(t, err)
			if len(list) != 1 || list[0].Size != size {
				t.Fatalf("ListReleases newest = %+v, want size %q", list, size)
			}
		}
	})
	t.Run("fills in IDs and statuses", func(t *testing.T) {
		b := &platform.Build{Source: platform.Source{Kind: platform.SourceArchive, Archive: "abc"}}
		r := &platform.Release{Namespace: "acme", Service: "api", Replicas: 1}
		must(t, s.Deploy(ctx, b, r))
		if b.ID == "" || r.ID == "" || r.BuildID != b.ID || b.Namespace != "acme" || b.Service != "api" {
			t.Fatalf("Deploy wrote back build %+v release %+v, want IDs set and linked", b, r)
		}
		got, err := s.GetBuild(ctx, r.BuildID)
		must(t, err)
		sameJSON(t, "GetBuild", got, b)
	})
}

// testDeployServiceState checks what a deploy does to an existing service: it revives a
// deleted one and leaves the serving release of a live one alone.
func testDeployServiceState(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustNamespace(t, s, "acme")
	for range 2 {
		deploy(t, s, "acme", "api", "")
	}
	deploy(t, s, "acme", "web", "")

	t.Run("revives a deleted service", func(t *testing.T) {
		svc, err := s.GetService(ctx, "acme", "api")
		must(t, err)
		svc.CurrentRelease, svc.Status, svc.Deleted = svc.DesiredRelease, platform.ServiceDeleting, true
		must(t, s.UpdateService(ctx, svc))
		_, r := deploy(t, s, "acme", "api", "")
		if r.Version != "v3" {
			t.Fatalf("version after revival = %q, want v3: versions must not repeat", r.Version)
		}
		svc, err = s.GetService(ctx, "acme", "api")
		must(t, err)
		if svc.Deleted || svc.Status != platform.ServiceDeploying || svc.DesiredRelease != r.ID || svc.CurrentRelease != "" {
			t.Fatalf("revived service = %+v, want not deleted, deploying, desired %s, no current release", svc, r.ID)
		}
	})
	t.Run("keeps the current release of a live service", func(t *testing.T) {
		svc, err := s.GetService(ctx, "acme", "web")
		must(t, err)
		svc.CurrentRelease, svc.Status = svc.DesiredRelease, platform.ServiceRunning
		must(t, s.UpdateService(ctx, svc))
		_, r := deploy(t, s, "acme", "web", "")
		got, err := s.GetService(ctx, "acme", "web")
		must(t, err)
		if got.CurrentRelease != svc.CurrentRelease || got.DesiredRelease != r.ID || got.Status != platform.ServiceDeploying {
			t.Fatalf("service after second deploy = %+v, want current %s kept, desired %s", got, svc.CurrentRelease, r.ID)
		}
		if !got.CreatedAt.Equal(svc.CreatedAt) {
			t.Fatalf("CreatedAt changed from %v to %v", svc.CreatedAt, got.CreatedAt)
		}
	})
}

// testDeploySupersedes checks which earlier releases a deploy marks superseded.
func testDeploySupersedes(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustNamespace(t, s, "acme")
	tests := []struct {
		earlier, want platform.ReleaseStatus
	}{
		{platform.ReleasePending, platform.ReleaseSuperseded},
		{platform.ReleaseBuilding, platform.ReleaseSuperseded},
		{platform.ReleaseRollingOut, platform.ReleaseSuperseded},
		{platform.ReleaseCanary, platform.ReleaseSuperseded},
		{platform.ReleaseLive, platform.ReleaseLive},
		{platform.ReleaseFailed, platform.ReleaseFailed},
		{platform.ReleaseSuperseded, platform.ReleaseSuperseded},
	}
	for i, tc := range tests {
		t.Run(string(tc.earlier), func(t *testing.T) {
			svc := fmt.Sprintf("svc%d", i)
			_, old := deploy(t, s, "acme", svc, "")
			old.Status = tc.earlier
			must(t, s.UpdateRelease(ctx, old))
			// A deploy to another service must not touch this one's releases.
			deploy(t, s, "acme", svc+"-other", "")
			if got, err := s.GetRelease(ctx, old.ID); err != nil || got.Status != tc.earlier {
				t.Fatalf("after a deploy to another service: %v, %v; want status %s", got, err, tc.earlier)
			}
			_, next := deploy(t, s, "acme", svc, "")
			got, err := s.GetRelease(ctx, old.ID)
			must(t, err)
			if got.Status != tc.want {
				t.Fatalf("earlier %s release became %s, want %s", tc.earlier, got.Status, tc.want)
			}
			got, err = s.GetRelease(ctx, next.ID)
			must(t, err)
			if got.Status != platform.ReleasePending {
				t.Fatalf("new release status = %s, want pending", got.Status)
			}
		})
	}
}

// testDeployRegions checks placement: a release keeps the regions it was deployed with,
// and the service takes them, except from a deploy naming none.
func testDeployRegions(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustNamespace(t, s, "acme")
	deployIn := func(svc string, regions ...string) *platform.Release {
		t.Helper()
		b, r := newDeploy("acme", svc, "")
		r.Regions = regions
		must(t, s.Deploy(ctx, b, r))
		return r
	}
	serviceRegions := func(svc string) []string {
		t.Helper()
		got, err := s.GetService(ctx, "acme", svc)
		must(t, err)
		return got.Regions
	}

	first := deployIn("api", "lon1", "fra1")
	t.Run("the release and the service get the regions", func(t *testing.T) {
		got, err := s.GetRelease(ctx, first.ID)
		must(t, err)
		sameJSON(t, "GetRelease", got, first)
		if !slices.Equal(got.Regions, []string{"lon1", "fra1"}) {
			t.Fatalf("release regions = %q, want lon1, fra1 in that order", got.Regions)
		}
		if got := serviceRegions("api"); !slices.Equal(got, []string{"lon1", "fra1"}) {
			t.Fatalf("service regions = %q, want lon1, fra1", got)
		}
		list, err := s.ListServices(ctx, "acme")
		must(t, err)
		if len(list) != 1 || !slices.Equal(list[0].Regions, []string{"lon1", "fra1"}) {
			t.Fatalf("ListServices = %+v, want api in lon1 and fra1", list)
		}
	})
	t.Run("a deploy without regions keeps the service's", func(t *testing.T) {
		r := deployIn("api")
		got, err := s.GetRelease(ctx, r.ID)
		must(t, err)
		if len(got.Regions) != 0 {
			t.Fatalf("release regions = %q, want none", got.Regions)
		}
		if got := serviceRegions("api"); !slices.Equal(got, []string{"lon1", "fra1"}) {
			t.Fatalf("service regions = %q, want lon1, fra1 kept", got)
		}
		releases, err := s.ListReleases(ctx, "acme", "api", 0)
		must(t, err)
		if len(releases) != 2 || len(releases[0].Regions) != 0 || !slices.Equal(releases[1].Regions, first.Regions) {
			t.Fatalf("ListReleases = %+v, want the newest in no region, the first in lon1 and fra1", releases)
		}
	})
	t.Run("a deploy with regions moves the service", func(t *testing.T) {
		deployIn("api", "nyc1")
		if got := serviceRegions("api"); !slices.Equal(got, []string{"nyc1"}) {
			t.Fatalf("service regions = %q, want nyc1", got)
		}
	})
	t.Run("UpdateService leaves them alone", func(t *testing.T) {
		svc, err := s.GetService(ctx, "acme", "api")
		must(t, err)
		svc.Status, svc.Regions = platform.ServiceDegraded, []string{"sgp1"}
		must(t, s.UpdateService(ctx, svc))
		if got := serviceRegions("api"); !slices.Equal(got, []string{"nyc1"}) {
			t.Fatalf("service regions after UpdateService = %q, want nyc1", got)
		}
	})
	t.Run("a new service without regions has none", func(t *testing.T) {
		deployIn("web")
		if got := serviceRegions("web"); len(got) != 0 {
			t.Fatalf("service regions = %q, want none", got)
		}
	})
	t.Run("bad regions", func(t *testing.T) {
		for _, regions := range [][]string{{"Bad_Region"}, {"lon1", "lon1"}, {""}} {
			b, r := newDeploy("acme", "api", "")
			r.Regions = regions
			wantCode(t, s.Deploy(ctx, b, r), platform.EINVALID)
		}
		if got := serviceRegions("api"); !slices.Equal(got, []string{"nyc1"}) {
			t.Fatalf("service regions after rejected deploys = %q, want nyc1", got)
		}
	})
}

func testDeployErrors(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustNamespace(t, s, "acme")
	_, existing := deploy(t, s, "acme", "api", "stable")

	t.Run("missing namespace", func(t *testing.T) {
		b, r := newDeploy("nope", "api", "")
		wantCode(t, s.Deploy(ctx, b, r), platform.ENOTFOUND)
		all, err := s.ListServices(ctx, "")
		must(t, err)
		if len(all) != 1 {
			t.Fatalf("services after a failed deploy = %d, want 1", len(all))
		}
	})
	t.Run("bad names reported together", func(t *testing.T) {
		b, r := newDeploy("Bad!", "", "")
		err := s.Deploy(ctx, b, r)
		wantCode(t, err, platform.EINVALID)
		msg := platform.ErrorMessage(err)
		if !strings.Contains(msg, "namespace") || !strings.Contains(msg, "service") {
			t.Fatalf("message %q must name both the namespace and the service problem", msg)
		}
	})
	t.Run("build for another service", func(t *testing.T) {
		b, r := newDeploy("acme", "api", "")
		b.Service = "web"
		wantCode(t, s.Deploy(ctx, b, r), platform.EINVALID)
	})
	t.Run("negative replicas", func(t *testing.T) {
		b, r := newDeploy("acme", "api", "")
		r.Replicas = -1
		wantCode(t, s.Deploy(ctx, b, r), platform.EINVALID)
	})
	t.Run("unknown size", func(t *testing.T) {
		b, r := newDeploy("acme", "api", "")
		r.Size = "huge"
		err := s.Deploy(ctx, b, r)
		wantCode(t, err, platform.EINVALID)
		if msg := platform.ErrorMessage(err); !strings.Contains(msg, `size "huge"`) {
			t.Fatalf("message %q must name the size", msg)
		}
		_, err = s.GetBuild(ctx, b.ID)
		wantCode(t, err, platform.ENOTFOUND)
	})
	t.Run("duplicate version leaves nothing behind", func(t *testing.T) {
		b, r := newDeploy("acme", "api", "stable")
		wantCode(t, s.Deploy(ctx, b, r), platform.ECONFLICT)
		_, err := s.GetBuild(ctx, b.ID)
		wantCode(t, err, platform.ENOTFOUND)
		list, err := s.ListReleases(ctx, "acme", "api", 0)
		must(t, err)
		if len(list) != 1 {
			t.Fatalf("releases after a conflicting deploy = %d, want 1", len(list))
		}
		svc, err := s.GetService(ctx, "acme", "api")
		must(t, err)
		if svc.DesiredRelease != existing.ID {
			t.Fatalf("DesiredRelease = %s after a failed deploy, want %s", svc.DesiredRelease, existing.ID)
		}
		if got, err := s.GetRelease(ctx, existing.ID); err != nil || got.Status != platform.ReleasePending {
			t.Fatalf("earlier release after a failed deploy: %v, %v; want it still pending", got, err)
		}
	})
	t.Run("duplicate build ID", func(t *testing.T) {
		b, r := newDeploy("acme", "api", "")
		b.ID, r.BuildID = existing.BuildID, existing.BuildID
		wantCode(t, s.Deploy(ctx, b, r), platform.ECONFLICT)
	})
	t.Run("duplicate release ID", func(t *testing.T) {
		b, r := newDeploy("acme", "api", "")
		r.ID = existing.ID
		wantCode(t, s.Deploy(ctx, b, r), platform.ECONFLICT)
	})
}

// testConcurrentDeploys deploys to one service from several goroutines: every deploy
// succeeds, versions are v1..vN without gaps or repeats, and exactly the desired release
// is left pending.
func testConcurrentDeploys(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustNamespace(t, s, "acme")
	const workers, each = 6, 5
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		versions []string
		errs     []error
	)
	for range workers {
		wg.Go(func() {
			for range each {
				b, r := newDeploy("acme", "api", "")
				err := s.Deploy(ctx, b, r)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					versions = append(versions, r.Version)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d concurrent deploys failed, first: %v", len(errs), errs[0])
	}
	var want []string
	for i := 1; i <= workers*each; i++ {
		want = append(want, fmt.Sprintf("v%d", i))
	}
	slices.SortFunc(versions, func(a, b string) int { return cmp.Compare(versionNumber(a), versionNumber(b)) })
	sameJSON(t, "versions", versions, want)

	list, err := s.ListReleases(ctx, "acme", "api", 0)
	must(t, err)
	svc, err := s.GetService(ctx, "acme", "api")
	must(t, err)
	if len(list) != workers*each || list[0].ID != svc.DesiredRelease || list[0].Version != want[len(want)-1] {
		t.Fatalf("newest release is %s %s of %d, want the desired %s as %s", list[0].ID, list[0].Version, len(list),
			svc.DesiredRelease, want[len(want)-1])
	}
	for _, r := range list[1:] {
		if r.Status != platform.ReleaseSuperseded {
			t.Fatalf("release %s is %s, want superseded by the newer deploys", r.Version, r.Status)
		}
	}
}

// versionNumber returns N of "vN", or -1.
func versionNumber(v string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(v, "v"))
	if err != nil {
		return -1
	}
	return n
}

// testConcurrentWriters runs the writers of a live platform at once (deploys, status
// updates, events, metering) and checks that none fails and none is lost.
func testConcurrentWriters(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustNamespace(t, s, "acme")
	const workers, rounds = 6, 15
	errc := make(chan error, workers*rounds*4)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			svc := fmt.Sprintf("svc%d", w)
			for range rounds {
				b, r := newDeploy("acme", svc, "")
				errc <- s.Deploy(ctx, b, r)
				errc <- s.UpdateRelease(ctx, &platform.Release{ID: r.ID, Status: platform.ReleaseBuilding})
				errc <- s.AppendEvent(ctx, &platform.Event{Namespace: "acme", Service: svc, Type: platform.EventBuildStarted})
				errc <- s.AddRequestUsage(ctx, []*platform.RequestUsage{{Namespace: "acme", Service: "gateway", Minute: testTime, Requests: 1, MaxLatencyMicros: int64(w)}})
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		must(t, err)
	}
	events, err := s.ListEvents(ctx, platform.EventFilter{Namespace: "acme", Limit: 1000})
	must(t, err)
	usage, err := s.ListRequestUsage(ctx, "acme", "", testTime.Add(-time.Hour), testTime.Add(time.Hour))
	must(t, err)
	if len(events) != workers*rounds || len(usage) != 1 || usage[0].Requests != workers*rounds || usage[0].MaxLatencyMicros != workers-1 {
		t.Fatalf("after concurrent writes: %d events, usage %+v; want %d events and one row of %d requests, max %d",
			len(events), usage, workers*rounds, workers*rounds, workers-1)
	}
}

func testReleases(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustNamespace(t, s, "acme")
	var deployed []*platform.Release
	for range 4 {
		_, r := deploy(t, s, "acme", "api", "")
		deployed = append(deployed, r)
	}

	t.Run("list newest first", func(t *testing.T) {
		tests := []struct {
			limit int
			want  []string
		}{
			{0, []string{"v4", "v3", "v2", "v1"}},
			{2, []string{"v4", "v3"}},
			{10, []string{"v4", "v3", "v2", "v1"}},
		}
		for _, tc := range tests {
			list, err := s.ListReleases(ctx, "acme", "api", tc.limit)
			must(t, err)
			var got []string
			for _, r := range list {
				got = append(got, r.Version)
			}
			sameJSON(t, fmt.Sprintf("versions with limit %d", tc.limit), got, tc.want)
		}
		list, err := s.ListReleases(ctx, "acme", "nothing", 0)
		must(t, err)
		if len(list) != 0 {
			t.Fatalf("releases of an unknown service = %d, want 0", len(list))
		}
	})
	t.Run("update writes status, reason and artifact", func(t *testing.T) {
		r := deployed[3]
		before := r.UpdatedAt
		time.Sleep(2 * time.Millisecond)
		r.Status, r.Reason, r.Artifact = platform.ReleaseFailed, "exit 1", "/data/bin/api"
		r.Version, r.Replicas, r.Size = "ignored", 9, platform.SizeXLarge // not status fields: must not be written
		must(t, s.UpdateRelease(ctx, r))
		got, err := s.GetRelease(ctx, r.ID)
		must(t, err)
		if got.Status != platform.ReleaseFailed || got.Reason != "exit 1" || got.Artifact != "/data/bin/api" ||
			got.Version != "v4" || got.Replicas != 2 || got.Size != platform.SizeMedium || !got.UpdatedAt.After(before) {
			t.Fatalf("release after update = %+v, want failed, exit 1, artifact set, v4, 2 replicas, medium, UpdatedAt after %v", got, before)
		}
	})
	t.Run("missing", func(t *testing.T) {
		_, err := s.GetRelease(ctx, "r-nope")
		wantCode(t, err, platform.ENOTFOUND)
		wantCode(t, s.UpdateRelease(ctx, &platform.Release{ID: "r-nope", Status: platform.ReleaseLive}), platform.ENOTFOUND)
	})
}

// testReleaseOrigins checks the fields GitOps added to releases: origin, digest and
// canary share come back as deployed, and UpdateRelease writes the digest and the
// canary status.
func testReleaseOrigins(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustNamespace(t, s, "acme")

	b, r := newDeploy("acme", "api", "")
	r.Canary, r.Digest = 10, "sha256:0123"
	r.Origin = &platform.ReleaseOrigin{Kind: platform.OriginPush, Repo: "acme/shop", Ref: "refs/heads/main",
		Commit: "abc123", Author: "alice", Message: "fix the cart", Delivery: "d-1", User: "alice"}
	must(t, s.Deploy(ctx, b, r))
	t.Run("round trip", func(t *testing.T) {
		got, err := s.GetRelease(ctx, r.ID)
		must(t, err)
		sameJSON(t, "GetRelease", got, r)
		list, err := s.ListReleases(ctx, "acme", "api", 1)
		must(t, err)
		sameJSON(t, "ListReleases", list, []*platform.Release{r})
	})
	t.Run("no origin stays none", func(t *testing.T) {
		_, plain := deploy(t, s, "acme", "web", "")
		got, err := s.GetRelease(ctx, plain.ID)
		must(t, err)
		if got.Origin != nil || got.Canary != 0 || got.Digest != "" {
			t.Fatalf("plain release = %+v, want no origin, canary or digest", got)
		}
	})
	t.Run("update writes digest and canary status", func(t *testing.T) {
		r.Status, r.Artifact, r.Digest = platform.ReleaseCanary, "registry/acme/api@sha256:4567", "sha256:4567"
		r.Canary, r.Origin = 50, nil // not updatable
		must(t, s.UpdateRelease(ctx, r))
		got, err := s.GetRelease(ctx, r.ID)
		must(t, err)
		if got.Status != platform.ReleaseCanary || got.Digest != "sha256:4567" || got.Artifact != r.Artifact ||
			got.Canary != 10 || got.Origin == nil || got.Origin.Commit != "abc123" {
			t.Fatalf("release after update = %+v, want canary, the new digest and artifact, canary 10 and the origin kept", got)
		}
	})
	t.Run("canary share out of range", func(t *testing.T) {
		for _, canary := range []int{-1, 100} {
			b, r := newDeploy("acme", "api", "")
			r.Canary = canary
			wantCode(t, s.Deploy(ctx, b, r), platform.EINVALID)
		}
	})
}

// testBuildDigest checks that a build's digest is stored by Deploy and UpdateBuild.
func testBuildDigest(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustNamespace(t, s, "acme")
	b, _ := newDeploy("acme", "api", "")
	b.Digest = "sha256:given"
	_, r := newDeploy("acme", "api", "")
	r.BuildID = b.ID
	must(t, s.Deploy(ctx, b, r))
	got, err := s.GetBuild(ctx, b.ID)
	must(t, err)
	sameJSON(t, "GetBuild", got, b)

	b.Status, b.Artifact, b.Digest = platform.BuildSucceeded, "/data/bin/api", "sha256:built"
	must(t, s.UpdateBuild(ctx, b))
	list, err := s.ListBuilds(ctx, "acme", "api", 0)
	must(t, err)
	if len(list) != 1 || list[0].Digest != "sha256:built" || list[0].Artifact != "/data/bin/api" {
		t.Fatalf("ListBuilds = %+v, want the build with digest sha256:built", list)
	}
}

// testDeployReusedBuild checks Deploy without a build (a rollback): the release reuses
// a succeeded build of its service and is otherwise deployed as any other; a build that
// failed, is of another service or does not exist is refused and changes nothing.
func testDeployReusedBuild(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustNamespace(t, s, "acme")
	good, v1 := deploy(t, s, "acme", "api", "")
	good.Status, good.Artifact, good.Digest = platform.BuildSucceeded, "/data/bin/api-1", "sha256:one"
	must(t, s.UpdateBuild(ctx, good))
	v1.Status, v1.Artifact, v1.Digest = platform.ReleaseLive, good.Artifact, good.Digest
	must(t, s.UpdateRelease(ctx, v1))
	bad, _ := deploy(t, s, "acme", "api", "")
	bad.Status = platform.BuildFailed
	must(t, s.UpdateBuild(ctx, bad))
	web, _ := deploy(t, s, "acme", "web", "")
	web.Status = platform.BuildSucceeded
	must(t, s.UpdateBuild(ctx, web))
	_, pending := deploy(t, s, "acme", "api", "")

	rollback := func(buildID string) *platform.Release {
		return &platform.Release{Namespace: "acme", Service: "api", BuildID: buildID, Replicas: 1,
			Artifact: v1.Artifact, Digest: v1.Digest,
			Origin: &platform.ReleaseOrigin{Kind: platform.OriginRollback, RollbackOf: v1.Version, User: "alice"}}
	}
	t.Run("refused", func(t *testing.T) {
		tests := []struct{ name, build, want string }{
			{"failed build", bad.ID, "did not succeed"},
			{"build of another service", web.ID, "acme/web"},
			{"unknown build", "b-nope", "b-nope"},
			{"no build named", "", "build"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := rollback(tc.build)
				err := s.Deploy(ctx, nil, r)
				wantCode(t, err, platform.EINVALID)
				if msg := platform.ErrorMessage(err); !strings.Contains(msg, tc.want) {
					t.Fatalf("message %q must say %q", msg, tc.want)
				}
				_, err = s.GetRelease(ctx, r.ID)
				wantCode(t, err, platform.ENOTFOUND)
			})
		}
		svc, err := s.GetService(ctx, "acme", "api")
		must(t, err)
		list, err := s.ListReleases(ctx, "acme", "api", 0)
		must(t, err)
		got, err := s.GetRelease(ctx, pending.ID)
		must(t, err)
		if svc.DesiredRelease != pending.ID || len(list) != 3 || got.Status != platform.ReleasePending {
			t.Fatalf("after refused rollbacks: desired %s, %d releases, pending release %s; want %s, 3, pending",
				svc.DesiredRelease, len(list), got.Status, pending.ID)
		}
	})
	t.Run("reuses the build", func(t *testing.T) {
		r := rollback(good.ID)
		must(t, s.Deploy(ctx, nil, r))
		if r.Version != "v4" || r.Status != platform.ReleasePending || r.ID == "" {
			t.Fatalf("rollback wrote back version %q, status %q, ID %q; want v4, pending, an ID", r.Version, r.Status, r.ID)
		}
		got, err := s.GetRelease(ctx, r.ID)
		must(t, err)
		sameJSON(t, "GetRelease", got, r)
		svc, err := s.GetService(ctx, "acme", "api")
		must(t, err)
		if svc.DesiredRelease != r.ID || svc.Status != platform.ServiceDeploying {
			t.Fatalf("service after rollback = %+v, want desired %s, deploying", svc, r.ID)
		}
		if got, err := s.GetRelease(ctx, pending.ID); err != nil || got.Status != platform.ReleaseSuperseded {
			t.Fatalf("earlier pending release: %v, %v; want superseded", got, err)
		}
		if got, err := s.GetRelease(ctx, v1.ID); err != nil || got.Status != platform.ReleaseLive {
			t.Fatalf("live release: %v, %v; want still live", got, err)
		}
		builds, err := s.ListBuilds(ctx, "acme", "api", 0)
		must(t, err)
		if len(builds) != 3 {
			t.Fatalf("builds after rollback = %d, want 3: nothing is built again", len(builds))
		}
	})
	t.Run("the namespace must exist", func(t *testing.T) {
		r := rollback(good.ID)
		r.Namespace = "nope"
		wantCode(t, s.Deploy(ctx, nil, r), platform.ENOTFOUND)
	})
}
