package github

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	platform "github.com/micro/platform"
	"github.com/micro/platform/github/githubtest"
)

const testSHA = "0123456789abcdef0123456789abcdef01234567"

// newReposEnv returns a fake GitHub with the platform's bot account, a Repos with its
// token, and the token.
func newReposEnv(t *testing.T) (*githubtest.Fake, *Repos, string) {
	t.Helper()
	f := githubtest.New(t)
	f.AddUser("platform-bot")
	tok := f.IssueToken("platform-bot")
	return f, NewRepos(f.APIURL(), tok, f.Client()), tok
}

func mustCode(t *testing.T, err error, code string) {
	t.Helper()
	if c := platform.ErrorCode(err); c != code {
		t.Fatalf("error %v (%s), want %s", err, c, code)
	}
}

func TestReposSetStatus(t *testing.T) {
	t.Parallel()
	f, r, _ := newReposEnv(t)
	ctx := t.Context()

	long := strings.Repeat("ü", 200)
	if err := r.SetStatus(ctx, "acme/app", testSHA, CommitStatus{State: StatusPending, Context: "micro-platform/deploy", Description: long, TargetURL: "https://p.example/builds/1"}); err != nil {
		t.Fatal(err)
	}
	if err := r.SetStatus(ctx, "acme/app", testSHA, CommitStatus{State: StatusSuccess, Context: "micro-platform/deploy", Description: "deployed"}); err != nil {
		t.Fatal(err)
	}
	s := f.Statuses("acme/app", testSHA)
	if len(s) != 2 || s[0].State != "pending" || s[0].Context != "micro-platform/deploy" || s[0].TargetURL != "https://p.example/builds/1" || s[1].Description != "deployed" {
		t.Fatalf("statuses %+v", s)
	}
	if n := utf8.RuneCountInString(s[0].Description); n != maxStatusDescription || !strings.HasSuffix(s[0].Description, "…") {
		t.Errorf("long description cut to %d characters: %q", n, s[0].Description)
	}

	for _, tc := range []struct {
		name, repo, sha string
		s               CommitStatus
	}{
		{"bad state", "acme/app", testSHA, CommitStatus{State: "done"}},
		{"bad sha", "acme/app", "main", CommitStatus{State: StatusSuccess}},
		{"sha with a path", "acme/app", testSHA + "/../../hooks", CommitStatus{State: StatusSuccess}},
		{"repository without owner", "app", testSHA, CommitStatus{State: StatusSuccess}},
		{"repository with a path", "acme/../orgs/acme", testSHA, CommitStatus{State: StatusSuccess}},
		{"repository dot-dot", "acme/..", testSHA, CommitStatus{State: StatusSuccess}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustCode(t, r.SetStatus(ctx, tc.repo, tc.sha, tc.s), platform.EINVALID)
		})
	}
	if n := len(f.Statuses("acme/app", testSHA)); n != 2 {
		t.Errorf("%d statuses after the refusals, want 2", n)
	}
}

func TestReposUpsertComment(t *testing.T) {
	t.Parallel()
	f, r, _ := newReposEnv(t)
	ctx := t.Context()
	const marker = "<!-- micro-platform:preview acme-pr-42 -->"

	// Others' comments come first, over several pages; one of them quotes the marker.
	f.AddUser("mallory")
	mallory := NewRepos(f.APIURL(), f.IssueToken("mallory"), f.Client())
	for i := range 4 {
		if _, err := mallory.UpsertComment(ctx, "acme/app", 42, fmt.Sprintf("<!-- other %d -->", i), "hello"); err != nil {
			t.Fatal(err)
		}
	}
	malloryID, err := mallory.UpsertComment(ctx, "acme/app", 42, marker, "Preview: https://evil.example")
	if err != nil {
		t.Fatal(err)
	}
	f.SetMaxPerPage(2)

	id, err := r.UpsertComment(ctx, "acme/app", 42, marker, "Preview: https://acme-pr-42.p.example (building)")
	if err != nil {
		t.Fatal(err)
	}
	if id == malloryID {
		t.Fatal("the platform took over someone else's comment holding the marker")
	}
	// Behind three pages of comments, found and edited.
	for i := range 6 {
		if _, err := mallory.UpsertComment(ctx, "acme/app", 42, fmt.Sprintf("<!-- later %d -->", i), "hello"); err != nil {
			t.Fatal(err)
		}
	}
	id2, err := r.UpsertComment(ctx, "acme/app", 42, marker, "Preview: https://acme-pr-42.p.example (ready)")
	if err != nil || id2 != id {
		t.Fatalf("second upsert: id %d (first %d), %v", id2, id, err)
	}
	var ours []githubtest.Comment
	for _, c := range f.Comments("acme/app", 42) {
		if c.User == "platform-bot" {
			ours = append(ours, c)
		}
		if c.ID == malloryID && c.Body != marker+"\nPreview: https://evil.example" {
			t.Errorf("mallory's comment was edited: %q", c.Body)
		}
	}
	if len(ours) != 1 || ours[0].Body != marker+"\nPreview: https://acme-pr-42.p.example (ready)" {
		t.Fatalf("the platform's comments %+v", ours)
	}

	// The same body again is no edit.
	edits := fmt.Sprintf("/api/v3/repos/acme/app/issues/comments/%d", id)
	before := f.Calls(edits)
	if id3, err := r.UpsertComment(ctx, "acme/app", 42, marker, "Preview: https://acme-pr-42.p.example (ready)"); err != nil || id3 != id {
		t.Fatalf("third upsert: %d, %v", id3, err)
	}
	if f.Calls(edits) != before {
		t.Error("an unchanged comment was edited")
	}

	// Another pull request has its own comment.
	other, err := r.UpsertComment(ctx, "acme/app", 43, marker, "x")
	if err != nil || other == id || len(f.Comments("acme/app", 43)) != 1 {
		t.Fatalf("another pull request: %d, %v", other, err)
	}

	for _, tc := range []struct {
		name, marker string
		pr           int
	}{
		{"no marker", " ", 42},
		{"no pull request", marker, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.UpsertComment(ctx, "acme/app", tc.pr, tc.marker, "x")
			mustCode(t, err, platform.EINVALID)
		})
	}
}

