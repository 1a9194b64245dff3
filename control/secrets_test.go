package control_test

import (
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime/fake"
)

// TestGitCredentialsNotShown: a git URL with a token deploys, but the build, events and
// audit entries that members read show it without the token.
func TestGitCredentialsNotShown(t *testing.T) {
	h := newHarness(t, t.TempDir(), fake.NewHost(), 5*time.Second)
	if _, err := h.plane.CreateNamespace(h.admin, "acme"); err != nil {
		t.Fatal(err)
	}
	r, err := h.plane.Deploy(h.admin, platform.DeployRequest{Namespace: "acme", Service: "svc",
		Source: platform.Source{Kind: platform.SourceGit, URL: "https://x-access-token:ghp_SECRET@example.com/acme/svc.git", Ref: "main"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.plane.GetBuild(h.admin, "acme", r.BuildID)
	if err != nil {
		t.Fatal(err)
	}
	if b.Source.URL != "https://example.com/acme/svc.git" {
		t.Errorf("build source URL = %q, want it without credentials", b.Source.URL)
	}
	events, err := h.plane.Events(h.admin, platform.EventFilter{Namespace: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, e := range events {
		texts = append(texts, e.Message)
	}
	if all := strings.Join(texts, "\n"); !strings.Contains(all, "https://example.com/acme/svc.git@main") || strings.Contains(all, "ghp_SECRET") {
		t.Errorf("events:\n%s\nwant the URL without the token", all)
	}
	audit, err := h.plane.ListAudit(h.admin, platform.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	shown := false
	for _, e := range audit {
		if strings.Contains(e.Detail+e.Target, "ghp_SECRET") {
			t.Errorf("audit entry %s shows the token: %s %s", e.Action, e.Target, e.Detail)
		}
		shown = shown || strings.Contains(e.Detail, "https://example.com/acme/svc.git")
	}
	if !shown {
		t.Errorf("no audit entry records the deploy's source: %+v", audit)
	}
}
