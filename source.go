package platform

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
)

// GitSchemes are the URL schemes a git source may use. Transports git would run a
// program for (ext::, fd::) and any other scheme are refused.
var GitSchemes = []string{"https", "http", "git", "ssh", "file"}

// Limits of a source's fields.
const (
	maxGitURL  = 2048
	maxGitRef  = 255
	maxSrcPath = 1024
)

// scpLikeURL matches git's scp-style ssh form user@host:path (neither user, host nor path
// starting with '-', which ssh or git would read as an option).
var scpLikeURL = regexp.MustCompile(`^[A-Za-z0-9._][A-Za-z0-9._-]*@[A-Za-z0-9.][A-Za-z0-9.-]*:[^/\-]`)

// gitTransport matches git's "<transport>::<address>" form (ext::, fd::, ...).
var gitTransport = regexp.MustCompile(`^[A-Za-z0-9+.-]+::`)

// Validate checks a source before anything is stored or built: EINVALID listing every
// problem, the URL shown without its credentials. See Problems.
func (s Source) Validate() error {
	if p := s.Problems(); len(p) > 0 {
		return Errorf(EINVALID, "invalid source: %s", strings.Join(p, "; "))
	}
	return nil
}

// Problems lists what is wrong with a source, each as "source.field ...": the kind, an
// archive that is not a sha256, a git URL that is not an http(s), git, ssh or file URL
// (or scp-style user@host:path), or that starts with '-' or holds spaces or control
// characters; a ref git would not take as a branch, tag or commit (starting with '-', or
// with "..", "@{", spaces, control characters or any of ~^:?*[\); a path that is absolute
// or leaves the source's tree ("..").
func (s Source) Problems() []string {
	var problems []string
	switch s.Kind {
	case SourceArchive:
		if !isSHA256(s.Archive) {
			problems = append(problems, "source.archive must be the sha256 returned by the upload")
		}
	case SourceGit:
		if p := gitURLProblem(s.URL); p != "" {
			problems = append(problems, p)
		}
		if p := gitRefProblem(s.Ref); p != "" {
			problems = append(problems, p)
		}
	default:
		problems = append(problems, fmt.Sprintf("source.kind %q: want archive or git", s.Kind))
	}
	if p := sourcePathProblem(s.Path); p != "" {
		problems = append(problems, p)
	}
	return problems
}

// isSHA256 reports whether s is a lower-case hex sha256.
func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// hasControl reports whether s holds a space or a control character.
func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0
}

func gitURLProblem(raw string) string {
	shown := Source{URL: raw}.PublicURL()
	switch {
	case raw == "":
		return "source.url is required for a git source"
	case len(raw) > maxGitURL:
		return fmt.Sprintf("source.url is longer than %d characters", maxGitURL)
	case strings.HasPrefix(raw, "-"):
		return fmt.Sprintf("source.url %q must not start with '-'", shown)
	case gitTransport.MatchString(raw):
		return fmt.Sprintf("source.url %q: git transports (such as ext::) are not allowed; use one of %s", shown, strings.Join(GitSchemes, ", "))
	case hasControl(raw):
		return fmt.Sprintf("source.url %q must not hold spaces or control characters", shown)
	}
	if !strings.Contains(raw, "://") {
		if scpLikeURL.MatchString(raw) {
			return ""
		}
		return fmt.Sprintf("source.url %q is not a URL: use one of %s, or user@host:path", shown, strings.Join(GitSchemes, ", "))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Sprintf("source.url %q is not a valid URL", shown)
	}
	if !slices.Contains(GitSchemes, u.Scheme) {
		return fmt.Sprintf("source.url %q has scheme %q; use one of %s", shown, u.Scheme, strings.Join(GitSchemes, ", "))
	}
	if u.Scheme != "file" && u.Host == "" {
		return fmt.Sprintf("source.url %q has no host", shown)
	}
	if strings.HasPrefix(u.Host, "-") || strings.HasPrefix(u.User.Username(), "-") {
		return fmt.Sprintf("source.url %q: a host or user must not start with '-'", shown)
	}
	return ""
}

func gitRefProblem(ref string) string {
	if ref == "" {
		return ""
	}
	bad := func(why string) string {
		return fmt.Sprintf("source.ref %q %s: give a branch, tag or commit", ref, why)
	}
	switch {
	case len(ref) > maxGitRef:
		return fmt.Sprintf("source.ref is longer than %d characters", maxGitRef)
	case strings.HasPrefix(ref, "-"):
		return bad("must not start with '-'")
	case hasControl(ref):
		return bad("must not hold spaces or control characters")
	case strings.ContainsAny(ref, `~^:?*[\`):
		return bad(`must not hold any of ~^:?*[\`)
	case strings.Contains(ref, "..") || strings.Contains(ref, "@{") || strings.Contains(ref, "//") || ref == "@":
		return bad(`must not hold "..", "@{" or "//"`)
	case strings.HasPrefix(ref, "/") || strings.HasSuffix(ref, "/") || strings.HasSuffix(ref, ".") || strings.HasSuffix(ref, ".lock"):
		return bad("must not start or end with '/' or end with '.' or \".lock\"")
	}
	for _, part := range strings.Split(ref, "/") {
		if strings.HasPrefix(part, ".") {
			return bad("has a part starting with '.'")
		}
	}
	return ""
}

// sourcePathProblem checks the subdirectory of a source: relative, inside the tree.
func sourcePathProblem(p string) string {
	if p == "" {
		return ""
	}
	bad := func(why string) string {
		return fmt.Sprintf("source.path %q %s: give a directory inside the source, like \"services/hello\"", p, why)
	}
	switch {
	case len(p) > maxSrcPath:
		return fmt.Sprintf("source.path is longer than %d characters", maxSrcPath)
	case path.IsAbs(p):
		return bad("is absolute")
	case strings.HasPrefix(p, "-"):
		return bad("must not start with '-'")
	case strings.ContainsRune(p, '\\') || strings.IndexFunc(p, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0:
		return bad("must not hold backslashes or control characters")
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return bad("leaves the source's tree")
		}
	}
	return ""
}
