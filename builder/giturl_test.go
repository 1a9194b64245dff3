package builder

import (
	"strings"
	"testing"
)

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
