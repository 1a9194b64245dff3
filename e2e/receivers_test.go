package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// delivery is one notification a provider's receiver took: what it says, as the
// receiver parsed it from the provider's wire format.
type delivery struct {
	Channel string // which receiver
	Kind    string // firing, repeat, resolved or test (as far as the format says it)
	Text    string // the human text: subject and body, SMS body, Slack text, PD summary
	Key     string // the alert's key where the format carries one (PagerDuty, webhook)
	ID      string // the delivery's ID where the format carries one (webhook)
	At      time.Time
}

// receivers are local stand-ins for the providers, each checking every request the way
// the provider documents it and refusing (4xx) one that is not; failures are reported
// to t. Each records the deliveries it accepted.
type receivers struct {
	t  *testing.T
	mu sync.Mutex
	// got holds the accepted deliveries, by channel.
	got map[string][]delivery
	// hits counts every request, accepted or not, by channel.
	hits map[string]int

	smtpAddr   string
	slackURL   string // the incoming webhook URL: the Slack channel's secret
	twilioBase string
	pdBase     string
	hookURL    string
	brokenURL  string // answers 500 to everything
}

// Provider credentials the test configures and the receivers check.
const (
	twilioSID     = "AC00000000000000000000000000000001"
	twilioToken   = "e2e-twilio-auth-token-1234567890ab"
	pdRoutingKey  = "R0UT1NGKEY0000000000000000000001"
	hookSecret    = "e2e-webhook-hmac-key"
	slackHookPath = "/services/T0E2E/B0E2E/e2eSlackWebhookToken"
	mailFrom      = "alerts@platform.test"
	mailTo        = "oncall@acme.test"
	smsFrom       = "+15005550006"
	smsTo         = "+447700900123"
)

func startReceivers(t *testing.T) *receivers {
	t.Helper()
	r := &receivers{t: t, got: map[string][]delivery{}, hits: map[string]int{}}
	r.startSMTP()
	slack := httptest.NewServer(http.HandlerFunc(r.slack))
	twilio := httptest.NewServer(http.HandlerFunc(r.twilio))
	pd := httptest.NewServer(http.HandlerFunc(r.pagerDuty))
	hook := httptest.NewServer(http.HandlerFunc(r.webhook))
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hit("broken")
		http.Error(w, "upstream on fire", http.StatusInternalServerError)
	}))
	for _, s := range []*httptest.Server{slack, twilio, pd, hook, broken} {
		t.Cleanup(s.Close)
	}
	r.slackURL, r.twilioBase, r.pdBase = slack.URL+slackHookPath, twilio.URL, pd.URL
	r.hookURL, r.brokenURL = hook.URL+"/hooks/platform", broken.URL+"/hooks/platform"
	return r
}

func (r *receivers) hit(ch string) {
	r.mu.Lock()
	r.hits[ch]++
	r.mu.Unlock()
}

func (r *receivers) accept(d delivery) {
	d.At = time.Now()
	r.mu.Lock()
	r.got[d.Channel] = append(r.got[d.Channel], d)
	r.mu.Unlock()
}

// refuse answers a request that does not follow the provider's documentation.
func (r *receivers) refuse(w http.ResponseWriter, ch, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.t.Errorf("%s receiver: %s", ch, msg)
	http.Error(w, msg, http.StatusBadRequest)
}

// deliveries returns what channel ch accepted, of kind ("" all).
func (r *receivers) deliveries(ch, kind string) []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []delivery
	for _, d := range r.got[ch] {
		if kind == "" || d.Kind == kind {
			out = append(out, d)
		}
	}
	return out
}

func (r *receivers) hitsOf(ch string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits[ch]
}

