package control_test

import (
	"context"
	"errors"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/control"
)

// fakeHooks records the webhooks the plane installs.
type fakeHooks struct {
	installed map[int64]string // id → secret
	deleted   []int64
	fail      error
}

func (f *fakeHooks) InstallHook(_ context.Context, repo, url, secret string, events []string) (int64, error) {
	if f.fail != nil {
		return 0, f.fail
	}
	id := int64(len(f.installed) + 1)
	f.installed[id] = secret
	return id, nil
}

func (f *fakeHooks) DeleteHook(_ context.Context, repo string, id int64) error {
	f.deleted = append(f.deleted, id)
	return nil
}

// fakeActions verifies "tokens" that are keys of its map.
type fakeActions map[string]*platform.ActionsIdentity

func (f fakeActions) VerifyActions(_ context.Context, raw string) (*platform.ActionsIdentity, error) {
	if id, ok := f[raw]; ok {
		return id, nil
	}
	return nil, platform.Errorf(platform.EUNAUTHENTICATED, "GitHub OIDC token refused: bad signature")
}

// TestRepoLinks: admins of a namespace link repositories (a developer may not); the link
// gets its own webhook secret, installed on GitHub or shown to add by hand; bad input and
// duplicates change nothing; another organisation neither sees nor removes a link.
func TestRepoLinks(t *testing.T) {
	t.Parallel()
	hooks := &fakeHooks{installed: map[int64]string{}}
	h := newAccounts(t, func(o *control.Options) { o.Hooks, o.PublicURL = hooks, "https://platform.example.com" })
	h.namespace("acme")
	dev, _ := h.member("dora", platform.RoleDeveloper)

	_, _, err := h.plane.LinkRepo(dev, platform.LinkRepoRequest{Namespace: "acme", Repo: "acme-inc/shop"})
	wantErr(t, err, platform.EFORBIDDEN, "repo.link needs the admin role")
	for _, bad := range []platform.LinkRepoRequest{
		{Namespace: "acme", Repo: "not a repo"},
		{Namespace: "acme", Repo: "acme-inc/shop", Branch: "-x"},
		{Namespace: "acme", Repo: "acme-inc/shop", Path: "../etc"},
		{Namespace: "acme", Repo: "acme-inc/shop", CloneURL: "ext::sh -c evil"},
		{Namespace: "acme", Repo: "acme-inc/shop", CloneURL: "https://user:token@example.com/shop.git"},
	} {
		_, _, err := h.plane.LinkRepo(h.owner, bad)
		wantErr(t, err, platform.EINVALID, "invalid link")
	}
	link, setup, err := h.plane.LinkRepo(h.owner, platform.LinkRepoRequest{Namespace: "acme", Repo: "acme-inc/shop", Path: "services/"})
	if err != nil {
		t.Fatal(err)
	}
	if link.Branch != "main" || link.Path != "services" || !link.Previews || !setup.HookInstalled || link.HookID == 0 ||
		hooks.installed[link.HookID] != setup.WebhookSecret || len(setup.WebhookSecret) != 64 ||
		setup.WebhookURL != "https://platform.example.com/webhooks/github/links/"+link.ID {
		t.Fatalf("link %+v setup %+v", link, setup)
	}
	stored, err := h.store.GetRepoLink(t.Context(), link.ID)
	if err != nil || stored.WebhookSecret == setup.WebhookSecret || stored.WebhookSecret == "" {
		t.Fatalf("the secret is not stored sealed: %v", err)
	}
	_, _, err = h.plane.LinkRepo(h.owner, platform.LinkRepoRequest{Namespace: "acme", Repo: "acme-inc/shop"})
	wantErr(t, err, platform.ECONFLICT, "already links")
	if len(hooks.installed) != 1 {
		t.Errorf("a refused link installed a webhook: %v", hooks.installed)
	}

	hooks.fail = platform.Errorf(platform.ENOTFOUND, "GitHub: no access to acme-inc/other with the platform's token")
	other, setup2, err := h.plane.LinkRepo(h.owner, platform.LinkRepoRequest{Namespace: "acme", Repo: "acme-inc/other"})
	if err != nil || setup2.HookInstalled || other.HookID != 0 || setup2.Note == "" || setup2.WebhookSecret == "" {
		t.Fatalf("a link whose webhook GitHub refused: %+v %+v %v", other, setup2, err)
	}

	globex := h.orgOwner("globex", "gina")
	if _, err := h.plane.CreateNamespace(globex, "globex-web"); err != nil {
		t.Fatal(err)
	}
	// Without github.organizations only the default organisation links repositories: the
	// operator's token may reach another customer's private ones.
	_, _, err = h.plane.LinkRepo(globex, platform.LinkRepoRequest{Namespace: "globex-web", Repo: "acme-inc/shop"})
	wantErr(t, err, platform.EFORBIDDEN, "may not link repositories of GitHub owner acme-inc")
	if links, err := h.plane.ListRepoLinks(globex, ""); err != nil || len(links) != 0 {
		t.Errorf("another organisation lists %d links (%v)", len(links), err)
	}
	if err := h.plane.UnlinkRepo(globex, "acme", link.ID); platform.ErrorCode(err) != platform.EFORBIDDEN {
		t.Errorf("another organisation unlinks: %v", err)
	}
	if links, err := h.plane.ListRepoLinks(dev, "acme"); err != nil || len(links) != 2 {
		t.Errorf("a developer of acme lists %d links (%v), want 2", len(links), err)
	}
	if err := h.plane.UnlinkRepo(h.owner, "acme", link.ID); err != nil {
		t.Fatal(err)
	}
	if len(hooks.deleted) != 1 || hooks.deleted[0] != link.HookID {
		t.Errorf("unlink deleted hooks %v, want %d", hooks.deleted, link.HookID)
	}
	if _, err := h.store.GetRepoLink(t.Context(), link.ID); !platform.IsNotFound(err) {
		t.Errorf("the link is still stored: %v", err)
	}
}

