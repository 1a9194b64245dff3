package github

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	platform "github.com/micro/platform"
)

func TestCSRF(t *testing.T) {
	t.Parallel()
	c := CSRF{Origins: []string{"https://platform.example.com"}, Secure: true}
	const tok = "the-csrf-token"
	tests := []struct {
		name    string
		method  string
		session bool
		origin  string
		referer string
		header  string
		form    string
		cookie  bool
		wantOK  bool
	}{
		{name: "safe method", method: "GET", session: true, wantOK: true},
		{name: "bearer client without a session cookie", method: "POST", wantOK: true},
		{name: "same origin with header token", method: "POST", session: true, origin: "https://platform.example.com", header: tok, cookie: true, wantOK: true},
		{name: "same origin with form token", method: "POST", session: true, origin: "https://platform.example.com", form: tok, cookie: true, wantOK: true},
		{name: "referer instead of origin", method: "DELETE", session: true, referer: "https://platform.example.com/tokens", header: tok, cookie: true, wantOK: true},
		{name: "cross-site origin", method: "POST", session: true, origin: "https://evil.example", header: tok, cookie: true},
		{name: "no origin nor referer", method: "POST", session: true, header: tok, cookie: true},
		{name: "missing token", method: "POST", session: true, origin: "https://platform.example.com", cookie: true},
		{name: "wrong token", method: "PUT", session: true, origin: "https://platform.example.com", header: "guess", cookie: true},
		{name: "token without cookie", method: "POST", session: true, origin: "https://platform.example.com", header: tok},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var body *strings.Reader
			if tt.form != "" {
				body = strings.NewReader(url.Values{CSRFField: {tt.form}}.Encode())
			} else {
				body = strings.NewReader("")
			}
			r := httptest.NewRequest(tt.method, "https://platform.example.com/v1/tokens", body)
			if tt.form != "" {
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if tt.session {
				r.AddCookie(&http.Cookie{Name: SessionCookie, Value: "mp_session"})
			}
			if tt.cookie {
				r.AddCookie(&http.Cookie{Name: CSRFCookie, Value: tok})
			}
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if tt.referer != "" {
				r.Header.Set("Referer", tt.referer)
			}
			if tt.header != "" {
				r.Header.Set(CSRFHeader, tt.header)
			}
			ran := false
			w := httptest.NewRecorder()
			c.Protect(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran = true })).ServeHTTP(w, r)
			if ran != tt.wantOK {
				t.Fatalf("handler ran %v, want %v (status %d %s)", ran, tt.wantOK, w.Code, w.Body)
			}
			if !tt.wantOK && (w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), `"code":"forbidden"`)) {
				t.Errorf("refusal %d %s", w.Code, w.Body)
			}
		})
	}
}

// TestCSRFThroughServer posts to a protected route with the cookies a sign-in sets.
func TestCSRFThroughServer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.browser()
	if status, _ := e.signIn(c, "alice"); status != 200 {
		t.Fatal("sign-in failed")
	}
	u, _ := url.Parse(e.srv.URL)
	var csrf string
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == CSRFCookie {
			csrf = ck.Value
		}
	}
	for _, tt := range []struct {
		name   string
		token  string
		origin string
		want   int
	}{
		{"own page", csrf, e.srv.URL, 200},
		{"other site", csrf, "https://evil.example", 403},
		{"no token", "", e.srv.URL, 403},
	} {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/settings", nil)
		req.Header.Set("Origin", tt.origin)
		if tt.token != "" {
			req.Header.Set(CSRFHeader, tt.token)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
	}
	_ = platform.EFORBIDDEN
}

// Without configured origins (the embedded default, reached at whatever address) the
// origin must be the host the request was sent to; the token is checked as ever.
func TestCSRFSameHost(t *testing.T) {
	t.Parallel()
	c := CSRF{}
	const tok = "the-csrf-token"
	check := func(origin, header string) error {
		r := httptest.NewRequest("POST", "http://127.0.0.1:8080/ui/tokens", nil)
		r.AddCookie(&http.Cookie{Name: SessionCookie, Value: "s"})
		r.AddCookie(&http.Cookie{Name: CSRFCookie, Value: tok})
		r.Header.Set("Origin", origin)
		r.Header.Set(CSRFHeader, header)
		return c.Check(r)
	}
	if err := check("http://127.0.0.1:8080", tok); err != nil {
		t.Errorf("same host: %v", err)
	}
	for _, origin := range []string{"http://127.0.0.1:9090", "http://evil.example", "null", ""} {
		if err := check(origin, tok); platform.ErrorCode(err) != platform.EFORBIDDEN {
			t.Errorf("origin %q: %v, want forbidden", origin, err)
		}
	}
	if err := check("http://127.0.0.1:8080", "guess"); platform.ErrorCode(err) != platform.EFORBIDDEN {
		t.Errorf("same host, wrong token: %v", err)
	}
}
