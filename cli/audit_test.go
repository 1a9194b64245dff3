package cli

import (
	"regexp"
	"strings"
	"testing"
)

// TestAuditEndToEnd makes changes and a refused attempt through the CLI against a real
// server, then reads them back with `platform audit` and its filters and pages.
func TestAuditEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole platform")
	}
	t.Parallel()
	s := startServer(t)
	owner := s.owner
	s.must(t, owner, "Created namespace acme.", "namespaces", "create", "acme")
	vic := secretIn(t, s.must(t, owner, "Created user vic", "users", "create", "vic", "--role", "viewer").stdout)
	ci := s.must(t, owner, "Created token ci", "tokens", "create", "ci", "--role", "developer", "--namespace", "acme")
	id := regexp.MustCompile(`\((t-[0-9a-f]+)\)`).FindStringSubmatch(ci.stdout)[1]
	s.must(t, owner, "Revoked token "+id, "tokens", "revoke", id)
	s.refused(t, vic, "service.delete needs the developer role", "delete", "api", "-n", "acme")
	s.refused(t, vic, "audit.read needs the admin role", "audit")

	all := s.must(t, owner, "token.revoke", "audit")
	checkGolden(t, "audit", normalise(transcript([]string{"audit"}, all)))

	tests := []struct {
		name  string
		args  []string
		want  []string // actions, newest first
		pages bool
	}{
		{"actor", []string{"audit", "--actor", "vic"}, []string{"audit.read", "service.delete"}, false},
		{"action prefix", []string{"audit", "--action", "token."}, []string{"token.revoke", "token.create", "token.create"}, false},
		{"since", []string{"audit", "--since", "1h", "--action", "namespace.create"}, []string{"namespace.create"}, false},
		{"first page", []string{"audit", "--limit", "2"}, []string{"audit.read", "service.delete"}, true},
	}
	actions := func(out string) []string {
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			got = append(got, strings.Fields(line)[4])
		}
		return got
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.must(t, owner, "ACTION", tt.args...)
			if got := actions(r.stdout); strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("actions %v, want %v\n%s", got, tt.want, r.stdout)
			}
			if more := strings.Contains(r.stderr, "more: platform audit --before "); more != tt.pages {
				t.Fatalf("stderr %q: want a next page hint %v", r.stderr, tt.pages)
			}
			if tt.pages {
				before := regexp.MustCompile(`--before (\d+)`).FindStringSubmatch(r.stderr)[1]
				next := s.must(t, owner, "ACTION", "audit", "--limit", "2", "--before", before)
				if got := actions(next.stdout); strings.Join(got, " ") != "token.revoke token.create" {
					t.Fatalf("second page %v\n%s", got, next.stdout)
				}
			}
		})
	}
	if r := s.as(t, owner, "audit", "--since", "yesterday-ish"); r.code != 2 || !strings.Contains(r.stderr, `--since "yesterday-ish"`) {
		t.Fatalf("bad --since: exit %d, stderr %s", r.code, r.stderr)
	}
	s.noSecretsLogged(t, owner, vic)
}
