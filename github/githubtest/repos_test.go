package githubtest

import (
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	gh "github.com/google/go-github/v93/github"
)

// TestFakeOIDCIssuer checks the issuer as a verifier sees it: discovery, the JWKS,
// tokens signed with its key, rotation and outages.
func TestFakeOIDCIssuer(t *testing.T) {
	t.Parallel()
	f := New(t)
	getJSON := func(t *testing.T, url string, v any) int {
		t.Helper()
		resp, err := f.Client().Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if s := getJSON(t, f.OIDCIssuer()+"/.well-known/openid-configuration", &doc); s != http.StatusOK || doc.Issuer != f.OIDCIssuer() {
		t.Fatalf("discovery: %d %+v", s, doc)
	}
	keys := func(t *testing.T) jose.JSONWebKeySet {
		t.Helper()
		var set jose.JSONWebKeySet
		if s := getJSON(t, doc.JWKSURI, &set); s != http.StatusOK || len(set.Keys) != 1 {
			t.Fatalf("JWKS: %d, %d keys", s, len(set.Keys))
		}
		return set
	}
	verify := func(t *testing.T, tok string, set jose.JSONWebKeySet) (map[string]any, error) {
		t.Helper()
		jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			t.Fatal(err)
		}
		if kid := jws.Signatures[0].Header.KeyID; kid != set.Keys[0].KeyID {
			return nil, errors.New("kid " + kid + " is not the JWKS's")
		}
		payload, err := jws.Verify(set.Keys[0].Key.(*rsa.PublicKey))
		if err != nil {
			return nil, err
		}
		var c map[string]any
		return c, json.Unmarshal(payload, &c)
	}

	set := keys(t)
	c, err := verify(t, f.ActionsToken(nil), set)
	if err != nil {
		t.Fatal(err)
	}
	if c["iss"] != f.OIDCIssuer() || c["aud"] != "micro-platform" || c["sub"] != "repo:acme/app:ref:refs/heads/main" ||
		c["repository_owner"] != "acme" || c["exp"].(float64)-c["iat"].(float64) != 300 {
		t.Errorf("default claims %v", c)
	}
	exp := time.Now().Add(time.Minute)
	c, err = verify(t, f.ActionsToken(map[string]any{"repository": "org/svc", "ref": "refs/pull/7/merge", "exp": exp, "sha": nil}), set)
	if err != nil {
		t.Fatal(err)
	}
	if c["sub"] != "repo:org/svc:ref:refs/pull/7/merge" || c["exp"].(float64) != float64(exp.Unix()) || c["sha"] != nil {
		t.Errorf("overridden claims %v", c)
	}

	old := f.ActionsToken(nil)
	f.RotateOIDCKey()
	rotated := keys(t)
	if rotated.Keys[0].KeyID == set.Keys[0].KeyID {
		t.Error("the kid did not change")
	}
	if _, err := verify(t, f.ActionsToken(nil), rotated); err != nil {
		t.Errorf("a new token with the new JWKS: %v", err)
	}
	if _, err := verify(t, old, rotated); err == nil {
		t.Error("an old token verifies with the new JWKS")
	}

	f.SetOIDCDown(true)
	if s := getJSON(t, doc.JWKSURI, new(any)); s != http.StatusServiceUnavailable {
		t.Errorf("JWKS while down: %d", s)
	}
	f.SetOIDCDown(false)
	keys(t)
}

