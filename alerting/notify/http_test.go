package notify

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/micro/platform"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{" 5 ", 5 * time.Second, true},
		{"-1", 0, false},
		{"99999999", 24 * time.Hour, true}, // capped at a day
		{now.Add(45 * time.Second).Format(http.TimeFormat), 45 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true}, // in the past: now
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestOneLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"  a\n\tb\r\n c  ", 100, "a b c"},
		{"abcdef", 4, "a…"},
		{"héllo wörld", 9, "héllo…"},
		{"\x00x\x1by", 10, "x y"},
	}
	for _, tt := range tests {
		if got := oneLine(tt.in, tt.n); got != tt.want {
			t.Errorf("oneLine(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	inner := Permanently(errors.New("token abcd-secret refused"))
	err := redact(withRetryAfter(inner, time.Second), "abcd-secret", "", "ab")
	if err.Error() != "token [redacted] refused (retry after 1s)" {
		t.Errorf("redact = %q", err)
	}
	if !Permanent(err) {
		t.Error("redact lost the permanent mark")
	}
	if _, ok := RetryAfter(err); !ok {
		t.Error("redact lost the retry-after")
	}
	if e := errors.New("nothing"); redact(e, "secret") != e {
		t.Error("redact wrapped an error with nothing to hide")
	}
	if redact(nil, "x") != nil {
		t.Error("redact(nil) != nil")
	}
}

func TestJoinRecipients(t *testing.T) {
	t.Parallel()
	perm := Permanently(errors.New("refused"))
	retry := errors.New("timeout")
	later := withRetryAfter(errors.New("slow down"), 9*time.Second)
	if joinRecipients([]error{nil, nil}) != nil {
		t.Error("no failure gave an error")
	}
	if err := joinRecipients([]error{perm, perm}); !Permanent(err) || err.Error() != "refused; refused" {
		t.Errorf("all permanent: %v (permanent %v)", err, Permanent(err))
	}
	if err := joinRecipients([]error{perm, retry}); Permanent(err) {
		t.Errorf("mixed is permanent: %v", err)
	}
	if d, ok := RetryAfter(joinRecipients([]error{retry, later, perm})); !ok || d != 9*time.Second {
		t.Errorf("RetryAfter = %v, %v", d, ok)
	}
}

// httpChannels is a valid channel of each HTTP kind pointing at base.
func httpChannels(base string) []Channel {
	return []Channel{
		smsChannel(base, "+14155550111"),
		{Kind: platform.ChannelSlack, Secret: base + testHookPath},
		{Kind: platform.ChannelSlack, Secret: testBotToken, Config: map[string]string{"channel": "C1", "base_url": base}},
		{Kind: platform.ChannelPagerDuty, Secret: testRoutingKey, Config: map[string]string{"base_url": base}},
		{Kind: platform.ChannelWebhook, Secret: testHMACKey, Config: map[string]string{"url": base + "/hook"}},
	}
}

func TestHTTPSendersRespectDeadline(t *testing.T) {
	t.Parallel()
	// A provider that never answers. It reads the body first: only then does the server
	// notice the client hanging up.
	done := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(hung.Close)
	t.Cleanup(func() { close(done) }) // runs first
	for _, ch := range httpChannels(hung.URL) {
		t.Run(ch.Kind, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := Senders(testOptions())[ch.Kind].Send(ctx, ch, testMessage(Firing))
			wantClass(t, err, false)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v does not wrap the deadline", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Send took %v past a 200ms deadline", d)
			}
			mustNotLeak(t, err, ch.Secret, testHookPath)
		})
	}
}

func TestHTTPSendersReadALimitedBody(t *testing.T) {
	t.Parallel()
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 10 << 4 { // 10 MiB, more than anyone reads
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(huge.Close)
	for _, ch := range httpChannels(huge.URL) {
		t.Run(ch.Kind, func(t *testing.T) {
			t.Parallel()
			err := send(t, testOptions(), ch, testMessage(Firing))
			wantClass(t, err, false)
			if !strings.Contains(err.Error(), "500 Internal Server Error: xxx") || len(err.Error()) > 400 {
				t.Errorf("error %.400q…", err)
			}
		})
	}
}

func TestHTTPSendersUnreachable(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	for _, ch := range httpChannels(down.URL) {
		t.Run(ch.Kind, func(t *testing.T) {
			t.Parallel()
			err := send(t, testOptions(), ch, testMessage(Firing))
			wantClass(t, err, false)
			if !strings.Contains(err.Error(), "connection refused") {
				t.Errorf("error %q does not say why", err)
			}
			mustNotLeak(t, err, ch.Secret, testHookPath)
		})
	}
}
