package builder

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/memory"

	platform "github.com/micro/platform"
)

// gitSchemes are the URL schemes a git source may use.
var gitSchemes = []string{"https", "http", "git", "ssh", "file"}

// scpLike matches the scp-style ssh form user@host:path.
var scpLike = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/]`)

// hexRef matches what may be an abbreviated or full commit hash.
var hexRef = regexp.MustCompile(`^[0-9a-f]{4,40}$`)

// checkGitURL validates a git source URL; the error text is user-facing.
func checkGitURL(raw string) error {
	if raw == "" {
		return errors.New("git source needs a repository URL")
	}
	if scpLike.MatchString(raw) {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("git URL %q is not a valid URL", redactURL(raw))
	}
	if !slices.Contains(gitSchemes, u.Scheme) {
		return fmt.Errorf("git URL %q has scheme %q; use one of %s", redactURL(raw), u.Scheme, strings.Join(gitSchemes, ", "))
	}
	if u.Scheme != "file" && u.Host == "" {
		return fmt.Errorf("git URL %q has no host", redactURL(raw))
	}
	return nil
}

// cleanSubdir validates a git source's Path and returns it cleaned, "." for the root.
func cleanSubdir(p string) (string, error) {
	if p == "" {
		return ".", nil
	}
	c := path.Clean(strings.TrimSuffix(p, "/"))
	if path.IsAbs(p) || strings.Contains(p, `\`) || !fs.ValidPath(c) {
		return "", fmt.Errorf("path %q must be a directory inside the repository, like \"services/hello\"", p)
	}
	return c, nil
}

// subdirIn returns the directory sub of the checkout at root, checking that it exists
// and that no symlink takes it out of the checkout.
func subdirIn(root, sub string) (string, error) {
	dir := filepath.Join(root, filepath.FromSlash(sub))
	real, err := filepath.EvalSymlinks(dir)
	if err != nil || !isDir(real) {
		return "", platform.Errorf(platform.EINVALID, "path %q does not exist in the repository", sub).
			WithHint("give the directory holding the service's main package, relative to the repository root")
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("resolve checkout: %w", err)
	}
	if !within(realRoot, real) {
		return "", platform.Errorf(platform.EINVALID, "path %q leads outside the repository", sub)
	}
	return dir, nil
}

// target is what a ref resolved to on the remote.
type target struct {
	ref  plumbing.ReferenceName // branch or tag to clone shallowly; empty for HEAD or a hash
	hash string                 // commit hash prefix when the ref is a hash
}

// clone fetches src.URL at src.Ref into dir and returns the checked-out commit.
func (b *Builder) clone(ctx context.Context, src platform.Source, dir string, log platform.LogWriter) (string, error) {
	ref := strings.TrimSpace(src.Ref)
	log.WriteLine(fmt.Sprintf("cloning %s%s", redactURL(src.URL), refSuffix(ref)))
	refs, err := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{src.URL}}).
		ListContext(ctx, &git.ListOptions{PeelingOption: git.AppendPeeled})
	if err != nil {
		return "", remoteError(ctx, src.URL, err)
	}
	tgt, err := resolveRef(refs, ref)
	if err != nil {
		return "", err
	}
	progress := newLineWriter(log, "")
	defer progress.Flush()
	opts := &git.CloneOptions{URL: src.URL, Tags: git.NoTags, Progress: progress}
	if tgt.hash == "" {
		opts.ReferenceName, opts.SingleBranch, opts.Depth = tgt.ref, true, 1
	}
	repo, err := git.PlainCloneContext(ctx, dir, false, opts)
	if err != nil {
		return "", remoteError(ctx, src.URL, err)
	}
	var hash *plumbing.Hash
	if tgt.hash != "" {
		if hash, err = checkoutHash(repo, tgt.hash); err != nil {
			return "", err
		}
	} else {
		if hash, err = headCommit(repo); err != nil {
			return "", err
		}
	}
	commit := hash.String()
	log.WriteLine(fmt.Sprintf("resolved commit %s", commit))
	return commit, checkSymlinks(dir)
}

// checkSymlinks refuses a checkout holding a symlink that resolves outside it: go build
// would follow it and could read, and quote in its errors, files of the server.
func checkSymlinks(root string) error {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("resolve checkout: %w", err)
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		target, err := os.Readlink(p)
		if err != nil {
			return fmt.Errorf("read symlink: %w", err)
		}
		real, err := filepath.EvalSymlinks(p)
		if filepath.IsAbs(target) || err == nil && !within(realRoot, real) {
			rel, _ := filepath.Rel(root, p)
			return platform.Errorf(platform.EINVALID, "symlink %s in the repository points outside it (to %s)", filepath.ToSlash(rel), target).
				WithHint("the platform builds only files inside the repository; replace the link with a copy")
		}
		return nil
	})
}

// within reports whether p is root or below it; both must be clean absolute paths.
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// resolveRef finds ref among the remote's refs: a branch, a tag, a full ref name, or a
// commit hash. The error lists what the remote has.
func resolveRef(refs []*plumbing.Reference, ref string) (target, error) {
	if ref == "" {
		return target{}, nil
	}
	candidates := []plumbing.ReferenceName{
		plumbing.NewBranchReferenceName(ref), plumbing.NewTagReferenceName(ref), plumbing.ReferenceName(ref),
	}
	for _, c := range candidates {
		for _, r := range refs {
			if r.Name() == c && (c.IsBranch() || c.IsTag()) {
				return target{ref: c}, nil
			}
		}
	}
	if hexRef.MatchString(ref) {
		return target{hash: ref}, nil
	}
	var branches, tags []string
	for _, r := range refs {
		switch n := r.Name(); {
		case n.IsBranch():
			branches = append(branches, n.Short())
		case n.IsTag() && !strings.HasSuffix(n.String(), "^{}"):
			tags = append(tags, n.Short())
		}
	}
	return target{}, platform.Errorf(platform.EINVALID, "ref %q is not a branch, tag or commit of the repository", ref).
		WithHint("branches: %s; tags: %s", listSome(branches), listSome(tags))
}

// checkoutHash checks out the commit a hash prefix names in a full clone.
func checkoutHash(repo *git.Repository, prefix string) (*plumbing.Hash, error) {
	hash, err := repo.ResolveRevision(plumbing.Revision(prefix))
	if err != nil {
		return nil, platform.Errorf(platform.EINVALID, "ref %q is not a branch, tag or commit of the repository", prefix)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, fmt.Errorf("open worktree: %w", err)
	}
	if err := wt.Checkout(&git.CheckoutOptions{Hash: *hash, Force: true}); err != nil {
		return nil, fmt.Errorf("checkout %s: %w", hash, err)
	}
	return hash, nil
}

// headCommit returns the commit HEAD points to, peeling an annotated tag.
func headCommit(repo *git.Repository) (*plumbing.Hash, error) {
	head, err := repo.Head()
	if err != nil {
		return nil, fmt.Errorf("read cloned HEAD: %w", err)
	}
	h := head.Hash()
	if tag, err := repo.TagObject(h); err == nil {
		c, err := tag.Commit()
		if err != nil {
			return nil, platform.Errorf(platform.EINVALID, "tag %s does not point to a commit", tag.Name)
		}
		h = c.Hash
	}
	return &h, nil
}

// remoteError turns a go-git failure to talk to the remote into a user-facing error.
func remoteError(ctx context.Context, rawURL string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return platform.Errorf(platform.EINVALID, "cannot read git repository %s: %s", redactURL(rawURL), scrubCredentials(err.Error(), rawURL)).
		WithHint("check the URL and that the repository is reachable from the platform server without a password")
}

// scrubCredentials removes the user information of rawURL from text: go-git's errors
// quote the URL as given (net/http masks only a password, and a token is often the user
// name), and the error becomes the build's, which the namespace's members read.
func scrubCredentials(text, rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return text
	}
	secrets := []string{u.User.String(), u.User.Username()}
	if pw, ok := u.User.Password(); ok {
		secrets = append(secrets, pw)
	}
	for _, sec := range secrets {
		if sec != "" {
			text = strings.ReplaceAll(text, sec+"@", "")
			text = strings.ReplaceAll(text, sec, "***")
		}
	}
	return text
}

// redactURL is the git URL as logs and errors show it: without user information (a
// token is often the user name) and query.
func redactURL(raw string) string {
	return platform.Source{URL: raw}.PublicURL()
}

func refSuffix(ref string) string {
	if ref == "" {
		return " (default branch)"
	}
	return " at " + ref
}

// listSome renders up to ten names.
func listSome(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	slices.Sort(names)
	if len(names) > 10 {
		return strings.Join(names[:10], ", ") + fmt.Sprintf(" and %d more", len(names)-10)
	}
	return strings.Join(names, ", ")
}
