package githubtest

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	gh "github.com/google/go-github/v93/github"
)

func client(t *testing.T, f *Fake, token string) *gh.Client {
	t.Helper()
	api := f.APIURL()
	c, err := gh.NewClient(gh.WithURLs(&api, &api), gh.WithAuthToken(token))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFakeAsGoGitHubSeesIt checks the fake through go-github, the client the platform
// uses: pagination, bad credentials and rate limits are what go-github expects of GitHub.
func TestFakeAsGoGitHubSeesIt(t *testing.T) {
	t.Parallel()
	f := New(t)
	for _, l := range []string{"a", "b", "c", "d", "e"} {
		f.AddUser(l)
	}
	f.SetTeam("org", "team", "a", "b", "c", "d", "e")
	tok := f.IssueToken("a")
	ctx := t.Context()

	t.Run("pagination", func(t *testing.T) {
		var got []string
		opts := &gh.TeamListTeamMembersOptions{ListOptions: gh.ListOptions{PerPage: 2}}
		for {
			page, resp, err := client(t, f, tok).Teams.ListTeamMembersBySlug(ctx, "org", "team", opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range page {
				got = append(got, u.GetLogin())
			}
			if opts.Page == 0 && resp.LastPage != 3 {
				t.Errorf("first page says the last is %d, want 3", resp.LastPage)
			}
			if resp.NextPage == 0 {
				break
			}
			opts.Page = resp.NextPage
		}
		if strings.Join(got, "") != "abcde" {
			t.Errorf("members %v", got)
		}
	})
	t.Run("unknown team", func(t *testing.T) {
		_, resp, err := client(t, f, tok).Teams.ListTeamMembersBySlug(ctx, "org", "nope", nil)
		if err == nil || resp.StatusCode != http.StatusNotFound {
			t.Errorf("got %v", err)
		}
	})
	t.Run("revoked token", func(t *testing.T) {
		revoked := f.IssueToken("b")
		f.Revoke(revoked)
		_, resp, err := client(t, f, revoked).Users.Get(ctx, "")
		var er *gh.ErrorResponse
		if !errors.As(err, &er) || resp.StatusCode != http.StatusUnauthorized || er.Message != "Bad credentials" {
			t.Errorf("got %v", err)
		}
	})
	t.Run("rate limit", func(t *testing.T) {
		g := New(t)
		g.AddUser("a")
		tok := g.IssueToken("a")
		g.SetRateLimit(1, time.Hour, http.StatusTooManyRequests)
		c := client(t, g, tok)
		_, resp, err := c.Users.Get(ctx, "")
		if err != nil || resp.Rate.Limit != 1 || resp.Rate.Remaining != 0 || resp.Rate.Reset.Before(time.Now().Add(59*time.Minute)) {
			t.Fatalf("first call: %v, rate %+v", err, resp.Rate)
		}
		_, _, err = client(t, g, tok).Users.Get(ctx, "")
		var rl *gh.RateLimitError
		if !errors.As(err, &rl) {
			t.Fatalf("second call: %v, want a rate-limit error", err)
		}
		if g.Calls("/api/v3/user") != 2 {
			t.Errorf("calls %d", g.Calls("/api/v3/user"))
		}
	})
	t.Run("check a token", func(t *testing.T) {
		g := New(t)
		g.AddUser("a")
		app, personal := g.IssueAppToken("a"), g.IssueToken("a")
		revoked := g.IssueAppToken("a")
		g.Revoke(revoked)
		basic := func(id, secret string) *gh.Client {
			origin, _ := url.Parse(g.URL)
			tr := &gh.BasicAuthTransport{Username: id, Password: secret, AllowedOrigins: []*url.URL{origin}}
			c, err := gh.NewClient(gh.WithURLs(ptr(g.APIURL()), ptr(g.APIURL())), gh.WithHTTPClient(tr.Client()))
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		a, _, err := basic(ClientID, ClientSecret).Authorizations.Check(ctx, ClientID, app)
		if err != nil || a.GetApp().GetClientID() != ClientID || a.GetUser().GetLogin() != "a" {
			t.Fatalf("app token: %+v, %v", a, err)
		}
		for name, tok := range map[string]string{"personal": personal, "revoked": revoked, "made up": "gho_nope"} {
			_, resp, err := basic(ClientID, ClientSecret).Authorizations.Check(ctx, ClientID, tok)
			if err == nil || resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s token: %v, want 404", name, err)
			}
		}
		_, resp, err := basic(ClientID, "wrong").Authorizations.Check(ctx, ClientID, app)
		if err == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("wrong client secret: %v, want 401", err)
		}
	})
}

func ptr(s string) *string { return &s }
