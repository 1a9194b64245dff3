package builder_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/testenv"
)

// gitRepo is a local repository with history:
//
//	A (tag v1, "release v1") ── C (main, "main") ── D (escape: symlink "outside" → ../..)
//	 └── B (dev, "dev")
type gitRepo struct {
	base, dir string
	a, b, c   string // commit hashes
}

func gitCmd(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Test", "-c", "user.email=test@example.com",
		"-c", "init.defaultBranch=main", "-c", "advice.detachedHead=false"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func newGitRepo(tb testing.TB) *gitRepo {
	tb.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		tb.Skip("git is not installed")
	}
	r := &gitRepo{base: tb.TempDir()}
	r.dir = filepath.Join(r.base, "repo")
	svc := filepath.Join(r.dir, "services", "hello")
	gitCmd(tb, r.base, "init", "-q", "repo")
	writeService(tb, svc, "release v1")
	gitCmd(tb, r.dir, "add", ".")
	gitCmd(tb, r.dir, "commit", "-q", "-m", "A")
	gitCmd(tb, r.dir, "tag", "-a", "v1", "-m", "version 1")
	r.a = gitCmd(tb, r.dir, "rev-parse", "HEAD")

	gitCmd(tb, r.dir, "checkout", "-q", "-b", "dev")
	writeService(tb, svc, "dev")
	gitCmd(tb, r.dir, "commit", "-q", "-am", "B")
	r.b = gitCmd(tb, r.dir, "rev-parse", "HEAD")

	gitCmd(tb, r.dir, "checkout", "-q", "main")
	writeService(tb, svc, "main")
	gitCmd(tb, r.dir, "commit", "-q", "-am", "C")
	r.c = gitCmd(tb, r.dir, "rev-parse", "HEAD")

	gitCmd(tb, r.dir, "checkout", "-q", "-b", "escape")
	if err := os.Symlink("../..", filepath.Join(r.dir, "outside")); err != nil {
		tb.Fatal(err)
	}
	gitCmd(tb, r.dir, "add", ".")
	gitCmd(tb, r.dir, "commit", "-q", "-m", "D")
	gitCmd(tb, r.dir, "checkout", "-q", "main")
	return r
}

// serve serves the repository's parent directory over git:// and returns the URL of
// the repository.
func (r *gitRepo) serve(tb testing.TB) string {
	tb.Helper()
	return "git://" + testenv.GitDaemon(tb, r.base) + "/repo"
}

func gitBuild(id, url, ref, path string) *platform.Build {
	return &platform.Build{ID: id, Namespace: "acme", Service: "hello",
		Source: platform.Source{Kind: platform.SourceGit, URL: url, Ref: ref, Path: path}}
}

func TestBuildGit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts git daemon; skipped under -short")
	}
	t.Parallel()
	repo := newGitRepo(t)
	daemonURL := repo.serve(t)
	fileURL := "file://" + repo.dir
	b := newBuilder(t)

	tests := []struct {
		name, url, ref    string
		wantOut, wantHash string
		wantLog           string
	}{
		{"annotated tag over git://", daemonURL, "v1", "release v1", repo.a, "cloning " + daemonURL + " at v1"},
		{"branch over git://", daemonURL, "dev", "dev", repo.b, "cloning " + daemonURL + " at dev"},
		{"default branch over file://", fileURL, "", "main", repo.c, "cloning " + fileURL + " (default branch)"},
		{"short commit hash over file://", fileURL, repo.b[:8], "dev", repo.b, "cloning " + fileURL + " at " + repo.b[:8]},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var log lines
			art, commit, err := b.Build(context.Background(), gitBuild(fmt.Sprintf("g%d", i), tt.url, tt.ref, "services/hello"), &log)
			if err != nil {
				t.Fatalf("Build: %v\nlog:\n%s", err, log.String())
			}
			if commit != tt.wantHash {
				t.Errorf("commit = %s, want %s", commit, tt.wantHash)
			}
			if got := run(t, art); got != tt.wantOut {
				t.Errorf("binary printed %q, want %q", got, tt.wantOut)
			}
			for _, want := range []string{tt.wantLog, "resolved commit " + tt.wantHash} {
				if !log.has(want) {
					t.Errorf("log has no line starting %q:\n%s", want, log.String())
				}
			}
		})
	}
}

func TestBuildGitRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts git daemon; skipped under -short")
	}
	t.Parallel()
	repo := newGitRepo(t)
	daemonURL := repo.serve(t)
	closed := "git://" + testenv.ClosedAddr(t) + "/repo"
	b := newBuilder(t)

	tests := []struct {
		name, url, ref, path string
		wantMsg              string // exact, or a prefix when it ends with "..."
		wantHint             string
	}{
		{name: "ftp scheme", url: "ftp://example.com/x.git", path: "services/hello",
			wantMsg: `git URL "ftp://example.com/x.git" has scheme "ftp"; use one of https, http, git, ssh, file`},
		{name: "not a URL", url: "", path: "services/hello", wantMsg: "git source needs a repository URL"},
		{name: "nothing listening", url: closed, path: "services/hello",
			wantMsg: "cannot read git repository " + closed + ": ..."},
		{name: "unknown repository", url: strings.TrimSuffix(daemonURL, "repo") + "missing", path: "services/hello",
			wantMsg: "cannot read git repository " + strings.TrimSuffix(daemonURL, "repo") + "missing: ..."},
		{name: "unknown ref", url: daemonURL, ref: "nope", path: "services/hello",
			wantMsg:  `ref "nope" is not a branch, tag or commit of the repository`,
			wantHint: "branches: dev, escape, main; tags: v1"},
		{name: "unknown commit", url: daemonURL, ref: "deadbeef", path: "services/hello",
			wantMsg: `ref "deadbeef" is not a branch, tag or commit of the repository`},
		{name: "path escaping the repo", url: daemonURL, path: "../x",
			wantMsg: `path "../x" must be a directory inside the repository, like "services/hello"`},
		{name: "absolute path", url: daemonURL, path: "/etc",
			wantMsg: `path "/etc" must be a directory inside the repository, like "services/hello"`},
		{name: "missing path", url: daemonURL, path: "services/none",
			wantMsg: `path "services/none" does not exist in the repository`},
		{name: "symlink out of the repo", url: daemonURL, ref: "escape", path: "services/hello",
			wantMsg: "symlink outside in the repository points outside it (to ../..)"},
		{name: "no go.mod", url: daemonURL, path: "services",
			wantMsg: "no go.mod found in services or above it: the service must be a Go module"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := b.Build(context.Background(), gitBuild(fmt.Sprintf("r%d", i), tt.url, tt.ref, tt.path), &lines{})
			if platform.ErrorCode(err) != platform.EINVALID {
				t.Fatalf("Build error = %v, want EINVALID", err)
			}
			msg := platform.ErrorMessage(err)
			if prefix, ok := strings.CutSuffix(tt.wantMsg, "..."); ok {
				if !strings.HasPrefix(msg, prefix) {
					t.Errorf("message = %q, want prefix %q", msg, prefix)
				}
			} else if msg != tt.wantMsg {
				t.Errorf("message:\n got  %s\n want %s", msg, tt.wantMsg)
			}
			if tt.wantHint != "" && platform.ErrorHint(err) != tt.wantHint {
				t.Errorf("hint = %q, want %q", platform.ErrorHint(err), tt.wantHint)
			}
		})
	}
}