// TestRepoLinksFollowTheOperatorsMap: with github.organizations, an organisation links
// only repositories of the GitHub owners mapped to it.
func TestRepoLinksFollowTheOperatorsMap(t *testing.T) {
	t.Parallel()
	h := newAccounts(t, func(o *control.Options) {
		o.GitHubOrgs = platform.GitHubOrgs{"acme-inc": platform.DefaultOrg, "globex-gh": "globex"}
	})
	h.namespace("acme")
	globex := h.orgOwner("globex", "gina")
	if _, err := h.plane.CreateNamespace(globex, "globex-web"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.plane.LinkRepo(globex, platform.LinkRepoRequest{Namespace: "globex-web", Repo: "globex-gh/web"}); err != nil {
		t.Fatalf("globex links its own GitHub owner's repository: %v", err)
	}
	_, _, err := h.plane.LinkRepo(globex, platform.LinkRepoRequest{Namespace: "globex-web", Repo: "acme-inc/shop"})
	wantErr(t, err, platform.EFORBIDDEN, "GitHub owner acme-inc")
	_, _, err = h.plane.LinkRepo(h.owner, platform.LinkRepoRequest{Namespace: "acme", Repo: "someone/else"})
	wantErr(t, err, platform.EFORBIDDEN, "GitHub owner someone")
	if _, _, err := h.plane.LinkRepo(h.owner, platform.LinkRepoRequest{Namespace: "acme", Repo: "ACME-inc/shop"}); err != nil {
		t.Fatalf("owners are compared as GitHub does, case-insensitively: %v", err)
	}
}

// TestExchangeActionsToken: a verified job of a linked repository and branch gets a
// short-lived developer token of the link's owner for the linked namespace only; every
// refusal is unauthenticated and audited; the owner's loss of access ends the token.
func TestExchangeActionsToken(t *testing.T) {
	t.Parallel()
	exp := time.Now().Add(5 * time.Minute)
	ids := fakeActions{
		"good":   {Repository: "acme-inc/shop", RepositoryOwner: "acme-inc", Ref: "refs/heads/main", RunID: "1", Expiry: exp},
		"branch": {Repository: "acme-inc/shop", RepositoryOwner: "acme-inc", Ref: "refs/heads/dev", RunID: "2", Expiry: exp},
		"repo":   {Repository: "acme-inc/other", RepositoryOwner: "acme-inc", Ref: "refs/heads/main", RunID: "3", Expiry: exp},
		"owner":  {Repository: "evil/shop", RepositoryOwner: "evil", Ref: "refs/heads/main", RunID: "4", Expiry: exp},
	}
	h := newAccounts(t, func(o *control.Options) {
		o.Actions = ids
		o.GitHubOrgs = platform.GitHubOrgs{"acme-inc": platform.DefaultOrg}
	})
	h.namespace("acme", "other")
	adm, _ := h.member("ada", platform.RoleAdmin)
	if _, _, err := h.plane.LinkRepo(adm, platform.LinkRepoRequest{Namespace: "acme", Repo: "acme-inc/shop"}); err != nil {
		t.Fatal(err)
	}

	got, err := h.plane.ExchangeActionsToken(context.Background(), "good")
	if err != nil {
		t.Fatal(err)
	}
	if got.Namespace != "acme" || got.Token.Role != platform.RoleDeveloper || len(got.Token.Namespaces) != 1 ||
		got.Token.ExpiresAt == nil || got.Token.ExpiresAt.After(time.Now().Add(16*time.Minute)) {
		t.Fatalf("token %+v", got.Token)
	}
	ci := h.as(got.Secret)
	if _, err := h.plane.ListServices(ci, "acme"); err != nil {
		t.Errorf("the job cannot read acme: %v", err)
	}
	if _, err := h.plane.ListServices(ci, "other"); platform.ErrorCode(err) != platform.EFORBIDDEN {
		t.Errorf("the job reaches another namespace: %v", err)
	}
	if _, err := h.plane.CreateNamespace(ci, "mine"); platform.ErrorCode(err) != platform.EFORBIDDEN {
		t.Errorf("the job creates namespaces: %v", err)
	}

	for _, raw := range []string{"forged", "branch", "repo", "owner"} {
		_, err := h.plane.ExchangeActionsToken(context.Background(), raw)
		if platform.ErrorCode(err) != platform.EUNAUTHENTICATED {
			t.Errorf("%s: %v, want unauthenticated", raw, err)
		}
	}
	page, err := h.plane.ListAudit(h.owner, platform.AuditFilter{Action: platform.AuditActionsToken})
	if err != nil {
		t.Fatal(err)
	}
	denied := 0
	for _, e := range page {
		if e.Outcome == platform.AuditDenied {
			denied++
		}
	}
	if denied != 4 {
		t.Errorf("%d refusals audited, want 4", denied)
	}

	// The link's owner loses access: so does the job's token.
	if _, err := h.plane.SetUserDisabled(h.owner, "ada", true); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(2 * time.Hour) // past the authenticator's cache
	if _, err := h.auth.Authenticate(context.Background(), got.Secret); err == nil {
		t.Error("the job's token works after its owner was disabled")
	}
}

// TestExchangeOff: without a verifier the exchange says it is not configured.
func TestExchangeOff(t *testing.T) {
	t.Parallel()
	h := newAccounts(t)
	_, err := h.plane.ExchangeActionsToken(context.Background(), "x")
	if platform.ErrorCode(err) != platform.EUNAVAILABLE || errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want unavailable", err)
	}
}
