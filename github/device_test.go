package github

import (
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/github/githubtest"
)

func TestDeviceFlow(t *testing.T) {
	t.Parallel()
	const second = 20 * time.Millisecond
	tests := []struct {
		name      string
		script    githubtest.DeviceScript
		wantLogin string
		wantCode  string
		wantMsg   string
		minWait   time.Duration
	}{
		{name: "approved after pending", script: githubtest.DeviceScript{Responses: []string{"authorization_pending", "authorization_pending"}, Login: "alice"}, wantLogin: "alice", minWait: 3 * second},
		{name: "slow_down raises the interval", script: githubtest.DeviceScript{Responses: []string{"slow_down"}, Login: "bob"}, wantLogin: "bob", minWait: (1 + 6) * second},
		{name: "expired", script: githubtest.DeviceScript{Responses: []string{"authorization_pending", "expired_token"}}, wantCode: platform.ETIMEOUT, wantMsg: "device code expired"},
		{name: "expiry without an answer", script: githubtest.DeviceScript{ExpiresIn: 3, Responses: []string{"authorization_pending", "authorization_pending", "authorization_pending", "authorization_pending", "authorization_pending"}}, wantCode: platform.ETIMEOUT, wantMsg: "device code expired"},
		{name: "denied", script: githubtest.DeviceScript{Responses: []string{"access_denied"}}, wantCode: platform.EFORBIDDEN, wantMsg: "denied on GitHub"},
		{name: "mallory is not a member", script: githubtest.DeviceScript{Login: "mallory"}, wantCode: platform.EFORBIDDEN, wantMsg: "you are not a member of a GitHub team linked to this platform"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.gh.SetSecond(second)
			e.gh.SetDevice(tt.script)
			ctx := t.Context()
			pc := &PlatformClient{Server: e.srv.URL}
			cfg, err := pc.DeviceConfig(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.ClientID != githubtest.ClientID || cfg.Scope != "read:org" || !strings.HasPrefix(cfg.DeviceCodeURL, e.gh.URL) {
				t.Fatalf("device config %+v", cfg)
			}
			flow := &DeviceFlow{Config: cfg, second: second}
			dc, err := flow.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if dc.UserCode == "" || dc.VerificationURI != e.gh.URL+"/login/device" {
				t.Fatalf("device code %+v", dc)
			}
			start := time.Now()
			var resp *LoginResponse
			tok, err := flow.Wait(ctx, dc)
			if err == nil {
				resp, err = pc.ExchangeGitHubToken(ctx, tok, "")
			}
			if tt.wantCode != "" {
				if platform.ErrorCode(err) != tt.wantCode || !strings.Contains(platform.ErrorMessage(err), tt.wantMsg) {
					t.Fatalf("got %v, want %s %q", err, tt.wantCode, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if time.Since(start) < tt.minWait {
				t.Errorf("polled for %s, faster than the intervals allow (%s)", time.Since(start), tt.minWait)
			}
			if login, org, _, ok := e.dir.whoami(resp.Token); !ok || login != tt.wantLogin || org != "acme" || resp.Login != tt.wantLogin {
				t.Errorf("platform token is for %q in %q (ok %v); response %+v", login, org, ok, resp)
			}
		})
	}
}

func TestTokenExchangeRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	pc := &PlatformClient{Server: e.srv.URL}
	revoked := e.gh.IssueAppToken("alice")
	e.gh.Revoke(revoked)
	tests := []struct {
		name, token, org  string
		wantCode, wantMsg string
	}{
		{name: "revoked GitHub token", token: revoked, wantCode: platform.EUNAUTHENTICATED, wantMsg: "not issued to this platform's GitHub app"},
		{name: "personal access token", token: e.gh.IssueToken("alice"), wantCode: platform.EUNAUTHENTICATED, wantMsg: "not issued to this platform's GitHub app"},
		{name: "made-up token", token: "gho_madeup", wantCode: platform.EUNAUTHENTICATED, wantMsg: "not issued to this platform's GitHub app"},
		{name: "org the person is not in", token: e.gh.IssueAppToken("alice"), org: platform.DefaultOrg, wantCode: platform.EFORBIDDEN, wantMsg: `not a member of organisation "default"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issued := len(e.dir.secrets())
			_, err := pc.ExchangeGitHubToken(ctx, tt.token, tt.org)
			if platform.ErrorCode(err) != tt.wantCode || !strings.Contains(platform.ErrorMessage(err), tt.wantMsg) {
				t.Fatalf("got %v, want %s %q", err, tt.wantCode, tt.wantMsg)
			}
			if len(e.dir.secrets()) != issued {
				t.Errorf("a token was issued")
			}
		})
	}
	if len(e.dir.audited(platform.AuditSignInRefused, "not issued to this platform's OAuth app")) != 3 {
		t.Errorf("refused GitHub tokens (revoked, personal, made up) not audited")
	}
}
