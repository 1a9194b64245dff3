package cli

import (
	"encoding/json"
	"strings"
	"testing"

	platform "github.com/micro/platform"
)

// TestReleasesGolden checks the text of releases and rollback against
// testdata/*.golden.
func TestReleasesGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		follow []*platform.Event
	}{
		{name: "releases", args: []string{"releases", "hello", "-n", "acme"}},
		{name: "releases_none", args: []string{"releases", "worker-queue", "-n", "acme"}},
		{name: "releases_no_service", args: []string{"releases", "-n", "acme"}},
		{name: "rollback", args: []string{"rollback", "hello", "v3", "-n", "acme"}, follow: []*platform.Event{
			ev(4, platform.EventReleaseCreated, "release v5 of hello: a rollback to v3 (its artifact, nothing rebuilt)", "r-5"),
			ev(5, platform.EventReleaseRollingOut, "rolling out hello v5 (1 instances) in local", "r-5"),
			ev(6, platform.EventReleaseRolledOut, "hello v5 is serving (1 instances)", "r-5"),
			ev(7, platform.EventInstanceStopped, "never printed", "r-4"),
		}},
		{name: "rollback_failed", args: []string{"rollback", "hello", "-n", "acme"}, follow: []*platform.Event{
			ev(4, platform.EventReleaseFailed, "rollout failed", "r-5"),
		}},
		{name: "rollback_no_wait", args: []string{"rollback", "hello", "v4", "-n", "acme", "--no-wait"}},
		{name: "rollback_unknown_version", args: []string{"rollback", "hello", "v9", "-n", "acme"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			f.follow = tt.follow
			f.releases["r-5"] = &platform.Release{ID: "r-5", Namespace: "acme", Service: "hello", Version: "v5", Status: platform.ReleaseFailed,
				Reason: "instance exited at once: exit status 1"}
			r := f.run(t, tt.args...)
			checkGolden(t, tt.name, transcript(tt.args, r))
			if strings.Contains(r.stdout, "never printed") {
				t.Errorf("followed past the rollout:\n%s", r.stdout)
			}
		})
	}
}

// TestRollbackRequests checks what rollback asks for and that it follows the new
// release without its build's log (nothing is built: the log would be the old one's).
func TestRollbackRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		wantBody string
		wantOut  string
	}{
		{name: "to a version", args: []string{"rollback", "hello", "v3", "-n", "acme"}, wantBody: `{"version":"v3"}`,
			wantOut: "Rolling back hello to v3 as v5 (no build).\n"},
		{name: "to the release before", args: []string{"rollback", "hello", "-n", "acme"}, wantBody: `{}`,
			wantOut: "Rolling back hello to v3 as v5 (no build).\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			f.buildLog = []string{"never printed: the old build's log"}
			f.follow = []*platform.Event{ev(4, platform.EventReleaseRolledOut, "hello v5 is serving", "r-5")}
			r := f.run(t, tt.args...)
			if r.code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			if !strings.HasPrefix(r.stdout, tt.wantOut) || !strings.HasSuffix(r.stdout, "Release v5 of hello is live.\n") {
				t.Errorf("stdout:\n%s", r.stdout)
			}
			if got := string(f.recorded("POST /v1/namespaces/acme/services/hello/rollback")); got != tt.wantBody {
				t.Errorf("rollback body %s, want %s", got, tt.wantBody)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if !slicesContains(f.requests, "GET /v1/namespaces/acme/events?after=3&follow=true&service=hello") {
				t.Errorf("requests %q lack the followed events after ID 3", f.requests)
			}
			for _, req := range f.requests {
				if strings.Contains(req, "/builds/") {
					t.Errorf("rollback asked for a build: %s", req)
				}
			}
		})
	}
}

// TestReleasesJSON checks -o json of releases and rollback.
func TestReleasesJSON(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.follow = []*platform.Event{ev(4, platform.EventReleaseRolledOut, "hello v5 is serving", "r-5")}

	r := f.run(t, "releases", "hello", "-n", "acme", "-o", "json")
	var list []*platform.Release
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || r.code != 0 {
		t.Fatalf("releases -o json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if len(list) != 5 || list[0].Digest != digestV3 || list[0].Origin.RollbackOf != "v3" {
		t.Errorf("releases -o json lost the digest or origin: %s", r.stdout)
	}
	r = f.run(t, "releases", "worker-queue", "-n", "acme", "-o", "json")
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("no releases print %q, want []", r.stdout)
	}

	r = f.run(t, "rollback", "hello", "-n", "acme", "--no-wait", "-o", "json")
	var rel platform.Release
	if err := json.Unmarshal([]byte(r.stdout), &rel); err != nil || rel.Version != "v5" {
		t.Errorf("rollback --no-wait -o json: %v\n%s", err, r.stdout)
	}

	r = f.run(t, "rollback", "hello", "-n", "acme", "-o", "json")
	kinds := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var item deployItem
		if err := json.Unmarshal([]byte(line), &item); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		kinds[item.Kind]++
	}
	if r.code != 0 || kinds["release"] != 1 || kinds["event"] != 1 || len(kinds) != 2 {
		t.Errorf("rollback -o json: exit %d, lines by kind %v\n%s", r.code, kinds, r.stdout)
	}
}

func TestDescribeOrigin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    *platform.ReleaseOrigin
		want string
	}{
		{"none", nil, "-"},
		{"push", &platform.ReleaseOrigin{Kind: platform.OriginPush, Commit: "abc"}, "push"},
		{"rollback", &platform.ReleaseOrigin{Kind: platform.OriginRollback, RollbackOf: "v3"}, "rollback of v3"},
		{"deploy by a person", &platform.ReleaseOrigin{Kind: platform.OriginDeploy, User: "alice"}, "deploy by alice"},
		{"deploy by no one known", &platform.ReleaseOrigin{Kind: platform.OriginDeploy}, "deploy"},
		{"pull request", &platform.ReleaseOrigin{Kind: platform.OriginPullRequest, PR: 42}, "pull_request #42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := describeOrigin(tt.o); got != tt.want {
				t.Errorf("describeOrigin = %q, want %q", got, tt.want)
			}
		})
	}
	for d, want := range map[string]string{digestV3: "sha256:3c1f0a9e8d7b", "": "", "abc": "abc"} {
		if got := shortArtifactDigest(d); got != want {
			t.Errorf("shortArtifactDigest(%q) = %q, want %q", d, got, want)
		}
	}
}
