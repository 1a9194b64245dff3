package gitops

import (
	"context"
	"errors"
	"fmt"
	"io"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	platform "github.com/micro/platform"
	"github.com/micro/platform/archive"
)

// Mirror keeps one clone per link under its directory, fetched incrementally: the first
// push of a link clones the branch, later ones fetch what is new. Callers serialise the
// use of one link's clone (the worker processes a link's deliveries one at a time).
type Mirror struct {
	// Dir holds the clones, one directory per link id.
	Dir string
	// Token, when set, is sent as the password of HTTPS fetches from TokenHost (GitHub's
	// x-access-token form), never written into a URL, a log or an error, and never sent
	// to another host: a link's clone URL is the tenant's to choose.
	Token string
	// TokenHost is GitHub's host ("github.com" when empty).
	TokenHost string
}

// Checkout is a commit of a link's repository checked out in its clone.
type Checkout struct {
	// Root is the working tree.
	Root   string
	repo   *git.Repository
	commit *object.Commit
}

// Checkout fetches branch from url into the clone of link and checks out commit, which
// must be on the branch's history (a push's "after", a pull request's head).
func (m *Mirror) Checkout(ctx context.Context, link, url, branch, commit string) (*Checkout, error) {
	dir := filepath.Join(m.Dir, link)
	repo, err := git.PlainOpen(dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		repo, err = git.PlainInit(dir, false)
	}
	if err != nil {
		return nil, fmt.Errorf("open the clone of %s: %w", link, err)
	}
	if err := setOrigin(repo, url); err != nil {
		return nil, fmt.Errorf("the clone of %s: %w", link, err)
	}
	hash := plumbing.NewHash(commit)
	if _, err := repo.CommitObject(hash); err != nil {
		refspec := gitconfig.RefSpec("+refs/heads/" + branch + ":refs/remotes/origin/" + branch)
		err := repo.FetchContext(ctx, &git.FetchOptions{
			RemoteName: "origin", RefSpecs: []gitconfig.RefSpec{refspec}, Tags: git.NoTags, Auth: m.auth(url), Force: true,
		})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return nil, fetchError(ctx, url, branch, err, m.Token)
		}
	}
	c, err := repo.CommitObject(hash)
	if err != nil {
		return nil, platform.Errorf(platform.EINVALID, "commit %s is not on branch %s of %s", short(commit), branch, publicURL(url))
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, err
	}
	if err := wt.Checkout(&git.CheckoutOptions{Hash: hash, Force: true}); err != nil {
		return nil, fmt.Errorf("check out %s: %w", short(commit), err)
	}
	return &Checkout{Root: dir, repo: repo, commit: c}, nil
}

// setOrigin points the clone's remote "origin" at url (a link's clone URL may change).
func setOrigin(repo *git.Repository, url string) error {
	if r, err := repo.Remote("origin"); err == nil {
		if urls := r.Config().URLs; len(urls) == 1 && urls[0] == url {
			return nil
		}
		if err := repo.DeleteRemote("origin"); err != nil {
			return err
		}
	}
	_, err := repo.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{url}})
	return err
}

func (m *Mirror) auth(raw string) transport.AuthMethod {
	host := m.TokenHost
	if host == "" {
		host = "github.com"
	}
	u, err := neturl.Parse(raw)
	if m.Token == "" || err != nil || u.Scheme != "https" || !strings.EqualFold(u.Host, host) {
		return nil
	}
	return &githttp.BasicAuth{Username: "x-access-token", Password: m.Token}
}

// Changed returns the paths that differ between commit from and the checkout's commit,
// and whether it could tell (from must be in the clone).
func (c *Checkout) Changed(from string) ([]string, bool) {
	if from == "" || from == zeroCommit {
		return nil, false
	}
	fc, err := c.repo.CommitObject(plumbing.NewHash(from))
	if err != nil {
		return nil, false
	}
	ft, err := fc.Tree()
	if err != nil {
		return nil, false
	}
	tt, err := c.commit.Tree()
	if err != nil {
		return nil, false
	}
	changes, err := object.DiffTree(ft, tt)
	if err != nil {
		return nil, false
	}
	var out []string
	for _, ch := range changes {
		if ch.From.Name != "" {
			out = append(out, ch.From.Name)
		}
		if ch.To.Name != "" && ch.To.Name != ch.From.Name {
			out = append(out, ch.To.Name)
		}
	}
	return out, true
}

// Pack writes the checked-out tree as a source archive (archive.Pack: .git left out,
// .platformignore honoured).
func (c *Checkout) Pack(w io.Writer) error {
	return archive.Pack(c.Root, w)
}

// Author returns the commit's author, for a release's origin.
func (c *Checkout) Author() string { return c.commit.Author.Name }

// Message returns the commit message's first line.
func (c *Checkout) Message() string { return firstLine(c.commit.Message) }

// fetchError is what the user sees of a failed fetch: what was fetched and why, with the
// URL's credentials and the token removed.
func fetchError(ctx context.Context, url, branch string, err error, token string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	msg := err.Error()
	if token != "" {
		msg = strings.ReplaceAll(msg, token, "***")
	}
	msg = strings.ReplaceAll(msg, url, publicURL(url))
	code := platform.EUNAVAILABLE
	hint := "check that the repository is reachable from the platform; a private repository needs the operator's GitHub token (github.repo_token)"
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed), errors.Is(err, transport.ErrRepositoryNotFound):
		code = platform.EFORBIDDEN
	case strings.Contains(msg, "couldn't find remote ref"):
		code, hint = platform.EINVALID, "the link's branch does not exist: relink with --branch"
	}
	return platform.Errorf(code, "fetch branch %s of %s: %s", branch, publicURL(url), msg).WithHint("%s", hint)
}

// publicURL is url without user information or query.
func publicURL(url string) string {
	return platform.Source{URL: url}.PublicURL()
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
