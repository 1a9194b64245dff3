package notify

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/micro/platform"
)

const (
	testHookPath = "/services/T0001/B0001/hooksecretXXXXXXXX"
	testBotToken = "xoxb-1111-2222-botsecretYYYYYYYY"
)

// slackJSON is what Slack reads of a message: the fallback text, the blocks, the channel.
type slackJSON struct {
	Channel string `json:"channel"`
	Text    string `json:"text"`
	Blocks  []struct {
		Type string `json:"type"`
		Text *struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"text"`
		Fields []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"fields"`
		Elements []struct {
			Type string `json:"type"`
			URL  string `json:"url"`
		} `json:"elements"`
	} `json:"blocks"`
}

// checkSlackMessage checks a posted message says the alert, in text and in blocks.
func checkSlackMessage(t *testing.T, body []byte) slackJSON {
	t.Helper()
	var p slackJSON
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if !strings.HasPrefix(p.Text, "[FIRING] helloworld crash loop in acme") {
		t.Errorf("text %q", p.Text)
	}
	if len(p.Blocks) == 0 || p.Blocks[0].Type != "header" || p.Blocks[0].Text.Text != "[FIRING] helloworld crash loop in acme" {
		t.Fatalf("blocks %+v, want a header first", p.Blocks)
	}
	var all []string
	for _, b := range p.Blocks {
		if b.Text != nil {
			all = append(all, b.Text.Text)
		}
		for _, f := range b.Fields {
			all = append(all, f.Text)
		}
		for _, e := range b.Elements {
			all = append(all, e.URL)
		}
	}
	joined := strings.Join(all, "\n")
	for _, want := range []string{"critical", "service helloworld", "firing since 2025-03-04 05:06:07 UTC", "panic: nil map", "https://platform.example/acme/services/helloworld"} {
		if !strings.Contains(joined, want) {
			t.Errorf("blocks lack %q:\n%s", want, joined)
		}
	}
	return p
}

func TestSlackWebhook(t *testing.T) {
	t.Parallel()
	srv := provider(t, func(t *testing.T, r *http.Request, body []byte) (int, http.Header, string) {
		wantPost(t, r, testHookPath, "application/json")
		checkSlackMessage(t, body)
		return 200, nil, "ok"
	})
	ch := Channel{Kind: platform.ChannelSlack, Secret: srv.URL + testHookPath}
	if err := send(t, testOptions(), ch, testMessage(Firing)); err != nil {
		t.Fatal(err)
	}
}

func TestSlackWebhookFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status     int
		header     http.Header
		body       string
		permanent  bool
		retryAfter time.Duration
	}{
		{status: 400, body: "invalid_payload", permanent: true},
		{status: 403, body: "action_prohibited", permanent: true},
		{status: 404, body: "no_service", permanent: true},
		{status: 410, body: "channel_is_archived", permanent: true},
		{status: 429, body: "rate_limited", header: http.Header{"Retry-After": {"30"}}, retryAfter: 30 * time.Second},
		{status: 429, body: "rate_limited"},
		{status: 500, body: "rollup_error"},
		{status: 302, header: http.Header{"Location": {"/elsewhere"}}}, // not followed: a POST would turn into a GET
	}
	for _, tt := range tests {
		t.Run(tt.body+statusText(tt.status), func(t *testing.T) {
			t.Parallel()
			srv := provider(t, func(*testing.T, *http.Request, []byte) (int, http.Header, string) {
				return tt.status, tt.header, tt.body
			})
			ch := Channel{Kind: platform.ChannelSlack, Secret: srv.URL + testHookPath}
			err := send(t, testOptions(), ch, testMessage(Firing))
			wantClass(t, err, tt.permanent)
			if !strings.Contains(err.Error(), statusText(tt.status)) || !strings.Contains(err.Error(), tt.body) {
				t.Errorf("error %q does not say what Slack answered", err)
			}
			if d, ok := RetryAfter(err); ok != (tt.retryAfter != 0) || d != tt.retryAfter {
				t.Errorf("RetryAfter = %v, %v; want %v", d, ok, tt.retryAfter)
			}
			mustNotLeak(t, err, ch.Secret, testHookPath, "hooksecret")
		})
	}
}

