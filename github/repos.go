package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"

	gh "github.com/google/go-github/v93/github"

	platform "github.com/micro/platform"
)

// maxStatusDescription is GitHub's limit on a commit status's description, in
// characters; a longer one is refused with 422.
const maxStatusDescription = 140

// Commit status states.
const (
	StatusPending = "pending"
	StatusSuccess = "success"
	StatusFailure = "failure"
	StatusError   = "error"
)

// CommitStatus is a commit status as GitHub shows it beside a commit or pull request.
type CommitStatus struct {
	// State is pending, success, failure or error.
	State string
	// Context tells this status from other systems' on the same commit, e.g.
	// "micro-platform/deploy"; "" is GitHub's "default".
	Context string
	// Description is cut to GitHub's 140 characters.
	Description string
	// TargetURL is where the status links to, e.g. the build's logs.
	TargetURL string
}

// Repos calls GitHub's repositories API with the platform's token for GitOps: commit
// statuses, the preview comment on pull requests and the repositories' webhooks. It is
// safe for concurrent use. Its errors are platform errors and never hold the token:
// ENOTFOUND or EFORBIDDEN (with a hint saying what access to give) when GitHub answers
// 404 or 403 for the repository, EUNAUTHENTICATED for a refused token, EINVALID for a
// bad argument or a request GitHub refuses (422), EUNAVAILABLE otherwise.
type Repos struct {
	c   *gh.Client
	err error // from building c

	mu       sync.Mutex
	selfDone bool
	self     string // the token's login; "" for a token that cannot read its user
}

// NewRepos returns a client of the API at apiURL ("" means api.github.com; for GitHub
// Enterprise https://HOST/api/v3/) with token. A nil httpClient means one with a 30 s
// timeout. An apiURL go-github refuses makes every call fail with that error.
func NewRepos(apiURL, token string, httpClient *http.Client) *Repos {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: apiTimeout}
	}
	c, err := newAPIClient(Config{APIURL: apiURL}, httpClient, token)
	return &Repos{c: c, err: err}
}

