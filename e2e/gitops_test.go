package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/client"
	"github.com/micro/platform/github"
	"github.com/micro/platform/github/githubtest"
	"github.com/micro/platform/gitops"
	"github.com/micro/platform/internal/testenv"
)

// shopRepo is a git repository of three go-micro services described by a micro.mu
// (greeter depends on helloworld), served by `git daemon` on loopback.
type shopRepo struct {
	t    *testing.T
	work string
	url  string
	mu   sync.Mutex
}

func newShopRepo(t *testing.T) *shopRepo {
	t.Helper()
	base := t.TempDir()
	r := &shopRepo{t: t, work: filepath.Join(base, "work")}
	for _, svc := range []string{"helloworld", "greeter"} {
		must(t, os.CopyFS(filepath.Join(r.work, "services", svc), os.DirFS(filepath.Join("..", "examples", svc))))
	}
	must(t, os.CopyFS(filepath.Join(r.work, "services", "echo"), os.DirFS(filepath.Join("..", "examples", "helloworld"))))
	r.write("services/micro.mu", "service helloworld\n    path ./helloworld\n\nservice greeter\n    path ./greeter\n    depends helloworld\n\nservice echo\n    path ./echo\n\nenv production\n    SHOP_ENV production\n")
	r.write("README.md", "# shop\n")
	r.git("init", "-q", "-b", "main")
	r.commit("first")
	bare := filepath.Join(base, "shop.git")
	cmd := exec.Command("git", "clone", "-q", "--bare", r.work, bare)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git clone --bare: %v\n%s", err, out)
	}
	r.git("remote", "add", "origin", bare)
	r.url = "git://" + testenv.GitDaemon(t, base) + "/shop.git"
	return r
}

func (r *shopRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.work
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *shopRepo) write(path, content string) {
	r.t.Helper()
	full := filepath.Join(r.work, filepath.FromSlash(path))
	must(r.t, os.MkdirAll(filepath.Dir(full), 0o755))
	must(r.t, os.WriteFile(full, []byte(content), 0o644))
}

// edit replaces old with new in path, failing when old is not there.
func (r *shopRepo) edit(path, old, new string) {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join(r.work, filepath.FromSlash(path)))
	must(r.t, err)
	if !strings.Contains(string(b), old) {
		r.t.Fatalf("%s has no %q", path, old)
	}
	r.write(path, strings.Replace(string(b), old, new, 1))
}

