package platform_test

import (
	"strings"
	"testing"

	platform "github.com/micro/platform"
)

// TestSourceValidate is issue 9's finding 6b: git URLs, refs and paths that git would
// read as options or transports, or that leave the tree, were accepted and failed only
// at build. Every bad one is refused, naming the field, without showing credentials.
func TestSourceValidate(t *testing.T) {
	t.Parallel()
	digest := strings.Repeat("ab", 32)
	git := func(url, ref, path string) platform.Source {
		return platform.Source{Kind: platform.SourceGit, URL: url, Ref: ref, Path: path}
	}
	tests := []struct {
		name string
		src  platform.Source
		msg  string // "" when valid
	}{
		{"https", git("https://github.com/acme/svc.git", "main", "services/hello"), ""},
		{"https with a token", git("https://x-access-token:ghp_SECRET@github.com/acme/svc.git", "v1.2.0", ""), ""},
		{"http with a port", git("http://127.0.0.1:8080/repo.git", "", ""), ""},
		{"ipv6 host", git("https://[::1]:8443/repo.git", "", ""), ""},
		{"git", git("git://host/repo.git", "refs/heads/release/1.x", ""), ""},
		{"ssh", git("ssh://git@host:22/acme/svc.git", "0123abcd", ""), ""},
		{"scp-style", git("git@github.com:acme/svc.git", "feature/x-y_z", ""), ""},
		{"file", git("file:///srv/git/repo", "HEAD", "./cmd/svc/"), ""},
		{"archive", platform.Source{Kind: platform.SourceArchive, Archive: digest, Path: "services/greeter/"}, ""},

		{"no kind", platform.Source{}, `source.kind "": want archive or git`},
		{"archive not a digest", platform.Source{Kind: platform.SourceArchive, Archive: strings.Repeat("A", 64)}, "source.archive must be the sha256"},
		{"archive path escapes", platform.Source{Kind: platform.SourceArchive, Archive: digest, Path: "../../etc"}, "leaves the source's tree"},
		{"no url", git("", "", ""), "source.url is required"},
		{"ext transport", git("ext::sh -c touch% /tmp/pwned", "", ""), "source.url"},
		{"ext transport without spaces", git("ext::evil", "", ""), "git transports (such as ext::) are not allowed"},
		{"fd transport", git("fd::3", "", ""), "git transports"},
		{"url is an option", git("--upload-pack=touch /tmp/pwned", "", ""), "must not start with '-'"},
		{"url is an option without spaces", git("--upload-pack=evil", "", ""), "must not start with '-'"},
		{"ssh host is an option", git("ssh://-oProxyCommand=evil/repo", "", ""), "must not start with '-'"},
		{"ssh user is an option", git("ssh://-oProxyCommand=evil@host/repo", "", ""), "must not start with '-'"},
		{"scp host is an option", git("git@-oProxyCommand=evil:repo", "", ""), "is not a URL"},
		{"scp path is an option", git("git@host:-repo", "", ""), "is not a URL"},
		{"other scheme", git("ftp://host/repo", "", ""), `has scheme "ftp"`},
		{"no host", git("https:///repo", "", ""), "has no host"},
		{"a bare path", git("/srv/git/repo", "", ""), "is not a URL"},
		{"newline", git("https://host/repo\n--upload-pack=x", "", ""), "spaces or control characters"},
		{"ref is an option", git("https://host/repo", "--upload-pack=touch /tmp/pwned", ""), `source.ref "--upload-pack=touch /tmp/pwned" must not start with '-'`},
		{"ref with ..", git("https://host/repo", "main..evil", ""), `must not hold ".."`},
		{"ref with a colon", git("https://host/repo", "refs/heads/a:refs/heads/b", ""), `~^:?*[\`},
		{"ref with a space", git("https://host/repo", "a b", ""), "spaces or control"},
		{"ref ending in .lock", git("https://host/repo", "main.lock", ""), ".lock"},
		{"path with ../..", git("https://host/repo", "", "services/../../etc"), `source.path "services/../../etc" leaves the source's tree`},
		{"path ..", git("https://host/repo", "", ".."), "leaves the source's tree"},
		{"absolute path", git("https://host/repo", "", "/etc"), `source.path "/etc" is absolute`},
		{"backslash path", git("https://host/repo", "", `..\..\etc`), "backslashes"},
		{"path is an option", git("https://host/repo", "", "--output=x"), "must not start with '-'"},
		{"every problem at once", git("ext::x", "-x", "/x"), "source.url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.src.Validate()
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want valid", tt.src, err)
				}
				return
			}
			if platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(platform.ErrorMessage(err), tt.msg) {
				t.Fatalf("Validate(%+v) = %v, want invalid containing %q", tt.src, err, tt.msg)
			}
		})
	}
	t.Run("every problem is listed", func(t *testing.T) {
		if got := len(git("ext::x", "-x", "/x").Problems()); got != 3 {
			t.Fatalf("%d problems, want 3", got)
		}
	})
	t.Run("credentials are not shown", func(t *testing.T) {
		err := git("ftp://x-access-token:ghp_SECRET@host/repo", "", "").Validate()
		if err == nil || strings.Contains(err.Error(), "ghp_SECRET") {
			t.Fatalf("Validate = %v, want refused without the token", err)
		}
	})
}