// slack is an incoming webhook: a POST of JSON with a text, answered 200 "ok".
func (r *receivers) slack(w http.ResponseWriter, req *http.Request) {
	r.hit("slack")
	var body struct {
		Text   string            `json:"text"`
		Blocks []json.RawMessage `json:"blocks"`
	}
	switch {
	case req.Method != http.MethodPost || req.URL.Path != slackHookPath:
		r.refuse(w, "slack", "%s %s: want POST to the webhook's path", req.Method, req.URL.Path)
	case !strings.HasPrefix(req.Header.Get("Content-Type"), "application/json"):
		r.refuse(w, "slack", "content type %q: want application/json", req.Header.Get("Content-Type"))
	case json.NewDecoder(req.Body).Decode(&body) != nil || body.Text == "":
		r.refuse(w, "slack", "invalid_payload: want JSON with a text")
	default:
		text := body.Text
		for _, b := range body.Blocks {
			text += "\n" + string(b)
		}
		r.accept(delivery{Channel: "slack", Kind: kindIn(text), Text: text})
		io.WriteString(w, "ok")
	}
}

// twilio is Programmable Messaging: a form POST of To, From and Body to
// /2010-04-01/Accounts/{AccountSid}/Messages.json under HTTP Basic AccountSid:AuthToken,
// answered 201 with the message resource.
func (r *receivers) twilio(w http.ResponseWriter, req *http.Request) {
	r.hit("sms")
	user, pass, ok := req.BasicAuth()
	switch {
	case req.Method != http.MethodPost || req.URL.Path != "/2010-04-01/Accounts/"+twilioSID+"/Messages.json":
		r.refuse(w, "sms", "%s %s: want POST /2010-04-01/Accounts/{sid}/Messages.json", req.Method, req.URL.Path)
		return
	case !ok || user != twilioSID || pass != twilioToken:
		w.WriteHeader(http.StatusUnauthorized)
		r.t.Errorf("sms receiver: basic auth is not the account SID and auth token")
		return
	case !strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded"):
		r.refuse(w, "sms", "content type %q: want a form", req.Header.Get("Content-Type"))
		return
	}
	if err := req.ParseForm(); err != nil {
		r.refuse(w, "sms", "form: %v", err)
		return
	}
	to, from, body := req.PostForm.Get("To"), req.PostForm.Get("From"), req.PostForm.Get("Body")
	if to != smsTo || from != smsFrom || body == "" || len(body) > 1600 {
		r.refuse(w, "sms", "To %q From %q Body of %d characters: want the configured numbers and 1-1600 characters", to, from, len(body))
		return
	}
	r.accept(delivery{Channel: "sms", Kind: kindIn(body), Text: body})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"sid":"SM%032d","status":"queued","to":%q,"from":%q}`, r.hitsOf("sms"), to, from)
}

// pagerDuty is Events API v2: a POST of an event to /v2/enqueue with the routing key,
// an event_action and, to trigger, a payload with summary, source and severity;
// answered 202.
func (r *receivers) pagerDuty(w http.ResponseWriter, req *http.Request) {
	r.hit("pagerduty")
	var ev struct {
		RoutingKey  string `json:"routing_key"`
		EventAction string `json:"event_action"`
		DedupKey    string `json:"dedup_key"`
		Payload     *struct {
			Summary  string `json:"summary"`
			Source   string `json:"source"`
			Severity string `json:"severity"`
		} `json:"payload"`
	}
	if req.Method != http.MethodPost || req.URL.Path != "/v2/enqueue" {
		r.refuse(w, "pagerduty", "%s %s: want POST /v2/enqueue", req.Method, req.URL.Path)
		return
	}
	if err := json.NewDecoder(req.Body).Decode(&ev); err != nil {
		r.refuse(w, "pagerduty", "body: %v", err)
		return
	}
	switch {
	case ev.RoutingKey != pdRoutingKey:
		r.refuse(w, "pagerduty", "routing_key is not the integration's")
		return
	case ev.EventAction != "trigger" && ev.EventAction != "resolve" && ev.EventAction != "acknowledge":
		r.refuse(w, "pagerduty", "event_action %q", ev.EventAction)
		return
	case ev.EventAction == "trigger" && (ev.Payload == nil || ev.Payload.Summary == "" || ev.Payload.Source == "" ||
		!strings.Contains("critical error warning info", ev.Payload.Severity) || ev.Payload.Severity == ""):
		r.refuse(w, "pagerduty", "a trigger needs payload.summary, source and severity (critical, error, warning, info)")
		return
	case ev.EventAction == "resolve" && ev.DedupKey == "":
		r.refuse(w, "pagerduty", "a resolve needs the dedup_key")
		return
	}
	kind, text := "firing", ""
	if ev.EventAction == "resolve" {
		kind = "resolved"
	}
	if ev.Payload != nil {
		text = ev.Payload.Summary
		if k := kindIn(text); k == "test" {
			kind = k
		}
	}
	r.accept(delivery{Channel: "pagerduty", Kind: kind, Text: text, Key: ev.DedupKey})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, `{"status":"success","message":"Event processed","dedup_key":%q}`, ev.DedupKey)
}

// webhook checks the platform's signature (X-Platform-Signature: sha256=HMAC of the raw
// body) in constant time, as docs/alerting.md tells a receiver to.
func (r *receivers) webhook(w http.ResponseWriter, req *http.Request) {
	r.hit("webhook")
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		r.refuse(w, "webhook", "body: %v", err)
		return
	}
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(req.Header.Get("X-Platform-Signature")), []byte(want)) {
		r.refuse(w, "webhook", "signature does not match the body")
		return
	}
	var p struct {
		ID      string `json:"id"`
		Kind    string `json:"kind"`
		Key     string `json:"key"`
		Summary string `json:"summary"`
		Reason  string `json:"reason"`
		URL     string `json:"url"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		r.refuse(w, "webhook", "payload: %v", err)
		return
	}
	if p.Kind != req.Header.Get("X-Platform-Event") || p.ID != req.Header.Get("X-Platform-Delivery") {
		r.refuse(w, "webhook", "headers X-Platform-Event/Delivery do not match the payload")
		return
	}
	r.accept(delivery{Channel: "webhook", Kind: p.Kind, Key: p.Key, ID: p.ID,
		Text: strings.Join([]string{p.Summary, p.Reason, p.URL}, "\n")})
	w.WriteHeader(http.StatusNoContent)
}