// SetStatus sets a status on commit sha of repo ("owner/name"). GitHub keeps every
// status and shows the latest of each context.
func (r *Repos) SetStatus(ctx context.Context, repo, sha string, s CommitStatus) error {
	owner, name, err := r.split(repo)
	if err != nil {
		return err
	}
	var errs []error
	switch s.State {
	case StatusPending, StatusSuccess, StatusFailure, StatusError:
	default:
		errs = append(errs, platform.Errorf(platform.EINVALID, "commit status state %q is not pending, success, failure or error", s.State))
	}
	if !shaPattern.MatchString(sha) {
		errs = append(errs, platform.Errorf(platform.EINVALID, "%q is not a commit SHA", sha))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	st := gh.RepoStatus{State: gh.Ptr(s.State), Description: gh.Ptr(cutRunes(s.Description, maxStatusDescription))}
	if s.Context != "" {
		st.Context = gh.Ptr(s.Context)
	}
	if s.TargetURL != "" {
		st.TargetURL = gh.Ptr(s.TargetURL)
	}
	if _, _, err := r.c.Repositories.CreateStatus(ctx, owner, name, sha, st); err != nil {
		return repoError("set a commit status on "+repo, repo, err)
	}
	return nil
}

// UpsertComment keeps one comment of the platform's on pull request (or issue) pr of
// repo: the comment holding marker (a hidden HTML comment such as
// "<!-- micro-platform:preview acme-pr-42 -->"), searched on every page, is edited to
// marker+"\n"+body, or created if there is none; it returns the comment's id.
//
// Only comments of the token's own account count (of a bot account for a token that
// cannot read its user, such as a GitHub App's), so that someone who pastes the marker
// into a comment of theirs gets no edit of it and no say in what the platform posts.
func (r *Repos) UpsertComment(ctx context.Context, repo string, pr int, marker, body string) (int64, error) {
	owner, name, err := r.split(repo)
	if err != nil {
		return 0, err
	}
	if pr <= 0 {
		return 0, platform.Errorf(platform.EINVALID, "pull request number %d is not positive", pr)
	}
	if strings.TrimSpace(marker) == "" {
		return 0, platform.Errorf(platform.EINVALID, "the comment's marker is empty")
	}
	what := fmt.Sprintf("update the comment on %s#%d", repo, pr)
	self, err := r.selfLogin(ctx, what)
	if err != nil {
		return 0, err
	}
	full := marker + "\n" + body
	opts := &gh.IssueListCommentsOptions{ListOptions: gh.ListOptions{PerPage: perPage}}
	var found *gh.IssueComment
	for found == nil {
		page, resp, err := r.c.Issues.ListComments(ctx, owner, name, pr, opts)
		if err != nil {
			return 0, repoError(what, repo, err)
		}
		for _, c := range page {
			if strings.Contains(c.GetBody(), marker) && ours(c.GetUser(), self) {
				found = c
				break
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if found != nil {
		if found.GetBody() == full {
			return found.GetID(), nil
		}
		c, _, err := r.c.Issues.UpdateComment(ctx, owner, name, found.GetID(), gh.IssueCommentRequest{Body: full})
		if err == nil {
			return c.GetID(), nil
		}
		// Deleted since it was listed: make another. (A 404 for want of access comes
		// again below.)
		if !isStatus(err, http.StatusNotFound) {
			return 0, repoError(what, repo, err)
		}
	}
	c, _, err := r.c.Issues.CreateComment(ctx, owner, name, pr, gh.IssueCommentRequest{Body: full})
	if err != nil {
		return 0, repoError(what, repo, err)
	}
	return c.GetID(), nil
}

// InstallHook makes sure repo has a webhook delivering events to url as JSON signed
// with secret, and returns its id: it edits the hook already on url (GitHub refuses a
// second one; its secret cannot be read back, so it is set again) or creates one.
// Empty events means push only.
func (r *Repos) InstallHook(ctx context.Context, repo, hookURL, secret string, events []string) (int64, error) {
	owner, name, err := r.split(repo)
	if err != nil {
		return 0, err
	}
	var errs []error
	if u, err := url.Parse(hookURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, platform.Errorf(platform.EINVALID, "webhook URL %q is not an absolute http(s) URL", hookURL))
	}
	if secret == "" {
		errs = append(errs, platform.Errorf(platform.EINVALID, "the webhook secret is empty: deliveries could not be verified"))
	}
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	what := "install the webhook on " + repo
	if len(events) == 0 {
		events = []string{"push"}
	}
	hook := &gh.Hook{
		Name: gh.Ptr("web"), Active: gh.Ptr(true), Events: events,
		Config: &gh.HookConfig{URL: gh.Ptr(hookURL), ContentType: gh.Ptr("json"), Secret: gh.Ptr(secret), InsecureSSL: gh.Ptr("0")},
	}
	opts := &gh.ListOptions{PerPage: perPage}
	for {
		page, resp, err := r.c.Repositories.ListHooks(ctx, owner, name, opts)
		if err != nil {
			return 0, repoError(what, repo, err)
		}
		for _, h := range page {
			if h.GetConfig().GetURL() == hookURL {
				edit := *hook
				edit.Name = nil // not editable
				got, _, err := r.c.Repositories.EditHook(ctx, owner, name, h.GetID(), &edit)
				if err != nil {
					return 0, repoError(what, repo, err)
				}
				return got.GetID(), nil
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	got, _, err := r.c.Repositories.CreateHook(ctx, owner, name, hook)
	if err != nil {
		return 0, repoError(what, repo, err)
	}
	return got.GetID(), nil
}

// DeleteHook deletes webhook id of repo. A hook already gone is no error, but GitHub
// answers 404 for it as for a repository the token cannot see: the repository is read
// to tell them apart.
func (r *Repos) DeleteHook(ctx context.Context, repo string, id int64) error {
	owner, name, err := r.split(repo)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("delete webhook %d of %s", id, repo)
	_, err = r.c.Repositories.DeleteHook(ctx, owner, name, id)
	if err == nil {
		return nil
	}
	if !isStatus(err, http.StatusNotFound) {
		return repoError(what, repo, err)
	}
	if _, _, gerr := r.c.Repositories.Get(ctx, owner, name); gerr != nil {
		return repoError(what, repo, gerr)
	}
	return nil
}

// selfLogin returns the token's login, read once; "" when the token cannot read its
// user (GitHub answers 403 or 404 to an installation token).
func (r *Repos) selfLogin(ctx context.Context, what string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.selfDone {
		return r.self, nil
	}
	u, _, err := r.c.Users.Get(ctx, "")
	switch {
	case err == nil:
		r.self = u.GetLogin()
	case isStatus(err, http.StatusForbidden) || isStatus(err, http.StatusNotFound):
		r.self = ""
	default:
		return "", repoError(what, "", err)
	}
	r.selfDone = true
	return r.self, nil
}

// ours reports whether a comment by u is the platform's: by self, or by a bot when
// self is not known.
func ours(u *gh.User, self string) bool {
	if self == "" {
		return u.GetType() == "Bot"
	}
	return strings.EqualFold(u.GetLogin(), self)
}

// repoPattern is what GitHub allows in owner and repository names. Checking it keeps a
// name from changing the path of the request (go-github does not escape it).
var (
	repoPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	shaPattern  = regexp.MustCompile(`^[0-9a-fA-F]{7,64}$`)
)

// split checks repo ("owner/name") and returns its parts, or the error of building the
// client.
func (r *Repos) split(repo string) (owner, name string, err error) {
	if r.err != nil {
		return "", "", r.err
	}
	owner, name, _ = strings.Cut(repo, "/")
	if !repoPattern.MatchString(repo) || owner == "." || owner == ".." || name == "." || name == ".." {
		return "", "", platform.Errorf(platform.EINVALID, "%q is not a GitHub repository (owner/name)", repo)
	}
	return owner, name, nil
}

// repoError turns a go-github error on repo into a platform error: 404 and 403 say the
// platform's token has no access to it, with a hint; 401 that GitHub refused the token;
// 422 what GitHub refused; the rest as apiError. The messages never hold the token.
func repoError(what, repo string, err error) error {
	var rl *gh.RateLimitError
	var abuse *gh.AbuseRateLimitError
	var er *gh.ErrorResponse
	if errors.As(err, &rl) || errors.As(err, &abuse) || !errors.As(err, &er) || er.Response == nil {
		return apiError(what, err)
	}
	switch er.Response.StatusCode {
	case http.StatusNotFound, http.StatusForbidden:
		if repo == "" {
			break
		}
		code := platform.ENOTFOUND
		if er.Response.StatusCode == http.StatusForbidden {
			code = platform.EFORBIDDEN
		}
		return fmt.Errorf("%s: %w", what, platform.Errorf(code, "GitHub: no access to %s with the platform's token", repo).
			WithHint("give the platform's GitHub token access to %s: a classic token needs the repo scope (and admin:repo_hook for webhooks); "+
				"a fine-grained token or a GitHub App needs read and write on its commit statuses, pull requests and webhooks", repo))
	case http.StatusUnauthorized:
		return fmt.Errorf("%s: %w", what, platform.Errorf(platform.EUNAUTHENTICATED, "GitHub refused the platform's token (revoked, expired or invalid)").
			WithHint("replace the platform's GitHub token in the server configuration"))
	case http.StatusUnprocessableEntity:
		var reasons []string
		for _, e := range er.Errors {
			switch {
			case e.Message != "":
				reasons = append(reasons, e.Message)
			case e.Field != "":
				reasons = append(reasons, e.Field+" "+e.Code)
			}
		}
		if len(reasons) == 0 {
			reasons = append(reasons, er.Message)
		}
		return fmt.Errorf("%s: %w", what, platform.Errorf(platform.EINVALID, "GitHub refused the request: %s", strings.Join(reasons, "; ")))
	}
	return apiError(what, err)
}

func isStatus(err error, status int) bool {
	var er *gh.ErrorResponse
	return errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == status
}

// cutRunes cuts s to at most n characters, the last an ellipsis when cut.
func cutRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
