package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/micro/platform"
)

const testHMACKey = "webhook-hmac-key-0123456789"

// verifySignature is what a receiver does: HMAC the raw body and compare in constant
// time, as with GitHub's X-Hub-Signature-256.
func verifySignature(key string, body []byte, header string) bool {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(want), []byte(header))
}

func TestWebhookDelivers(t *testing.T) {
	t.Parallel()
	got := make(chan WebhookPayload, 1)
	srv := provider(t, func(t *testing.T, r *http.Request, body []byte) (int, http.Header, string) {
		wantPost(t, r, "/hooks/alerts", "application/json")
		if r.URL.RawQuery != "team=ops" {
			t.Errorf("query %q", r.URL.RawQuery)
		}
		if !verifySignature(testHMACKey, body, r.Header.Get("X-Platform-Signature")) {
			return 401, nil, "bad signature"
		}
		if r.Header.Get("X-Platform-Delivery") != "ntf-firing-0001" || r.Header.Get("X-Platform-Event") != "firing" {
			t.Errorf("X-Platform-Delivery %q, X-Platform-Event %q", r.Header.Get("X-Platform-Delivery"), r.Header.Get("X-Platform-Event"))
		}
		var fields map[string]any
		if err := json.Unmarshal(body, &fields); err != nil {
			t.Fatal(err)
		}
		names := make([]string, 0, len(fields))
		for k := range fields {
			names = append(names, k)
		}
		slices.Sort(names)
		// The documented field names; renaming one breaks every receiver.
		want := "id key kind namespace org reason region rule service severity since summary title url"
		if strings.Join(names, " ") != want {
			t.Errorf("fields %v, want %s", names, want)
		}
		var p WebhookPayload
		json.Unmarshal(body, &p)
		got <- p
		return 204, nil, ""
	})
	ch := Channel{Kind: platform.ChannelWebhook, Secret: testHMACKey, Config: map[string]string{"url": srv.URL + "/hooks/alerts?team=ops"}}
	if err := send(t, testOptions(), ch, testMessage(Firing)); err != nil {
		t.Fatal(err)
	}
	p := <-got
	if p.ID != "ntf-firing-0001" || p.Kind != "firing" || p.Key != "acme/crash loop/helloworld" ||
		p.Title != "helloworld crash loop in acme" || p.Since != "2025-03-04T05:06:07Z" ||
		p.URL != "https://platform.example/acme/services/helloworld" || p.Severity != "critical" {
		t.Errorf("payload %+v", p)
	}
}

func TestWebhookFailures(t *testing.T) {
	t.Parallel()
	now := testOptions().Clock.Now()
	tests := []struct {
		status     int
		header     http.Header
		body       string
		permanent  bool
		retryAfter time.Duration
	}{
		{status: 400, body: "bad payload", permanent: true},
		{status: 401, body: "bad signature", permanent: true},
		{status: 404, permanent: true},
		{status: 408},
		{status: 429, header: http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, retryAfter: 90 * time.Second},
		{status: 500, body: strings.Repeat("long error page ", 100)},
		{status: 503},
		{status: 301, header: http.Header{"Location": {"https://elsewhere.example/"}}},
		{status: 400, body: "your key " + testHMACKey + " is wrong", permanent: true},
	}
	for _, tt := range tests {
		t.Run(statusText(tt.status), func(t *testing.T) {
			t.Parallel()
			srv := provider(t, func(*testing.T, *http.Request, []byte) (int, http.Header, string) {
				return tt.status, tt.header, tt.body
			})
			ch := Channel{Kind: platform.ChannelWebhook, Secret: testHMACKey, Config: map[string]string{"url": srv.URL}}
			err := send(t, testOptions(), ch, testMessage(Firing))
			wantClass(t, err, tt.permanent)
			if !strings.Contains(err.Error(), statusText(tt.status)) {
				t.Errorf("error %q does not say the status", err)
			}
			if len(err.Error()) > 300 {
				t.Errorf("error quotes too much of the body (%d bytes): %q", len(err.Error()), err)
			}
			if d, ok := RetryAfter(err); ok != (tt.retryAfter != 0) || d != tt.retryAfter {
				t.Errorf("RetryAfter = %v, %v; want %v", d, ok, tt.retryAfter)
			}
			mustNotLeak(t, err, testHMACKey)
		})
	}
}

func TestWebhookRefusesOtherSchemes(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"ftp://example.com/x", "file:///etc/passwd", "gopher://example.com", "example.com/hook"} {
		ch := Channel{Kind: platform.ChannelWebhook, Secret: testHMACKey, Config: map[string]string{"url": u}}
		err := send(t, testOptions(), ch, testMessage(Firing))
		wantClass(t, err, true)
	}
}

func TestSign(t *testing.T) {
	t.Parallel()
	// RFC 4231 test case 2.
	got := Sign("Jefe", []byte("what do ya want for nothing?"))
	if got != "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" {
		t.Errorf("Sign = %s", got)
	}
}