// kindIn reads the notification's kind from its text, as a person would: the tag that
// starts every subject ([FIRING], [RESOLVED], [TEST]; a repeat is tagged FIRING too).
func kindIn(text string) string {
	l := strings.ToLower(text)
	switch {
	case strings.Contains(l, "[test]") || strings.Contains(l, "test notification"):
		return "test"
	case strings.Contains(l, "[resolved]"):
		return "resolved"
	}
	return "firing"
}

// startSMTP serves SMTP on 127.0.0.1 with go-smtp: mail from mailFrom to mailTo only.
func (r *receivers) startSMTP() {
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &smtpSession{r: r}, nil
	}))
	srv.Domain = "mx.acme.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 1 << 20
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.t.Fatal(err)
	}
	go srv.Serve(l)
	r.t.Cleanup(func() { srv.Close() })
	r.smtpAddr = l.Addr().String()
}

type smtpSession struct {
	r        *receivers
	from, to string
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	s.r.hit("email")
	if from != mailFrom {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "sender not allowed"}
	}
	s.from = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to != mailTo {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	s.to = to
	return nil
}

func (s *smtpSession) Data(rd io.Reader) error {
	m, err := mail.ReadMessage(rd)
	if err != nil {
		s.r.t.Errorf("email receiver: not a message: %v", err)
		return err
	}
	body, _ := io.ReadAll(m.Body)
	subject := m.Header.Get("Subject")
	if subject == "" || m.Header.Get("Message-Id") == "" || m.Header.Get("Date") == "" {
		s.r.t.Errorf("email receiver: a message without Subject, Message-Id or Date: %v", m.Header)
	}
	s.r.accept(delivery{Channel: "email", Kind: kindIn(subject), Text: subject + "\n" + string(body)})
	return nil
}

func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }
