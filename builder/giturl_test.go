package builder

import (
	"strings"
	"testing"

	platform "github.com/micro/platform"
)

// lines collects a build log.
type lines struct{ got []string }

func (l *lines) WriteLine(s string) { l.got = append(l.got, s) }

// TestGitURLCredentialsNotShown: a token in a git URL (as password or, as GitHub allows,
// as the user name) never appears in the errors a user or a namespace's viewers see.
func TestGitURLCredentialsNotShown(t *testing.T) {
	for _, raw := range []string{
		"ftp://x-access-token:ghp_SECRET@example.com/repo",
		"https://ghp_SECRET@/repo",
		"http://ghp_SECRET@%zz/repo",
	} {
		err := checkGitURL(raw)
		if err == nil {
			t.Errorf("checkGitURL(%q) accepted", raw)
			continue
		}
		if strings.Contains(err.Error(), "ghp_SECRET") {
			t.Errorf("checkGitURL error shows the token: %v", err)
		}
	}
	if got := redactURL("https://ghp_SECRET@github.com/acme/svc"); got != "https://github.com/acme/svc" {
		t.Errorf("redactURL = %q", got)
	}
}

// TestRemoteErrorHidesTheToken: go-git quotes the URL it failed on in its error; the
// build error a namespace's members read must not hold the token.
func TestRemoteErrorHidesTheToken(t *testing.T) {
	for _, raw := range []string{
		"https://ghp_SECRET@127.0.0.1:1/repo",
		"https://x-access-token:ghp_SECRET@127.0.0.1:1/repo",
	} {
		log := &lines{}
		_, err := (&Builder{}).clone(t.Context(), platform.Source{Kind: platform.SourceGit, URL: raw}, t.TempDir(), log)
		if err == nil {
			t.Fatalf("%s: want an error from an unreachable remote", raw)
		}
		if msg := err.Error(); strings.Contains(msg, "ghp_SECRET") || !strings.Contains(msg, "127.0.0.1:1/repo") {
			t.Errorf("error = %q, want the URL without the token", msg)
		}
		if all := strings.Join(log.got, "\n"); strings.Contains(all, "ghp_SECRET") {
			t.Errorf("build log shows the token:\n%s", all)
		}
	}
}
