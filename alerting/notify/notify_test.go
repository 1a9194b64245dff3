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
)

// testSince is a fixed alert start; tests compare formatted times against it.
var testSince = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// testMessage is a firing alert as the dispatcher would send it.
func testMessage(kind Kind) Message {
	return Message{
		Kind:      kind,
		Key:       "acme/crash loop/helloworld",
		ID:        "ntf-" + string(kind) + "-0001",
		Org:       "acme",
		Severity:  "critical",
		Rule:      "crash loop",
		Namespace: "acme",
		Service:   "helloworld",
		Region:    "local",
		Summary:   "helloworld is crash-looping in local",
		Reason:    "restarted 5 times in 10m; last exit code 2: panic: nil map",
		Since:     testSince,
		URL:       "https://platform.example/acme/services/helloworld",
	}
}

// testOptions are quick to time out, with a fixed clock, and allow private addresses:
// the test receivers listen on 127.0.0.1.
func testOptions() Options {
	return Options{
		Timeout:      5 * time.Second,
		DialTimeout:  2 * time.Second,
		Clock:        fixedClock(testSince.Add(time.Hour)),
		AllowPrivate: true,
	}
}

// fixedClock is a platform.Clock that stands still.
type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

// testCtx is a context that ends with the test, bounded so a hung test fails fast.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// mustNotLeak fails when err's message contains any of secrets.
func mustNotLeak(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error leaks a secret %q: %v", s, err)
		}
	}
}

// wantClass checks err is non-nil and classified as wanted.
func wantClass(t *testing.T, err error, permanent bool) {
	t.Helper()
	if err == nil {
		t.Fatalf("Send: no error, want a permanent=%v one", permanent)
	}
	if Permanent(err) != permanent {
		t.Errorf("Permanent(%v) = %v, want %v", err, Permanent(err), permanent)
	}
}

func TestPermanentAndRetryAfter(t *testing.T) {
	t.Parallel()
	base := errors.New("boom")
	if Permanently(nil) != nil {
		t.Error("Permanently(nil) != nil")
	}
	if Permanent(base) || !Permanent(Permanently(base)) {
		t.Error("Permanent misclassifies")
	}
	if !errors.Is(Permanently(base), base) {
		t.Error("Permanently does not unwrap")
	}
	if _, ok := RetryAfter(base); ok {
		t.Error("RetryAfter of a plain error")
	}
	err := withRetryAfter(base, 30*time.Second)
	if d, ok := RetryAfter(err); !ok || d != 30*time.Second {
		t.Errorf("RetryAfter = %v, %v", d, ok)
	}
	if !strings.Contains(err.Error(), "retry after 30s") || !errors.Is(err, base) {
		t.Errorf("withRetryAfter error = %v", err)
	}
	if Permanent(err) {
		t.Error("a retry-after error is permanent")
	}
}

func TestSubjectStablePerKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind Kind
		want string
	}{
		{Firing, "[FIRING] helloworld crash loop in acme"},
		{Repeat, "[FIRING] helloworld crash loop in acme"},
		{Resolved, "[RESOLVED] helloworld crash loop in acme"},
		{Test, "[TEST] helloworld crash loop in acme"},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			t.Parallel()
			if got := subject(testMessage(tt.kind)); got != tt.want {
				t.Errorf("subject = %q, want %q", got, tt.want)
			}
		})
	}
	m := Message{Kind: Firing, Rule: "disk\r\nBcc: evil@example.com", Namespace: "acme"}
	if got := subject(m); strings.ContainsAny(got, "\r\n") {
		t.Errorf("subject keeps a line break: %q", got)
	}
	if got := subject(Message{Kind: Firing}); got != "[FIRING] alert" {
		t.Errorf("empty message subject = %q", got)
	}
}

// provider is a local HTTP server standing in for a provider's API: check inspects each
// request the way the provider documents it and answers.
func provider(t *testing.T, check func(t *testing.T, r *http.Request, body []byte) (status int, header http.Header, answer string)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading request body: %v", err)
		}
		status, header, answer := check(t, r, body)
		for k, vs := range header {
			w.Header()[k] = vs
		}
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// wantPost checks a request's method, path and content type.
func wantPost(t *testing.T, r *http.Request, path, contentType string) {
	t.Helper()
	if r.Method != http.MethodPost || r.URL.Path != path {
		t.Errorf("request %s %s, want POST %s", r.Method, r.URL.Path, path)
	}
	if ct := r.Header.Get("Content-Type"); ct != contentType {
		t.Errorf("Content-Type %q, want %q", ct, contentType)
	}
}

// send delivers m to ch with the sender of ch's kind that opts build.
func send(t *testing.T, opts Options, ch Channel, m Message) error {
	t.Helper()
	return Senders(opts)[ch.Kind].Send(testCtx(t), ch, m)
}