func TestReposHooks(t *testing.T) {
	t.Parallel()
	f, r, _ := newReposEnv(t)
	ctx := t.Context()
	const url = "https://p.example/webhooks/github/acme-app"

	id, err := r.InstallHook(ctx, "acme/app", url, "first-secret", []string{"push", "pull_request"})
	if err != nil {
		t.Fatal(err)
	}
	h := f.Hooks("acme/app")
	if len(h) != 1 || h[0].ID != id || h[0].URL != url || h[0].Secret != "first-secret" || h[0].ContentType != "json" ||
		!h[0].Active || strings.Join(h[0].Events, ",") != "push,pull_request" {
		t.Fatalf("hooks %+v", h)
	}

	// Installing again (a re-run after a crash, a new secret) edits the same hook.
	id2, err := r.InstallHook(ctx, "acme/app", url, "second-secret", []string{"push"})
	if err != nil || id2 != id {
		t.Fatalf("reinstall: %d (first %d), %v", id2, id, err)
	}
	if h := f.Hooks("acme/app"); len(h) != 1 || h[0].Secret != "second-secret" || strings.Join(h[0].Events, ",") != "push" {
		t.Fatalf("hooks after reinstall %+v", h)
	}
	other, err := r.InstallHook(ctx, "acme/app", url+"-2", "s", nil)
	if err != nil || other == id || len(f.Hooks("acme/app")) != 2 {
		t.Fatalf("a second URL: %d, %v", other, err)
	}

	if err := r.DeleteHook(ctx, "acme/app", id); err != nil {
		t.Fatal(err)
	}
	if h := f.Hooks("acme/app"); len(h) != 1 || h[0].ID != other {
		t.Fatalf("hooks after delete %+v", h)
	}
	// Already gone is done.
	if err := r.DeleteHook(ctx, "acme/app", id); err != nil {
		t.Errorf("deleting a deleted hook: %v", err)
	}

	for _, tc := range []struct{ name, url, secret string }{
		{"no secret", url, ""},
		{"relative URL", "/webhooks/github", "s"},
		{"not http", "ftp://p.example/", "s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.InstallHook(ctx, "acme/app", tc.url, tc.secret, nil)
			mustCode(t, err, platform.EINVALID)
		})
	}
}

// TestReposNoAccess checks what a repository the platform's token cannot use answers:
// ENOTFOUND or EFORBIDDEN naming it, with a hint, and never the token.
func TestReposNoAccess(t *testing.T) {
	t.Parallel()
	f, r, tok := newReposEnv(t)
	ctx := t.Context()
	f.DenyRepo("acme/secret")
	f.ForbidRepo("acme/readonly")

	calls := map[string]func(repo string) error{
		"SetStatus": func(repo string) error {
			return r.SetStatus(ctx, repo, testSHA, CommitStatus{State: StatusSuccess})
		},
		"UpsertComment": func(repo string) error { _, err := r.UpsertComment(ctx, repo, 1, "<!-- m -->", "b"); return err },
		"InstallHook": func(repo string) error {
			_, err := r.InstallHook(ctx, repo, "https://p.example/h", "s", nil)
			return err
		},
		"DeleteHook": func(repo string) error { return r.DeleteHook(ctx, repo, 1) },
	}
	for name, call := range calls {
		for _, tc := range []struct{ repo, code string }{{"acme/secret", platform.ENOTFOUND}, {"acme/readonly", platform.EFORBIDDEN}} {
			t.Run(name+" "+tc.repo, func(t *testing.T) {
				err := call(tc.repo)
				mustCode(t, err, tc.code)
				if m := platform.ErrorMessage(err); m != "GitHub: no access to "+tc.repo+" with the platform's token" {
					t.Errorf("message %q", m)
				}
				if h := platform.ErrorHint(err); !strings.Contains(h, tc.repo) {
					t.Errorf("hint %q", h)
				}
				if strings.Contains(err.Error(), tok) || strings.Contains(platform.ErrorHint(err), tok) {
					t.Errorf("the error holds the token: %v", err)
				}
			})
		}
	}

	t.Run("revoked token", func(t *testing.T) {
		f.Revoke(tok)
		err := r.SetStatus(ctx, "acme/app", testSHA, CommitStatus{State: StatusSuccess})
		mustCode(t, err, platform.EUNAUTHENTICATED)
		if strings.Contains(err.Error(), tok) {
			t.Errorf("the error holds the token: %v", err)
		}
	})
}

func TestNewReposURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ api, want string }{
		{"", DefaultAPIURL},
		{"https://ghe.example.com/api/v3", "https://ghe.example.com/api/v3/"},
	} {
		r := NewRepos(tc.api, "t", nil)
		if r.err != nil || r.c.BaseURL() != tc.want {
			t.Errorf("NewRepos(%q): %v, base %s, want %s", tc.api, r.err, r.c.BaseURL(), tc.want)
		}
	}
}
