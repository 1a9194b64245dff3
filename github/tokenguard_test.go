package github

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/github/githubtest"
)

// TestTokenExchangeIsRateLimited: a flood of POST /auth/github/token from one address
// gets exchangeBurst answers, then 429 with Retry-After and quota_exceeded, and GitHub's
// check-token endpoint is asked once per distinct token, not once per request.
func TestTokenExchangeIsRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	checkPath := "/api/v3/applications/" + githubtest.ClientID + "/token"
	pc := &PlatformClient{Server: e.srv.URL}
	for n := range exchangeBurst {
		_, err := pc.ExchangeGitHubToken(t.Context(), "gho_madeup", "")
		if platform.ErrorCode(err) != platform.EUNAUTHENTICATED {
			t.Fatalf("exchange %d: %v, want unauthenticated", n+1, err)
		}
	}
	if calls := e.gh.Calls(checkPath); calls != 1 {
		t.Errorf("GitHub's check-token endpoint called %d times for one token, want 1", calls)
	}
	if rows := len(e.dir.audited(platform.AuditSignInRefused, "not issued to this platform's OAuth app")); rows != exchangeBurst {
		t.Errorf("%d refusals audited, want %d", rows, exchangeBurst)
	}

	resp, err := http.Post(e.srv.URL+TokenPath, "application/json", strings.NewReader(`{"github_token":"gho_other"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The bucket refills while the burst runs, so Retry-After is up to exchangeEvery.
	retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusTooManyRequests || retry < 1 || retry > int(exchangeEvery/time.Second) {
		t.Errorf("exchange past the burst: %d, Retry-After %q; want 429, 1 to %d", resp.StatusCode, resp.Header.Get("Retry-After"), int(exchangeEvery/time.Second))
	}
	_, err = pc.ExchangeGitHubToken(t.Context(), e.gh.IssueAppToken("alice"), "")
	if platform.ErrorCode(err) != platform.EQUOTA || !strings.Contains(platform.ErrorMessage(err), "too many GitHub token exchanges") {
		t.Errorf("a valid token past the burst: %v, want quota_exceeded", err)
	}
	if calls := e.gh.Calls(checkPath); calls != 1 {
		t.Errorf("refused requests reached GitHub: %d check-token calls, want 1", calls)
	}
}

func TestSourceLimiter(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name string
		run  func(t *testing.T, l *sourceLimiter)
	}{
		{"burst then one per interval", func(t *testing.T, l *sourceLimiter) {
			for n := range exchangeBurst {
				if d := l.wait("192.0.2.1", now); d != 0 {
					t.Fatalf("request %d waits %s", n+1, d)
				}
			}
			if d := l.wait("192.0.2.1", now); d != exchangeEvery {
				t.Fatalf("past the burst: wait %s, want %s", d, exchangeEvery)
			}
			if d := l.wait("192.0.2.1", now.Add(exchangeEvery)); d != 0 {
				t.Errorf("after %s: wait %s, want 0", exchangeEvery, d)
			}
		}},
		{"addresses are independent", func(t *testing.T, l *sourceLimiter) {
			for range exchangeBurst + 3 {
				l.wait("192.0.2.1", now)
			}
			if d := l.wait("192.0.2.2", now); d != 0 {
				t.Errorf("another address waits %s", d)
			}
		}},
		{"addresses past the bound share a bucket until others idle", func(t *testing.T, l *sourceLimiter) {
			for n := range maxSources {
				l.wait(fmt.Sprintf("10.0.%d.%d", n/256, n%256), now)
			}
			for range exchangeBurst {
				l.wait("192.0.2.9", now)
			}
			if d := l.wait("192.0.2.10", now); d == 0 {
				t.Errorf("an address past the bound was not limited with the overflow")
			}
			if len(l.buckets) > maxSources {
				t.Errorf("%d buckets kept, bound %d", len(l.buckets), maxSources)
			}
			later := now.Add(exchangeBurst * exchangeEvery)
			if d := l.wait("192.0.2.10", later); d != 0 {
				t.Errorf("after the others idled: wait %s", d)
			}
			if len(l.buckets) != 1 {
				t.Errorf("%d buckets after the idle ones were forgotten, want 1", len(l.buckets))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newSourceLimiter()) })
	}
}

func TestTokenChecksAreBounded(t *testing.T) {
	t.Parallel()
	var c tokenChecks
	now := time.Unix(1_700_000_000, 0)
	key := func(n int) (k [32]byte) { k[0], k[1] = byte(n), byte(n>>8); return k }
	c.put(key(0), errNotAppToken, now)
	if err, ok := c.get(key(0), now.Add(checkTTL-time.Second)); !ok || err != errNotAppToken {
		t.Errorf("within the TTL: %v %v", err, ok)
	}
	if _, ok := c.get(key(0), now.Add(checkTTL)); ok {
		t.Errorf("a check result outlived its TTL")
	}
	for n := range maxChecks + 10 {
		c.put(key(n), nil, now)
	}
	if len(c.m) > maxChecks {
		t.Errorf("%d results kept, bound %d", len(c.m), maxChecks)
	}
	if _, ok := c.get(key(maxChecks+9), now); !ok {
		t.Errorf("the latest result was dropped")
	}
}