// commit commits everything and returns the commit.
func (r *shopRepo) commit(msg string) string {
	r.git("add", "-A")
	r.git("commit", "-q", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// push pushes branch to the served repository.
func (r *shopRepo) push(branch string) { r.git("push", "-q", "-f", "origin", branch) }

// changed lists the files changed between two commits, as GitHub's push payload does.
func (r *shopRepo) changed(from, to string) []string {
	return strings.Fields(r.git("diff", "--name-only", from, to))
}

// zeroSHA is the "before" of a push that created its branch.
const zeroSHA = "0000000000000000000000000000000000000000"

// hook posts a signed delivery to the link's webhook and returns the status and body.
func hook(t *testing.T, s *serverProc, link, secret, event, delivery string, payload any) (int, string) {
	t.Helper()
	body, err := json.Marshal(payload)
	must(t, err)
	return postDelivery(t, s, link, github.Sign(secret, body), event, delivery, body)
}

func postDelivery(t *testing.T, s *serverProc, link, sig, event, delivery string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url()+"/webhooks/github/links/"+link, bytes.NewReader(body))
	must(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(github.SignatureHeader, sig)
	req.Header.Set(gitops.EventHeader, event)
	req.Header.Set(gitops.DeliveryHeader, delivery)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// pushPayload is GitHub's push event for a push of to over from on main.
func pushPayload(r *shopRepo, repo, from, to string) map[string]any {
	var files []string
	if from != zeroSHA {
		files = r.changed(from, to)
	}
	return map[string]any{
		"ref": "refs/heads/main", "before": from, "after": to,
		"commits":     []any{map[string]any{"id": to, "message": "change", "author": map[string]any{"name": "Ada", "username": "ada"}, "modified": files}},
		"head_commit": map[string]any{"id": to, "message": "change", "author": map[string]any{"name": "Ada", "username": "ada"}},
		"repository":  map[string]any{"full_name": repo},
		"pusher":      map[string]any{"name": "ada"},
	}
}

func prPayload(repo, action, branch, sha string, n int, merged bool) map[string]any {
	return map[string]any{
		"action": action, "number": n, "repository": map[string]any{"full_name": repo},
		"pull_request": map[string]any{"title": "a change", "merged": merged, "user": map[string]any{"login": "ada"},
			"head": map[string]any{"ref": branch, "sha": sha, "repo": map[string]any{"full_name": repo}},
			"base": map[string]any{"ref": "main"}},
	}
}

// releaseOf waits for the release of service made from commit to end, and returns it.
func releaseOf(t *testing.T, c *client.Client, ns, service, commit string) *platform.Release {
	t.Helper()
	var got *platform.Release
	eventually(t, fmt.Sprintf("%s/%s from %.7s ends", ns, service, commit), func() bool {
		rels, err := c.ListReleases(context.Background(), ns, service)
		if err != nil {
			return false
		}
		for _, r := range rels {
			if r.Origin != nil && r.Origin.Commit == commit && (r.Status.Terminal() || r.Status == platform.ReleaseLive) {
				got = r
				return true
			}
		}
		return false
	})
	return got
}

func releasesFrom(t *testing.T, c *client.Client, ns, service, commit string) int {
	t.Helper()
	rels, err := c.ListReleases(context.Background(), ns, service)
	must(t, err)
	n := 0
	for _, r := range rels {
		if r.Origin != nil && r.Origin.Commit == commit {
			n++
		}
	}
	return n
}

// statusOf is the latest commit status of a context, as GitHub shows it.
func statusOf(f *githubtest.Fake, repo, sha, context string) string {
	state := ""
	for _, s := range f.Statuses(repo, sha) {
		if s.Context == context {
			state = s.State
		}
	}
	return state
}

func says(t *testing.T, s *serverProc, ns, service, endpoint, want string) bool {
	t.Helper()
	code, body, err := s.gateway(s.token, ns, service, endpoint, `{"name":"Bob"}`)
	return err == nil && code == 200 && strings.Contains(body, want)
}

// TestGitOps is the GitOps journey against the fake GitHub and a real git server: a
// linked repository's pushes deploy what they change, in dependency order, with commit
// statuses; a broken commit leaves the old version serving; deliveries are durable,
// deduplicated, and replays and forgeries are refused; rollback reuses an artifact; a
// pull request gets a preview namespace that goes when it closes; GitHub Actions trade
// their OIDC token for a token scoped to the linked namespace.
func TestGitOps(t *testing.T) {
	skipShort(t)
	const repo = "acme-inc/shop"
	gh := githubtest.New(t)
	gh.AddUser("platform-bot")
	shop := newShopRepo(t)
	data := t.TempDir()
	env := []string{
		"PLATFORM_GITHUB_API_URL=" + gh.APIURL(), "PLATFORM_GITHUB_WEB_URL=" + gh.WebURL(),
		"PLATFORM_GITHUB_REPO_TOKEN=" + gh.IssueToken("platform-bot"),
		"PLATFORM_GITHUB_OIDC_AUDIENCE=micro-platform", "PLATFORM_GITHUB_OIDC_ISSUER=" + gh.OIDCIssuer(),
		"PLATFORM_PUBLIC_URL=http://platform.test", "PLATFORM_MAX_PREVIEWS=1",
	}
	s := startServerEnv(t, data, env)
	c := s.client()
	ctx := context.Background()
	s.must(t, "namespaces", "create", "acme")
	s.must(t, "namespaces", "create", "other")

	link, setup, err := c.LinkRepo(ctx, platform.LinkRepoRequest{Namespace: "acme", Repo: repo, Path: "services", CloneURL: shop.url})
	must(t, err)
	hooks := gh.Hooks(repo)
	if !setup.HookInstalled || len(hooks) != 1 || hooks[0].Secret != setup.WebhookSecret || hooks[0].URL != "http://platform.test/webhooks/github/links/"+link.ID {
		t.Fatalf("webhook not installed as the link says: setup %+v, hooks %+v", setup, hooks)
	}
	secret := setup.WebhookSecret

	// The first push deploys the three services, helloworld before greeter.
	first := shop.git("rev-parse", "HEAD")
	shop.push("main")
	payload := pushPayload(shop, repo, zeroSHA, first)
	payload["created"] = true
	if code, body := hook(t, s, link.ID, secret, "push", "d-1", payload); code != http.StatusAccepted {
		t.Fatalf("first push: %d %s", code, body)
	}
	for _, svc := range []string{"helloworld", "greeter", "echo"} {
		if r := releaseOf(t, c, "acme", svc, first); r.Status != platform.ReleaseLive {
			t.Fatalf("%s: %s %s", svc, r.Status, r.Reason)
		}
		eventually(t, "the success status of micro/"+svc, func() bool { return statusOf(gh, repo, first, "micro/"+svc) == "success" })
	}
	hw := releaseOf(t, c, "acme", "helloworld", first)
	gr := releaseOf(t, c, "acme", "greeter", first)
	if !gr.CreatedAt.After(hw.UpdatedAt) && !gr.CreatedAt.Equal(hw.UpdatedAt) {
		t.Errorf("greeter's release was made at %s, before helloworld (which it depends on) was live at %s", gr.CreatedAt, hw.UpdatedAt)
	}
	if gr.Origin.Kind != platform.OriginPush || gr.Origin.Author != "ada" || gr.Digest == "" {
		t.Errorf("release origin %+v digest %q", gr.Origin, gr.Digest)
	}
	if !says(t, s, "acme", "greeter", "Greeter.Hello", "Hello Bob") {
		t.Fatal("greeter does not answer after the first push")
	}

	// GitHub's retry of the same delivery changes nothing; the same body under a new
	// delivery id is a replay; a forged signature is refused.
	if code, body := hook(t, s, link.ID, secret, "push", "d-1", payload); code != http.StatusOK || !strings.Contains(body, "duplicate") {
		t.Errorf("retried delivery: %d %s", code, body)
	}
	if code, _ := hook(t, s, link.ID, secret, "push", "d-1-replayed", payload); code != http.StatusConflict {
		t.Errorf("replayed delivery answered %d, want 409", code)
	}
	if code, _ := hook(t, s, link.ID, "not-the-secret", "push", "d-forged", payload); code != http.StatusUnauthorized {
		t.Errorf("forged delivery answered %d, want 401", code)
	}
	if n := releasesFrom(t, c, "acme", "helloworld", first); n != 1 {
		t.Errorf("helloworld has %d releases of the first commit, want 1", n)
	}
	audit, err := c.ListAudit(ctx, platform.AuditFilter{Action: "webhook."})
	must(t, err)
	var refused []string
	for _, e := range audit.Entries {
		refused = append(refused, e.Action)
	}
	if !slices.Contains(refused, gitops.AuditWebhookReplay) || !slices.Contains(refused, gitops.AuditWebhookRefused) {
		t.Errorf("audit has %v, want the replay and the forgery", refused)
	}

	// A push touching helloworld rebuilds exactly helloworld, which then serves the change.
	shop.edit("services/helloworld/main.go", `"Hello " + req.Name`, `"Howdy " + req.Name`)
	second := shop.commit("howdy")
	shop.push("main")
	if code, body := hook(t, s, link.ID, secret, "push", "d-2", pushPayload(shop, repo, first, second)); code != http.StatusAccepted {
		t.Fatalf("second push: %d %s", code, body)
	}
	if r := releaseOf(t, c, "acme", "helloworld", second); r.Status != platform.ReleaseLive {
		t.Fatalf("helloworld from the second push: %s %s", r.Status, r.Reason)
	}
	if !says(t, s, "acme", "helloworld", "Helloworld.Call", "Howdy Bob") {
		t.Fatal("helloworld does not serve the pushed change")
	}
	for _, svc := range []string{"greeter", "echo"} {
		if n := releasesFrom(t, c, "acme", svc, second); n != 0 {
			t.Errorf("%s was deployed by a push that did not touch it", svc)
		}
	}

	// A broken commit fails with a failure status; the old version keeps serving.
	shop.edit("services/helloworld/main.go", `"Howdy " + req.Name`, `"Howdy " + req.Name +`)
	broken := shop.commit("broken")
	shop.push("main")
	if code, body := hook(t, s, link.ID, secret, "push", "d-3", pushPayload(shop, repo, second, broken)); code != http.StatusAccepted {
		t.Fatalf("broken push: %d %s", code, body)
	}
	if r := releaseOf(t, c, "acme", "helloworld", broken); r.Status != platform.ReleaseFailed {
		t.Fatalf("broken helloworld: %s", r.Status)
	}
	eventually(t, "the failure status of the broken commit", func() bool { return statusOf(gh, repo, broken, "micro/helloworld") == "failure" })
	if !says(t, s, "acme", "helloworld", "Helloworld.Call", "Howdy Bob") {
		t.Fatal("the version before the broken commit does not serve")
	}

	// Rollback goes back to the first commit's artifact without a build.
	before := countBuilds(t, c, "acme")
	rb, err := c.Rollback(ctx, "acme", "helloworld", "")
	must(t, err)
	if rb.Origin == nil || rb.Origin.Kind != platform.OriginRollback || rb.Origin.RollbackOf != hw.Version {
		t.Fatalf("rollback release %+v, want a rollback of %s", rb.Origin, hw.Version)
	}
	eventually(t, "the rollback serves", func() bool { return says(t, s, "acme", "helloworld", "Helloworld.Call", "Hello Bob") })
	if after := countBuilds(t, c, "acme"); after != before {
		t.Errorf("rollback started %d builds, want none", after-before)
	}

	// A pull request gets a preview namespace, updated by its pushes, gone when closed.
	shop.git("checkout", "-q", "-b", "feature", second)
	shop.edit("services/greeter/main.go", `" (via greeter)"`, `" (via preview)"`)
	head := shop.commit("preview me")
	shop.push("feature")
	if code, body := hook(t, s, link.ID, secret, "pull_request", "d-pr-1", prPayload(repo, "opened", "feature", head, 7, false)); code != http.StatusAccepted {
		t.Fatalf("pull request: %d %s", code, body)
	}
	var previewBuilds []string
	for _, svc := range []string{"helloworld", "greeter", "echo"} {
		r := releaseOf(t, c, "acme-pr-7", svc, head)
		if r.Status != platform.ReleaseLive {
			t.Fatalf("preview %s: %s %s", svc, r.Status, r.Reason)
		}
		previewBuilds = append(previewBuilds, r.BuildID)
	}
	// The greeter calls helloworld through go-micro's registry; right after both are
	// live a first call can still miss (once in CI), so it is retried for a short while
	// and a miss is logged.
	servesWithin := func(what, ns, want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			code, body, err := s.gateway(s.token, ns, "greeter", "Greeter.Hello", `{"name":"Bob"}`)
			if err == nil && code == 200 && strings.Contains(body, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d %s %v", what, code, body, err)
			}
			t.Logf("%s, not yet: %d %s %v", what, code, body, err)
			time.Sleep(500 * time.Millisecond)
		}
	}
	servesWithin("the preview serves the pull request's code", "acme-pr-7", "(via preview)")
	servesWithin("the linked namespace keeps its code", "acme", "(via greeter)")
	eventually(t, "the preview comment", func() bool {
		cs := gh.Comments(repo, 7)
		return len(cs) == 1 && strings.Contains(cs[0].Body, "acme-pr-7") && strings.Contains(cs[0].Body, "http://platform.test")
	})
	// A second pull request is over the organisation's cap of one preview.
	if code, body := hook(t, s, link.ID, secret, "pull_request", "d-pr-8", prPayload(repo, "opened", "feature", head, 8, false)); code != http.StatusAccepted {
		t.Fatalf("pull request 8: %d %s", code, body)
	}
	eventually(t, "the over-the-cap comment", func() bool {
		cs := gh.Comments(repo, 8)
		return len(cs) == 1 && strings.Contains(cs[0].Body, "No preview") && strings.Contains(cs[0].Body, "(1)")
	})
	if nss, err := c.ListNamespaces(ctx); err != nil || slices.ContainsFunc(nss, func(n *platform.Namespace) bool { return n.Name == "acme-pr-8" }) {
		t.Errorf("a preview over the cap was made (%v)", err)
	}
	shop.edit("services/greeter/main.go", `" (via preview)"`, `" (via preview 2)"`)
	head2 := shop.commit("preview again")
	shop.push("feature")
	if code, body := hook(t, s, link.ID, secret, "pull_request", "d-pr-2", prPayload(repo, "synchronize", "feature", head2, 7, false)); code != http.StatusAccepted {
		t.Fatalf("synchronize: %d %s", code, body)
	}
	if r := releaseOf(t, c, "acme-pr-7", "greeter", head2); r.Status != platform.ReleaseLive {
		t.Fatalf("preview greeter after synchronize: %s %s", r.Status, r.Reason)
	}
	if !says(t, s, "acme-pr-7", "greeter", "Greeter.Hello", "(via preview 2)") {
		t.Fatal("the preview does not serve the pull request's new push")
	}
	if n := releasesFrom(t, c, "acme-pr-7", "helloworld", head2); n != 0 {
		t.Error("synchronize redeployed helloworld, which it did not touch")
	}
	eventually(t, "the preview comment is updated", func() bool {
		cs := gh.Comments(repo, 7)
		return len(cs) == 1 && strings.Contains(cs[0].Body, head2[:7])
	})
	if code, body := hook(t, s, link.ID, secret, "pull_request", "d-pr-3", prPayload(repo, "closed", "feature", head2, 7, true)); code != http.StatusAccepted {
		t.Fatalf("close: %d %s", code, body)
	}
	eventually(t, "the preview namespace is deleted", func() bool {
		nss, err := c.ListNamespaces(ctx)
		return err == nil && !slices.ContainsFunc(nss, func(n *platform.Namespace) bool { return n.Name == "acme-pr-7" })
	})
	eventually(t, "the preview's instances stop", func() bool { return !says(t, s, "acme-pr-7", "greeter", "Greeter.Hello", "Hello") })
	eventually(t, "the preview's artifacts and build logs are removed", func() bool {
		for _, id := range previewBuilds {
			for _, p := range []string{filepath.Join(data, "builds", "artifacts", id), filepath.Join(data, "buildlogs", id+".log")} {
				if _, err := os.Stat(p); err == nil {
					return false
				}
			}
		}
		return true
	})
	if _, err := os.Stat(filepath.Join(data, "builds", "artifacts", hw.BuildID)); err != nil {
		t.Errorf("the linked namespace's artifact went with the preview: %v", err)
	}

	// GitHub Actions: a job of the linked repository and branch gets a token for acme only.
	good, err := c.ExchangeActionsToken(ctx, gh.ActionsToken(map[string]any{"repository": repo, "ref": "refs/heads/main"}))
	must(t, err)
	ci := client.New(s.url(), client.WithToken(good.Secret))
	if _, err := ci.ListServices(ctx, "acme"); err != nil {
		t.Errorf("the Actions token cannot read acme: %v", err)
	}
	if _, err := ci.ListServices(ctx, "other"); platform.ErrorCode(err) != platform.EFORBIDDEN {
		t.Errorf("the Actions token reaches another namespace: %v", err)
	}
	for name, claims := range map[string]map[string]any{
		"wrong repo":     {"repository": "acme-inc/other", "ref": "refs/heads/main"},
		"wrong branch":   {"repository": repo, "ref": "refs/heads/dev"},
		"expired":        {"repository": repo, "exp": time.Now().Add(-10 * time.Minute), "iat": time.Now().Add(-20 * time.Minute), "nbf": time.Now().Add(-20 * time.Minute)},
		"wrong audience": {"repository": repo, "aud": "someone-else"},
	} {
		if _, err := c.ExchangeActionsToken(ctx, gh.ActionsToken(claims)); platform.ErrorCode(err) != platform.EUNAUTHENTICATED {
			t.Errorf("%s: %v, want unauthenticated", name, err)
		}
	}
	tok := gh.ActionsToken(map[string]any{"repository": repo})
	parts := strings.Split(tok, ".")
	none := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."
	if _, err := c.ExchangeActionsToken(ctx, none); platform.ErrorCode(err) != platform.EUNAUTHENTICATED {
		t.Errorf("alg none: %v, want unauthenticated", err)
	}
	if _, err := c.ExchangeActionsToken(ctx, parts[0]+"."+parts[1]+".AAAA"); platform.ErrorCode(err) != platform.EUNAUTHENTICATED {
		t.Errorf("bad signature: %v, want unauthenticated", err)
	}
	audit, err = c.ListAudit(ctx, platform.AuditFilter{Action: platform.AuditActionsToken})
	must(t, err)
	denied := 0
	for _, e := range audit.Entries {
		if e.Outcome == platform.AuditDenied {
			denied++
		}
	}
	if denied < 6 {
		t.Errorf("%d refused exchanges audited, want 6", denied)
	}

	// A delivery stored before a kill -9 is processed after the restart, once.
	shop.git("checkout", "-q", "main")
	shop.edit("services/echo/main.go", `"Hello " + req.Name`, `"Echo " + req.Name`)
	fourth := shop.commit("echo")
	shop.push("main")
	if code, body := hook(t, s, link.ID, secret, "push", "d-4", pushPayload(shop, repo, broken, fourth)); code != http.StatusAccepted {
		t.Fatalf("fourth push: %d %s", code, body)
	}
	s.kill9()
	s = startServerEnv(t, data, env)
	c = s.client()
	if r := releaseOf(t, c, "acme", "echo", fourth); r.Status != platform.ReleaseLive {
		t.Fatalf("echo after the restart: %s %s", r.Status, r.Reason)
	}
	if n := releasesFrom(t, c, "acme", "echo", fourth); n != 1 {
		t.Errorf("echo has %d releases of the delivery processed across a kill -9, want 1", n)
	}
	if !says(t, s, "acme", "echo", "Helloworld.Call", "Echo Bob") {
		t.Error("echo does not serve the push received before the kill -9")
	}
}

// countBuilds counts the builds the namespace's events say started.
func countBuilds(t *testing.T, c *client.Client, ns string) int {
	t.Helper()
	evs, err := c.Events(context.Background(), platform.EventFilter{Namespace: ns, Type: platform.EventBuildStarted, Limit: 1000})
	must(t, err)
	return len(evs)
}
