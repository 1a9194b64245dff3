package http_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	platform "github.com/micro/platform"
	platformhttp "github.com/micro/platform/http"
)

// headerCSRF passes requests that carry X-Test-CSRF: ok.
type headerCSRF struct{}

func (headerCSRF) Check(r *http.Request) error {
	if r.Header.Get("X-Test-CSRF") != "ok" {
		return platform.Errorf(platform.EFORBIDDEN, "cross-site request refused")
	}
	return nil
}

// TestSessionCookie checks that a browser session cookie authenticates like a bearer
// token, and that changes made with it need the CSRF check.
func TestSessionCookie(t *testing.T) {
	t.Parallel()
	signIn := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("sign in here")) })
	withCSRF := func(o *platformhttp.Options) {
		o.SessionCookie, o.CSRF = "platform_session", headerCSRF{}
		o.SignIn, o.SignInRoutes = signIn, []string{"/login"}
	}
	noCSRF := func(o *platformhttp.Options) { o.SessionCookie = "platform_session" }
	tests := []struct {
		name       string
		opts       func(*platformhttp.Options)
		method     string
		path       string
		cookie     string
		header     []string
		wantStatus int
		wantMsg    string
	}{
		{"read with the cookie", withCSRF, "GET", "/v1/tokens", adminSecret, nil, 200, ""},
		{"change with cookie and CSRF token", withCSRF, "POST", "/v1/namespaces", adminSecret, []string{"X-Test-CSRF", "ok"}, 201, ""},
		{"change with cookie, no CSRF token", withCSRF, "POST", "/v1/namespaces", adminSecret, nil, 403, "cross-site request refused"},
		{"change with cookie on a server without CSRF", noCSRF, "POST", "/v1/namespaces", adminSecret, nil, 403, "changes need a bearer token"},
		{"unknown session", withCSRF, "GET", "/v1/tokens", "nope", nil, 401, "invalid token"},
		{"bearer wins over the cookie", withCSRF, "POST", "/v1/namespaces", "nope", []string{"Authorization", "Bearer " + adminSecret}, 201, ""},
		{"cookie ignored when not configured", nil, "GET", "/v1/tokens", adminSecret, nil, 401, "no valid token"},
		{"sign-in routes need no token", withCSRF, "GET", "/login", "", nil, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, &fakeControlPlane{}, tt.opts)
			req, err := http.NewRequest(tt.method, ts.URL+tt.path, strings.NewReader(`{"name":"acme"}`))
			if err != nil {
				t.Fatal(err)
			}
			if tt.cookie != "" {
				req.AddCookie(&http.Cookie{Name: "platform_session", Value: tt.cookie})
			}
			for i := 0; i+1 < len(tt.header); i += 2 {
				req.Header.Set(tt.header[i], tt.header[i+1])
			}
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus || !strings.Contains(string(body), tt.wantMsg) {
				t.Fatalf("%s %s: %d %s, want %d with %q", tt.method, tt.path, resp.StatusCode, body, tt.wantStatus, tt.wantMsg)
			}
			if strings.Contains(ts.logs.String(), adminSecret) {
				t.Fatal("the session secret reached the log")
			}
		})
	}
}
