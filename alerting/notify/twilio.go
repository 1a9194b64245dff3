package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf16"

	"github.com/micro/platform"
)

// twilioSender texts through Twilio's Programmable Messaging REST API: a POST of the
// form fields To, From and Body to /2010-04-01/Accounts/{AccountSid}/Messages.json,
// authenticated with HTTP Basic AccountSid:AuthToken.
//
// Channel config: account_sid, from (an E.164 number of the account) and to
// (comma-separated E.164 numbers, one request each) are required; base_url (default
// https://api.twilio.com; http only with Options.AllowPrivate, to a loopback or
// private-address host) is optional. The secret is the auth token.
type twilioSender struct{ opts Options }

var _ Sender = (*twilioSender)(nil)

const defaultTwilioURL = "https://api.twilio.com"

// maxSMS is the longest Body Twilio accepts, in characters (UTF-16 code units).
const maxSMS = 1600

// accountSID is Twilio's account SID: "AC" and 32 hex digits.
var accountSID = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)

type twilioConfig struct {
	accountSID string
	from       string
	to         []string
	base       *url.URL
	token      string
}

func parseTwilio(config map[string]string, secret string, allowPrivate bool) (twilioConfig, []string) {
	problems := checkKeys(config, []string{"account_sid", "from", "to"}, []string{"base_url"})
	c := twilioConfig{
		accountSID: strings.TrimSpace(config["account_sid"]),
		from:       strings.TrimSpace(config["from"]),
		token:      secret,
	}
	if c.accountSID != "" && !accountSID.MatchString(c.accountSID) {
		problems = append(problems, "account_sid: want AC followed by 32 hex digits")
	}
	if c.from != "" && !e164.MatchString(c.from) {
		problems = append(problems, fmt.Sprintf("from: %q is not an E.164 phone number (like +14155550100)", oneLine(c.from, 40)))
	}
	for _, to := range splitList(config["to"]) {
		if !e164.MatchString(to) {
			problems = append(problems, fmt.Sprintf("to: %q is not an E.164 phone number (like +14155550100)", oneLine(to, 40)))
			continue
		}
		c.to = append(c.to, to)
	}
	base := defaultTwilioURL
	if b, ok := config["base_url"]; ok {
		base = b
	}
	u, p := checkEndpoint("base_url", base, true, allowPrivate)
	problems = append(problems, p...)
	c.base = u
	switch {
	case secret == "":
		problems = append(problems, "the auth token (the secret) is empty")
	case strings.ContainsAny(secret, " \t\r\n:"):
		problems = append(problems, "the auth token (the secret) has spaces or a colon")
	}
	return c, problems
}

// Send texts m to every number of the channel. It goes on after a failed number; the
// error is permanent only when every failure is, so a retry may text again the numbers
// that got it (Twilio has no idempotency key for messages).
func (s *twilioSender) Send(ctx context.Context, ch Channel, m Message) error {
	c, problems := parseTwilio(ch.Config, ch.Secret, s.opts.AllowPrivate)
	if err := configError(platform.ChannelSMS, problems); err != nil {
		return Permanently(err)
	}
	endpoint := strings.TrimSuffix(c.base.String(), "/") +
		"/2010-04-01/Accounts/" + url.PathEscape(c.accountSID) + "/Messages.json"
	body := smsText(m)
	var errs []error
	for _, to := range c.to {
		if err := s.send(ctx, c, endpoint, to, body); err != nil {
			errs = append(errs, fmt.Errorf("sms to %s: %w", to, err))
		}
	}
	return redact(joinRecipients(errs), ch.Secret)
}

func (s *twilioSender) send(ctx context.Context, c twilioConfig, endpoint, to, body string) error {
	form := url.Values{"To": {to}, "From": {c.from}, "Body": {body}}
	h := http.Header{"Accept": {"application/json"}}
	h.Set("Authorization", basicAuth(c.accountSID, c.token))
	a, err := post(ctx, s.opts.HTTPClient, endpoint, "application/x-www-form-urlencoded", []byte(form.Encode()), h)
	if err != nil {
		return fmt.Errorf("twilio: %w", err)
	}
	if a.ok() {
		return nil
	}
	// Twilio's error document: {"code": 21211, "message": "...", "more_info": "...", "status": 400}.
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	detail := ""
	if json.Unmarshal(a.body, &e) == nil && e.Message != "" {
		detail = oneLine(fmt.Sprintf("error %d: %s", e.Code, e.Message), maxDetail)
	}
	return statusError("twilio", a, detail, s.opts.Clock.Now())
}

func basicAuth(user, password string) string {
	r := http.Request{Header: http.Header{}}
	r.SetBasicAuth(user, password)
	return r.Header.Get("Authorization")
}

// smsText is a concise text: the subject and severity, the summary, the start of the
// reason, since when, and the link last, cut to Twilio's 1600 characters.
func smsText(m Message) string {
	head := subject(m) + " (" + severity(m) + ")"
	if s := oneLine(m.Summary, 300); s != "" {
		head += "\n" + s
	}
	if r := oneLine(m.Reason, 300); r != "" {
		head += "\n" + r
	}
	var tail string
	if s := since(m); s != "" {
		tail += "\n" + strings.ToUpper(s[:1]) + s[1:]
	}
	if u := strings.TrimSpace(m.URL); u != "" && len(u) <= 1000 && !strings.ContainsAny(u, " \t\r\n") {
		tail += "\n" + u
	}
	room := maxSMS - utf16Len(tail)
	return cutUTF16(head, room) + tail
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// cutUTF16 cuts s to at most n UTF-16 code units, the unit Twilio counts in.
func cutUTF16(s string, n int) string {
	if utf16Len(s) <= n {
		return s
	}
	used := 1 // the "…"
	for i, r := range s {
		if used+utf16.RuneLen(r) > n {
			return s[:i] + "…"
		}
		used += utf16.RuneLen(r)
	}
	return s
}
