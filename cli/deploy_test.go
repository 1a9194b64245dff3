package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	platform "github.com/micro/platform"
)

func TestDeployRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		src     string
		opts    deployOptions
		want    platform.DeployRequest
		wantErr string
	}{
		{
			name: "directory named after its base",
			src:  "/src/Hello", opts: deployOptions{replicas: 2, size: "large", env: []string{"A=1", "B=x=y"}},
			want: platform.DeployRequest{Service: "hello", Replicas: 2, Size: platform.SizeLarge, Env: map[string]string{"A": "1", "B": "x=y"},
				Source: platform.Source{Kind: platform.SourceArchive}},
		},
		{
			name: "directory with --path names the subdirectory",
			src:  "/src/mono", opts: deployOptions{path: "services/greeter/"},
			want: platform.DeployRequest{Service: "greeter", Source: platform.Source{Kind: platform.SourceArchive, Path: "services/greeter/"}},
		},
		{
			name: "git URL named after the repository",
			src:  "https://github.com/acme/helloworld.git", opts: deployOptions{ref: "v1.2.0", version: "v9"},
			want: platform.DeployRequest{Service: "helloworld", Version: "v9",
				Source: platform.Source{Kind: platform.SourceGit, URL: "https://github.com/acme/helloworld.git", Ref: "v1.2.0"}},
		},
		{
			name: "scp-style git URL with --path and --name",
			src:  "git@github.com:acme/mono.git", opts: deployOptions{path: "cmd/api", name: "front"},
			want: platform.DeployRequest{Service: "front",
				Source: platform.Source{Kind: platform.SourceGit, URL: "git@github.com:acme/mono.git", Path: "cmd/api"}},
		},
		{
			name: "regions, comma separated or repeated",
			src:  "/src/hello", opts: deployOptions{regions: []string{"lon1", " fra1", "nyc3"}},
			want: platform.DeployRequest{Service: "hello", Regions: []string{"lon1", "fra1", "nyc3"}, Source: platform.Source{Kind: platform.SourceArchive}},
		},
		{
			name: "bad regions",
			src:  "/src/hello", opts: deployOptions{regions: []string{"lon1", "LON1", "lon1", ""}},
			wantErr: "--regions: invalid region name \"LON1\": use 1-40 lowercase letters, digits and '-', starting with a letter and not ending with '-'\n" +
				"--regions: lon1 is named twice\n--regions: invalid region name \"\"",
		},
		{
			name: "canary as a percent",
			src:  "/src/hello", opts: deployOptions{canary: "10%"},
			want: platform.DeployRequest{Service: "hello", Canary: 10, Source: platform.Source{Kind: platform.SourceArchive}},
		},
		{
			name: "canary as a number",
			src:  "/src/hello", opts: deployOptions{canary: "25"},
			want: platform.DeployRequest{Service: "hello", Canary: 25, Source: platform.Source{Kind: platform.SourceArchive}},
		},
		{
			name: "canary out of range", src: "/src/hello", opts: deployOptions{canary: "100%"},
			wantErr: `--canary "100%": want a percent from 1 to 99, e.g. 10 or 10%`,
		},
		{
			name: "canary not a number", src: "/src/hello", opts: deployOptions{canary: "ten"},
			wantErr: `--canary "ten": want a percent from 1 to 99, e.g. 10 or 10%`,
		},
		{
			name: "every problem at once",
			src:  "/src/My_Service", opts: deployOptions{ref: "main", replicas: -1, size: "huge", env: []string{"NOEQUALS"}},
			wantErr: "--replicas -1: must not be negative\n--size \"huge\": want one of nano, small, medium, large, xlarge\n--env \"NOEQUALS\": want KEY=VALUE\n--ref: only a git source has refs; commit and deploy the directory instead\n" +
				`invalid service name "my_service"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := deployRequest(tt.src, tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(platform.ErrorMessage(err), tt.wantErr) {
					t.Fatalf("err = %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// newDeployFake returns a fake whose deploy creates release r-2 of hello and whose event
// stream then sends follow.
func newDeployFake(t *testing.T, follow []*platform.Event, reason string) *fakeAPI {
	t.Helper()
	f := newFakeAPI(t)
	rel := &platform.Release{ID: "r-2", Namespace: "acme", Service: "hello", Version: "v2", BuildID: "b-2", Replicas: 1, Status: platform.ReleasePending}
	f.deployRel = rel
	failed := *rel
	failed.Reason = reason
	f.releases["r-2"] = &failed
	f.follow = follow
	return f
}

func ev(id int64, typ, msg, release string) *platform.Event {
	return &platform.Event{ID: id, Namespace: "acme", Service: "hello", Type: typ, Message: msg, Data: map[string]string{"release": release}, Time: t1}
}

// serviceDir writes a minimal service directory named hello.
func serviceDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "hello")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n"), 0o644)
	return dir
}

func TestDeployDirectory(t *testing.T) {
	t.Parallel()
	f := newDeployFake(t, []*platform.Event{
		ev(4, platform.EventBuildStarted, "building hello v2", "r-2"),
		ev(5, platform.EventBuildSucceeded, "built hello v2", "r-2"),
		ev(6, platform.EventReleaseSuperseded, "release v0 superseded", "r-0"), // another release: ignored
		ev(7, platform.EventReleaseRollingOut, "starting 1 instance", "r-2"),
		ev(8, platform.EventInstanceStarted, "instance r-2-aa started", "r-2"),
		ev(9, platform.EventReleaseRolledOut, "hello v2 is live", "r-2"),
		ev(10, platform.EventInstanceStopped, "never printed", "r-1"),
	}, "")
	f.buildLog = []string{"go: downloading go-micro.dev/v5 v5.30.0", "built in 1.2s"}
	dir := serviceDir(t)
	r := f.run(t, "deploy", dir, "-n", "acme", "--env", "GREETING=hi")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"Uploaded " + dir + " (",
		"Deploying hello to acme: release r-2 (v2).\n",
		"  10:22:00  build.started         building hello v2\n",
		"      │ go: downloading go-micro.dev/v5 v5.30.0\n",
		"      │ built in 1.2s\n",
		"  10:22:00  instance.started      instance r-2-aa started\n",
		"  10:22:00  release.rolled_out    hello v2 is live\nRelease v2 of hello is live.\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "never printed") {
		t.Errorf("printed events after the rollout:\n%s", r.stdout)
	}
	// The upload is a tar.gz of the directory, and the deploy names it by its digest.
	body := f.recorded("POST /v1/namespaces/acme/sources")
	if names := tarNames(t, body); !reflect.DeepEqual(names, []string{"go.mod", "main.go"}) {
		t.Errorf("archive holds %q", names)
	}
	sum := sha256.Sum256(body)
	var req platform.DeployRequest
	json.Unmarshal(f.recorded("POST /v1/namespaces/acme/deploys"), &req)
	want := platform.DeployRequest{Namespace: "acme", Service: "hello", Env: map[string]string{"GREETING": "hi"},
		Source: platform.Source{Kind: platform.SourceArchive, Archive: hex.EncodeToString(sum[:])}}
	if !reflect.DeepEqual(req, want) {
		t.Errorf("deploy request %+v, want %+v", req, want)
	}
	// Following started after the newest event before the deploy.
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slicesContains(f.requests, "GET /v1/namespaces/acme/events?after=3&follow=true&service=hello") {
		t.Errorf("requests %q lack the followed events after ID 3", f.requests)
	}
}

func slicesContains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func tarNames(t *testing.T, b []byte) []string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("upload is not gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

func TestDeployFailures(t *testing.T) {
	t.Parallel()
	compileErr := "./main.go:5:2: undefined: foo"
	tests := []struct {
		name       string
		follow     []*platform.Event
		reason     string
		buildLog   []string
		wantStderr string
		wantStdout string
	}{
		{
			name:       "build failed",
			follow:     []*platform.Event{ev(4, platform.EventBuildStarted, "building", "r-2"), ev(5, platform.EventBuildFailed, "build failed", "r-2")},
			reason:     "go build: exit status 1\n" + compileErr,
			buildLog:   []string{"# hello", compileErr},
			wantStderr: "error: build of hello v2 failed: go build: exit status 1\n" + compileErr + "\nhint: fix the error and deploy again; the previous release keeps serving\n",
			wantStdout: "      │ " + compileErr + "\n",
		},
		{
			name:       "rollout failed",
			follow:     []*platform.Event{ev(4, platform.EventReleaseFailed, "rollout failed", "r-2")},
			reason:     "instance never registered: does main call service.Init()?",
			wantStderr: "error: release v2 of hello failed: instance never registered: does main call service.Init()?\nhint: the previous release keeps serving; see `platform logs hello -n acme`",
		},
		{
			name:       "superseded",
			follow:     []*platform.Event{ev(4, platform.EventReleaseSuperseded, "superseded by v3", "r-2")},
			wantStderr: "error: release v2 of hello was superseded by a newer deploy\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newDeployFake(t, tt.follow, tt.reason)
			f.buildLog = tt.buildLog
			r := f.run(t, "deploy", serviceDir(t), "-n", "acme")
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, tt.wantStderr) {
				t.Errorf("stderr:\n%s\nwant prefix:\n%s", r.stderr, tt.wantStderr)
			}
			if !strings.Contains(r.stdout, tt.wantStdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.wantStdout, r.stdout)
			}
		})
	}
}

// TestDeployCanary: --canary sends the share, and following ends once the release is a
// canary, saying how to promote it.
func TestDeployCanary(t *testing.T) {
	t.Parallel()
	f := newDeployFake(t, []*platform.Event{
		ev(4, platform.EventBuildSucceeded, "built hello v2", "r-2"),
		ev(5, platform.EventReleaseRollingOut, "rolling out hello v2 (1 instances) in local", "r-2"),
		ev(6, platform.EventReleaseCanary, "v2 takes 10% of calls (v1 the rest)", "r-2"),
		ev(7, platform.EventInstanceStopped, "never printed", "r-1"),
	}, "")
	f.deployRel.Canary = 10
	r := f.run(t, "deploy", serviceDir(t), "-n", "acme", "--canary", "10%")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"  10:22:00  release.canary        v2 takes 10% of calls (v1 the rest)\n",
		"Release v2 of hello is a canary taking 10% of the calls; promote it with `platform promote hello -n acme`.\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "never printed") {
		t.Errorf("followed past the canary:\n%s", r.stdout)
	}
	var req platform.DeployRequest
	json.Unmarshal(f.recorded("POST /v1/namespaces/acme/deploys"), &req)
	if req.Canary != 10 {
		t.Errorf("deploy request canary = %d, want 10", req.Canary)
	}
}

func TestDeployGitDetached(t *testing.T) {
	t.Parallel()
	f := newDeployFake(t, nil, "")
	r := f.run(t, "deploy", "https://github.com/acme/mono.git", "--path", "cmd/greeter", "--ref", "v1.2.0", "--replicas", "3", "-n", "acme", "--detach")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	want := "Deploying hello to acme: release r-2 (v2).\nFollow it with `platform events -n acme --service hello -f`.\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	var req platform.DeployRequest
	json.Unmarshal(f.recorded("POST /v1/namespaces/acme/deploys"), &req)
	wantReq := platform.DeployRequest{Namespace: "acme", Service: "greeter", Replicas: 3,
		Source: platform.Source{Kind: platform.SourceGit, URL: "https://github.com/acme/mono.git", Ref: "v1.2.0", Path: "cmd/greeter"}}
	if !reflect.DeepEqual(req, wantReq) {
		t.Errorf("deploy request %+v, want %+v", req, wantReq)
	}
	if f.recorded("POST /v1/namespaces/acme/sources") != nil {
		t.Error("uploaded an archive for a git source")
	}
}

func TestDeployJSONLines(t *testing.T) {
	t.Parallel()
	f := newDeployFake(t, []*platform.Event{ev(4, platform.EventBuildStarted, "building", "r-2"), ev(5, platform.EventReleaseRolledOut, "live", "r-2")}, "")
	f.buildLog = []string{"compiling"}
	r := f.run(t, "deploy", serviceDir(t), "-n", "acme", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	kinds := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var item deployItem
		if err := json.Unmarshal([]byte(line), &item); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		kinds[item.Kind]++
	}
	if want := map[string]int{"release": 1, "event": 2, "build_log": 1}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("lines by kind %v, want %v\n%s", kinds, want, r.stdout)
	}
}

func TestDeployNotADirectory(t *testing.T) {
	t.Parallel()
	f := newDeployFake(t, nil, "")
	r := f.run(t, "deploy", filepath.Join(t.TempDir(), "missing"), "-n", "acme")
	if r.code != 2 || !strings.Contains(r.stderr, "is not a directory") {
		t.Errorf("exit %d, stderr %s", r.code, r.stderr)
	}
	if f.recorded("POST /v1/namespaces/acme/deploys") != nil {
		t.Error("deployed anyway")
	}
}

func TestDeployBadSize(t *testing.T) {
	t.Parallel()
	f := newDeployFake(t, nil, "")
	r := f.run(t, "deploy", serviceDir(t), "--size", "huge", "-n", "acme")
	want := "error: --size \"huge\": want one of nano, small, medium, large, xlarge\n"
	if r.code != 2 || !strings.HasPrefix(r.stderr, want) {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and prefix:\n%s", r.code, r.stderr, want)
	}
	for _, call := range []string{"POST /v1/namespaces/acme/sources", "POST /v1/namespaces/acme/deploys"} {
		if f.recorded(call) != nil {
			t.Errorf("%s was called for a bad size", call)
		}
	}
}

func TestDeployHelpListsSizes(t *testing.T) {
	t.Parallel()
	r := newFakeAPI(t).run(t, "deploy", "--help")
	for _, want := range []string{"  nano (100m CPU, 128Mi memory)\n", "  xlarge (2 CPU, 2Gi memory)\n", "--size string"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("deploy --help lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestDeployInRegions(t *testing.T) {
	t.Parallel()
	f := newDeployFake(t, nil, "")
	f.deployRel.Regions = []string{"lon1", "fra1"}
	r := f.run(t, "deploy", "https://github.com/acme/hello.git", "-n", "acme", "--regions", "lon1,fra1", "--detach")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if want := "Deploying hello to acme in lon1, fra1: release r-2 (v2).\n"; !strings.HasPrefix(r.stdout, want) {
		t.Errorf("stdout:\n%s\nwant it to start with:\n%s", r.stdout, want)
	}
	var req platform.DeployRequest
	json.Unmarshal(f.recorded("POST /v1/namespaces/acme/deploys"), &req)
	if !reflect.DeepEqual(req.Regions, []string{"lon1", "fra1"}) {
		t.Errorf("deploy request regions %q, want [lon1 fra1]", req.Regions)
	}
}

// TestDeployOrigin: --commit labels the release, and in a GitHub Actions job the
// repository, ref and commit GitHub sets do (--commit wins over GITHUB_SHA).
func TestDeployOrigin(t *testing.T) {
	t.Parallel()
	actions := []string{"GITHUB_REPOSITORY=acme/services", "GITHUB_REF=refs/heads/main", "GITHUB_SHA=1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"}
	tests := []struct {
		name     string
		args     []string
		env      []string
		want     *platform.ReleaseOrigin
		wantCode int
		wantErr  string
	}{
		{name: "none outside Actions", args: nil},
		{name: "--commit", args: []string{"--commit", "ABCDEF1"},
			want: &platform.ReleaseOrigin{Kind: platform.OriginDeploy, Commit: "abcdef1"}},
		{name: "in GitHub Actions", env: actions,
			want: &platform.ReleaseOrigin{Kind: platform.OriginDeploy, Repo: "acme/services", Ref: "refs/heads/main", Commit: "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"}},
		{name: "--commit wins over GITHUB_SHA", args: []string{"--commit", "9f8e7d6"}, env: actions,
			want: &platform.ReleaseOrigin{Kind: platform.OriginDeploy, Repo: "acme/services", Ref: "refs/heads/main", Commit: "9f8e7d6"}},
		{name: "--commit not a SHA", args: []string{"--commit", "main"}, wantCode: 2,
			wantErr: `error: --commit "main": want a commit SHA (4 to 64 hex digits)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newDeployFake(t, nil, "")
			args := append([]string{"deploy", serviceDir(t), "-n", "acme", "--detach"}, tt.args...)
			r := runCLI(t, append([]string{"PLATFORM_SERVER=" + f.URL, "PLATFORM_TOKEN=" + adminSecret}, tt.env...), "", args...)
			if r.code != tt.wantCode || !strings.HasPrefix(r.stderr, tt.wantErr) {
				t.Fatalf("exit %d, want %d\nstderr:\n%s\nwant prefix %s", r.code, tt.wantCode, r.stderr, tt.wantErr)
			}
			if tt.wantCode != 0 {
				return
			}
			var req platform.DeployRequest
			json.Unmarshal(f.recorded("POST /v1/namespaces/acme/deploys"), &req)
			if !reflect.DeepEqual(req.Origin, tt.want) {
				t.Errorf("origin %+v, want %+v", req.Origin, tt.want)
			}
		})
	}
}