// TestFakeRepos checks the repositories API through go-github.
func TestFakeRepos(t *testing.T) {
	t.Parallel()
	f := New(t)
	f.AddUser("bot")
	f.AddUser("mallory")
	c := client(t, f, f.IssueToken("bot"))
	ctx := t.Context()
	const sha = "0123456789abcdef0123456789abcdef01234567"

	t.Run("statuses", func(t *testing.T) {
		got, _, err := c.Repositories.CreateStatus(ctx, "acme", "app", sha, gh.RepoStatus{State: gh.Ptr("pending"), Context: gh.Ptr("micro-platform/deploy"), Description: gh.Ptr("building"), TargetURL: gh.Ptr("https://p.example/b/1")})
		if err != nil || got.GetState() != "pending" || got.GetCreator().GetLogin() != "bot" {
			t.Fatalf("%v %+v", err, got)
		}
		if _, _, err := c.Repositories.CreateStatus(ctx, "acme", "app", sha, gh.RepoStatus{State: gh.Ptr("done")}); status(err) != http.StatusUnprocessableEntity {
			t.Errorf("bad state: %v", err)
		}
		if _, _, err := c.Repositories.CreateStatus(ctx, "acme", "app", sha, gh.RepoStatus{State: gh.Ptr("success"), Description: gh.Ptr(strings.Repeat("é", 141))}); status(err) != http.StatusUnprocessableEntity {
			t.Errorf("long description: %v", err)
		}
		if _, _, err := c.Repositories.CreateStatus(ctx, "acme", "app", sha, gh.RepoStatus{State: gh.Ptr("success")}); err != nil {
			t.Fatal(err)
		}
		s := f.Statuses("Acme/App", sha)
		if len(s) != 2 || s[0].Context != "micro-platform/deploy" || s[0].TargetURL != "https://p.example/b/1" || s[1].State != "success" || s[1].Context != "default" {
			t.Errorf("statuses %+v", s)
		}
	})

	t.Run("comments", func(t *testing.T) {
		f.SetMaxPerPage(2)
		defer f.SetMaxPerPage(100)
		var ids []int64
		for _, body := range []string{"one", "two", "three"} {
			got, _, err := c.Issues.CreateComment(ctx, "acme", "app", 42, gh.IssueCommentRequest{Body: body})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, got.GetID())
		}
		if _, _, err := c.Issues.CreateComment(ctx, "acme", "app", 42, gh.IssueCommentRequest{}); status(err) != http.StatusUnprocessableEntity {
			t.Errorf("empty body: %v", err)
		}
		page, resp, err := c.Issues.ListComments(ctx, "acme", "app", 42, nil)
		if err != nil || len(page) != 2 || resp.NextPage != 2 || page[0].GetUser().GetLogin() != "bot" {
			t.Fatalf("first page: %v, %d, next %d", err, len(page), resp.NextPage)
		}
		edited, _, err := c.Issues.UpdateComment(ctx, "acme", "app", ids[2], gh.IssueCommentRequest{Body: "THREE"})
		if err != nil || edited.GetBody() != "THREE" {
			t.Fatalf("edit: %v %+v", err, edited)
		}
		if _, _, err := c.Issues.UpdateComment(ctx, "acme", "other", ids[2], gh.IssueCommentRequest{Body: "x"}); status(err) != http.StatusNotFound {
			t.Errorf("edit through another repository: %v", err)
		}
		got := f.Comments("acme/app", 42)
		if len(got) != 3 || got[2].Body != "THREE" || got[0].User != "bot" || len(f.Comments("acme/app", 43)) != 0 {
			t.Errorf("comments %+v", got)
		}
	})

	t.Run("hooks", func(t *testing.T) {
		hook := &gh.Hook{Events: []string{"push", "pull_request"}, Config: &gh.HookConfig{URL: gh.Ptr("https://p.example/webhooks/github"), ContentType: gh.Ptr("json"), Secret: gh.Ptr("s3cret")}}
		got, _, err := c.Repositories.CreateHook(ctx, "acme", "app", hook)
		if err != nil || got.GetConfig().GetSecret() != "********" || !got.GetActive() {
			t.Fatalf("%v %+v", err, got)
		}
		if _, _, err := c.Repositories.CreateHook(ctx, "acme", "app", hook); status(err) != http.StatusUnprocessableEntity {
			t.Errorf("a second hook on the URL: %v", err)
		}
		if _, _, err := c.Repositories.CreateHook(ctx, "acme", "app", &gh.Hook{Config: &gh.HookConfig{}}); status(err) != http.StatusUnprocessableEntity {
			t.Errorf("no URL: %v", err)
		}
		h := f.Hooks("acme/app")
		if len(h) != 1 || h[0].Secret != "s3cret" || h[0].ContentType != "json" || strings.Join(h[0].Events, ",") != "push,pull_request" {
			t.Fatalf("hooks %+v", h)
		}
		if _, _, err := c.Repositories.EditHook(ctx, "acme", "app", got.GetID(), &gh.Hook{Config: &gh.HookConfig{URL: gh.Ptr("https://p.example/webhooks/github"), ContentType: gh.Ptr("json"), Secret: gh.Ptr("n3w")}}); err != nil {
			t.Fatal(err)
		}
		if h := f.Hooks("acme/app"); h[0].Secret != "n3w" {
			t.Errorf("edited secret %q", h[0].Secret)
		}
		list, _, err := c.Repositories.ListHooks(ctx, "acme", "app", nil)
		if err != nil || len(list) != 1 || list[0].GetID() != got.GetID() {
			t.Fatalf("list: %v %v", err, list)
		}
		if _, err := c.Repositories.DeleteHook(ctx, "acme", "app", got.GetID()); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Repositories.DeleteHook(ctx, "acme", "app", got.GetID()); status(err) != http.StatusNotFound {
			t.Errorf("deleted twice: %v", err)
		}
		if len(f.Hooks("acme/app")) != 0 {
			t.Error("the hook is still there")
		}
	})

	t.Run("access", func(t *testing.T) {
		f.DenyRepo("acme/secret")
		f.ForbidRepo("acme/readonly")
		calls := map[string]func(repo string) error{
			"get": func(r string) error { _, _, err := c.Repositories.Get(ctx, "acme", r); return err },
			"status": func(r string) error {
				_, _, err := c.Repositories.CreateStatus(ctx, "acme", r, sha, gh.RepoStatus{State: gh.Ptr("success")})
				return err
			},
			"comment": func(r string) error { _, _, err := c.Issues.ListComments(ctx, "acme", r, 1, nil); return err },
			"hooks":   func(r string) error { _, _, err := c.Repositories.ListHooks(ctx, "acme", r, nil); return err },
		}
		for name, call := range calls {
			if s := status(call("secret")); s != http.StatusNotFound {
				t.Errorf("%s on a denied repository: %d", name, s)
			}
			if s := status(call("readonly")); s != http.StatusForbidden {
				t.Errorf("%s on a forbidden repository: %d", name, s)
			}
		}
		f.AllowRepo("acme/secret")
		if err := calls["get"]("secret"); err != nil {
			t.Errorf("allowed again: %v", err)
		}
		if _, _, err := client(t, f, "nope").Repositories.ListHooks(ctx, "acme", "app", nil); status(err) != http.StatusUnauthorized {
			t.Errorf("unknown token: %v", err)
		}
	})
}

func status(err error) int {
	var er *gh.ErrorResponse
	if errors.As(err, &er) {
		return er.Response.StatusCode
	}
	return 0
}
