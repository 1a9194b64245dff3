package notify

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/micro/platform"
)

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "twilio-auth-token-0123456789abcd"
)

// twilioAPI stands in for api.twilio.com: it checks each request as Twilio documents
// Messages.json and answers with answer(to).
func twilioAPI(t *testing.T, answer func(to string) (int, http.Header, string)) (*httptest.Server, *[]url.Values) {
	t.Helper()
	var mu sync.Mutex
	var got []url.Values
	srv := provider(t, func(t *testing.T, r *http.Request, body []byte) (int, http.Header, string) {
		wantPost(t, r, "/2010-04-01/Accounts/"+testSID+"/Messages.json", "application/x-www-form-urlencoded")
		if user, pass, ok := r.BasicAuth(); !ok || user != testSID || pass != testToken {
			return 401, nil, `{"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}`
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			t.Errorf("body is not a form: %v", err)
		}
		for _, f := range []string{"To", "From", "Body"} {
			if len(form[f]) != 1 || form.Get(f) == "" {
				t.Errorf("form field %s = %q, want one value", f, form[f])
			}
		}
		if n := len(utf16.Encode([]rune(form.Get("Body")))); n > 1600 {
			t.Errorf("Body is %d characters, Twilio takes 1600", n)
		}
		mu.Lock()
		got = append(got, form)
		mu.Unlock()
		return answer(form.Get("To"))
	})
	return srv, &got
}

func smsChannel(base string, to ...string) Channel {
	return Channel{ID: "sms1", Kind: platform.ChannelSMS, Secret: testToken, Config: map[string]string{
		"account_sid": testSID, "from": "+14155550100", "to": strings.Join(to, ","), "base_url": base,
	}}
}

const twilioQueued = `{"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"}`

func TestTwilioSendsOnePerRecipient(t *testing.T) {
	t.Parallel()
	srv, got := twilioAPI(t, func(string) (int, http.Header, string) { return 201, nil, twilioQueued })
	ch := smsChannel(srv.URL, "+14155550111", "+447700900123")
	if err := send(t, testOptions(), ch, testMessage(Firing)); err != nil {
		t.Fatal(err)
	}
	if len(*got) != 2 {
		t.Fatalf("%d requests, want one per recipient", len(*got))
	}
	var to []string
	for _, f := range *got {
		to = append(to, f.Get("To"))
		if f.Get("From") != "+14155550100" {
			t.Errorf("From %q", f.Get("From"))
		}
		body := f.Get("Body")
		for _, want := range []string{"[FIRING] helloworld crash loop in acme (critical)", "helloworld is crash-looping", "https://platform.example/acme/services/helloworld"} {
			if !strings.Contains(body, want) {
				t.Errorf("Body lacks %q:\n%s", want, body)
			}
		}
	}
	slices.Sort(to)
	if strings.Join(to, ",") != "+14155550111,+447700900123" {
		t.Errorf("To %v", to)
	}
}

func TestTwilioFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		token      string // sent instead of testToken
		permanent  bool
		retryAfter time.Duration
		want       string
	}{
		{
			name: "invalid number", status: 400, permanent: true, want: "400 Bad Request: error 21211: The 'To' number",
			body: `{"code": 21211, "message": "The 'To' number +15005550001 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}`,
		},
		{name: "wrong token", token: "wrong-token-0000", permanent: true, want: "401 Unauthorized: error 20003: Authenticate"},
		{
			name: "rate limited", status: 429, header: http.Header{"Retry-After": {"7"}}, retryAfter: 7 * time.Second,
			body: `{"code": 20429, "message": "Too Many Requests", "status": 429}`, want: "retry after 7s",
		},
		{name: "server error", status: 500, body: "<html>upstream boom</html>", want: "500 Internal Server Error: <html>upstream boom</html>"},
		{name: "unavailable", status: 503, want: "503"},
		{
			name: "answer quotes the token", status: 400, permanent: true, want: "[redacted]",
			body: `{"code": 20003, "message": "token ` + testToken + ` is not valid", "status": 400}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := twilioAPI(t, func(string) (int, http.Header, string) { return tt.status, tt.header, tt.body })
			ch := smsChannel(srv.URL, "+14155550111")
			if tt.token != "" {
				ch.Secret = tt.token
			}
			err := send(t, testOptions(), ch, testMessage(Firing))
			wantClass(t, err, tt.permanent)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			d, ok := RetryAfter(err)
			if ok != (tt.retryAfter != 0) || d != tt.retryAfter {
				t.Errorf("RetryAfter = %v, %v; want %v", d, ok, tt.retryAfter)
			}
			mustNotLeak(t, err, testToken, ch.Secret)
		})
	}
}

func TestTwilioPartialFailure(t *testing.T) {
	t.Parallel()
	const bad, down, good = "+15005550001", "+15005550002", "+15005550003"
	srv, _ := twilioAPI(t, func(to string) (int, http.Header, string) {
		switch to {
		case bad:
			return 400, nil, `{"code": 21211, "message": "invalid 'To'", "status": 400}`
		case down:
			return 503, nil, "unavailable"
		}
		return 201, nil, twilioQueued
	})
	err := send(t, testOptions(), smsChannel(srv.URL, good, bad), testMessage(Firing))
	wantClass(t, err, true) // the only failure will not change
	if !strings.Contains(err.Error(), bad) || strings.Contains(err.Error(), good) {
		t.Errorf("error %q should name %s only", err, bad)
	}
	err = send(t, testOptions(), smsChannel(srv.URL, bad, down, good), testMessage(Firing))
	wantClass(t, err, false) // one is worth retrying
	if !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), down) {
		t.Errorf("error %q should name %s and %s", err, bad, down)
	}
}

func TestSMSText(t *testing.T) {
	t.Parallel()
	m := testMessage(Firing)
	m.Reason = strings.Repeat("😱 crash ", 1000) // surrogate pairs: 2 UTF-16 units each
	m.Summary = strings.Repeat("s", 5000)
	got := smsText(m)
	if n := len(utf16.Encode([]rune(got))); n > maxSMS {
		t.Errorf("smsText is %d UTF-16 units, want at most %d", n, maxSMS)
	}
	if !strings.HasSuffix(got, "\n"+m.URL) {
		t.Errorf("smsText lost the link at the end:\n%s", got)
	}
	if !strings.HasPrefix(got, "[FIRING] helloworld crash loop in acme (critical)\n") {
		t.Errorf("smsText starts %q", got[:60])
	}
	r := smsText(testMessage(Resolved))
	if !strings.HasPrefix(r, "[RESOLVED]") || !strings.Contains(r, "Resolved; it had been firing since 2025-03-04 05:06:07 UTC") {
		t.Errorf("resolved text:\n%s", r)
	}
}