func TestSlackWebhookUnreachableKeepsURLSecret(t *testing.T) {
	t.Parallel()
	srv := provider(t, func(*testing.T, *http.Request, []byte) (int, http.Header, string) { return 200, nil, "ok" })
	srv.Close()
	ch := Channel{Kind: platform.ChannelSlack, Secret: srv.URL + testHookPath}
	err := send(t, testOptions(), ch, testMessage(Firing))
	wantClass(t, err, false)
	mustNotLeak(t, err, ch.Secret, testHookPath, "hooksecret")

	ch.Secret = "http://hooks.slack.example" + testHookPath // http to a remote host
	err = send(t, testOptions(), ch, testMessage(Firing))
	wantClass(t, err, true)
	mustNotLeak(t, err, ch.Secret, testHookPath, "hooksecret")
}

func TestSlackPostMessage(t *testing.T) {
	t.Parallel()
	srv := provider(t, func(t *testing.T, r *http.Request, body []byte) (int, http.Header, string) {
		wantPost(t, r, "/api/chat.postMessage", "application/json; charset=utf-8")
		if got := r.Header.Get("Authorization"); got != "Bearer "+testBotToken {
			return 200, nil, `{"ok": false, "error": "not_authed"}`
		}
		if p := checkSlackMessage(t, body); p.Channel != "C0123ABC" {
			t.Errorf("channel %q", p.Channel)
		}
		return 200, nil, `{"ok": true, "channel": "C0123ABC", "ts": "1503435956.000247"}`
	})
	ch := Channel{Kind: platform.ChannelSlack, Secret: testBotToken, Config: map[string]string{
		"channel": "C0123ABC", "base_url": srv.URL + "/api",
	}}
	if err := send(t, testOptions(), ch, testMessage(Firing)); err != nil {
		t.Fatal(err)
	}
}

func TestSlackPostMessageFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		permanent  bool
		retryAfter time.Duration
		want       string
	}{
		{name: "channel_not_found", status: 200, body: `{"ok": false, "error": "channel_not_found"}`, permanent: true, want: "channel_not_found"},
		{name: "invalid_auth", status: 200, body: `{"ok": false, "error": "invalid_auth"}`, permanent: true, want: "invalid_auth"},
		{name: "ratelimited 429", status: 429, header: http.Header{"Retry-After": {"3"}}, body: `{"ok": false, "error": "ratelimited"}`, retryAfter: 3 * time.Second, want: "ratelimited"},
		{name: "ratelimited 200", status: 200, body: `{"ok": false, "error": "ratelimited"}`, want: "ratelimited"},
		{name: "internal_error", status: 200, body: `{"ok": false, "error": "internal_error"}`, want: "internal_error"},
		{name: "5xx", status: 503, body: "upstream connect error", want: "503 Service Unavailable: upstream connect error"},
		{name: "not JSON", status: 200, body: "<html>", want: "not JSON"},
		{name: "token in answer", status: 200, body: `{"ok": false, "error": "bad token ` + testBotToken + `"}`, permanent: true, want: "[redacted]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := provider(t, func(*testing.T, *http.Request, []byte) (int, http.Header, string) {
				return tt.status, tt.header, tt.body
			})
			ch := Channel{Kind: platform.ChannelSlack, Secret: testBotToken, Config: map[string]string{
				"channel": "#alerts", "base_url": srv.URL,
			}}
			err := send(t, testOptions(), ch, testMessage(Firing))
			wantClass(t, err, tt.permanent)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if d, ok := RetryAfter(err); ok != (tt.retryAfter != 0) || d != tt.retryAfter {
				t.Errorf("RetryAfter = %v, %v; want %v", d, ok, tt.retryAfter)
			}
			mustNotLeak(t, err, testBotToken)
		})
	}
}

func TestSlackEscapesMrkdwn(t *testing.T) {
	t.Parallel()
	m := testMessage(Firing)
	m.Region = "<!channel> & co"
	for _, b := range slackMessage(m, "").Blocks {
		for _, f := range b.Fields {
			if f.Type == "mrkdwn" && strings.Contains(f.Text, "<!channel>") {
				t.Errorf("a mention got through unescaped: %q", f.Text)
			}
			if strings.Contains(f.Text, "region") && !strings.Contains(f.Text, "&lt;!channel&gt; &amp; co") {
				t.Errorf("region not escaped as Slack wants: %q", f.Text)
			}
		}
	}
}
