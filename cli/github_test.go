package cli

import (
	"strings"
	"testing"
)

// TestGitHubLinksEndToEnd links, relinks and unlinks GitHub teams through the CLI against a
// real server: owners change them, admins read them, developers see neither, and bad input
// changes nothing.
func TestGitHubLinksEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole platform")
	}
	t.Parallel()
	s := startServer(t)
	owner := s.owner
	s.must(t, owner, "No GitHub team is linked", "github", "links")
	s.must(t, owner, "acme-inc/devs", "github", "link", "acme-inc/devs", "--role", "developer")
	r := s.must(t, owner, "acme-inc/sre", "github", "link", "acme-inc/sre", "--role", "admin")
	if !containsLine(r.stdout, "acme-inc/devs", "developer") || !containsLine(r.stdout, "acme-inc/sre", "admin") {
		t.Errorf("links after linking two teams:\n%s", r.stdout)
	}
	r = s.must(t, owner, "acme-inc/devs", "github", "link", "acme-inc/devs", "--role", "viewer")
	if !containsLine(r.stdout, "acme-inc/devs", "viewer") || strings.Count(r.stdout, "acme-inc/devs") != 1 {
		t.Errorf("relinking changes the role in place:\n%s", r.stdout)
	}

	if r := s.as(t, owner, "github", "link", "acme-inc", "--role", "admin"); r.code != 2 || !strings.Contains(r.stderr, "GITHUB-ORG/TEAM-SLUG") {
		t.Errorf("link without a team: %+v", r)
	}
	if r := s.as(t, owner, "github", "link", "acme-inc/ops", "--role", "emperor"); r.code != 2 {
		t.Errorf("link with an unknown role: %+v", r)
	}
	s.refused(t, owner, "not linked", "github", "unlink", "acme-inc/nobody")

	admin := secretIn(t, s.must(t, owner, "Created user", "users", "create", "ada", "--role", "admin").stdout)
	dev := secretIn(t, s.must(t, owner, "Created user", "users", "create", "dev", "--role", "developer").stdout)
	s.must(t, admin, "acme-inc/sre", "github", "links")
	s.refused(t, admin, "needs the owner role", "github", "link", "acme-inc/ops", "--role", "owner")
	s.refused(t, dev, "needs the admin role", "github", "links")

	s.must(t, owner, "acme-inc/sre", "github", "unlink", "acme-inc/devs")
	r = s.must(t, owner, "acme-inc/sre", "github", "links")
	if strings.Contains(r.stdout, "acme-inc/devs") || strings.Contains(r.stdout, "acme-inc/ops") {
		t.Errorf("links after unlinking devs and refused changes:\n%s", r.stdout)
	}
}

// containsLine reports whether some line of out holds every one of words.
func containsLine(out string, words ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(line, w)
		}
		if ok {
			return true
		}
	}
	return false
}
