package platform_test

import (
	"testing"

	platform "github.com/micro/platform"
)

func TestSourcePublicURL(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"https://github.com/acme/svc.git", "https://github.com/acme/svc.git"},
		{"https://x-access-token:ghp_secret@github.com/acme/svc.git", "https://github.com/acme/svc.git"},
		{"https://ghp_secret@github.com/acme/svc", "https://github.com/acme/svc"},
		{"https://github.com/acme/svc?token=secret#frag", "https://github.com/acme/svc"},
		{"git://127.0.0.1:9418/repo", "git://127.0.0.1:9418/repo"},
		{"https://github.com/acme/user@example/repo", "https://github.com/acme/user@example/repo"},
		{"file:///srv/git/repo", "file:///srv/git/repo"},
		{"", ""},
	} {
		if got := (platform.Source{Kind: platform.SourceGit, URL: tt.url}).PublicURL(); got != tt.want {
			t.Errorf("PublicURL(%q) = %q, want %q", tt.url, got, tt.want)
		}
	}
}
