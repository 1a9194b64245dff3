package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/micro/platform"
)

// webhookSender POSTs a WebhookPayload as JSON to the channel's url (http or https; a
// loopback or private host only with Options.AllowPrivate).
// Every request carries:
//
//	Content-Type: application/json
//	X-Platform-Event: firing | repeat | resolved | test
//	X-Platform-Delivery: <Message.ID>, the same on a retry: drop a delivery seen before
//	X-Platform-Signature: sha256=<hex HMAC-SHA256 of the body, keyed with the secret>
//
// as GitHub signs its webhooks: a receiver computes the HMAC of the raw body and
// compares it in constant time. A 2xx is delivered; a 4xx other than 408 and 429 is
// refused for good; anything else is retried.
//
// Channel config: url. The secret is the HMAC key.
type webhookSender struct{ opts Options }

var _ Sender = (*webhookSender)(nil)

// WebhookPayload is the JSON body a webhook channel receives. Field names are stable;
// fields may be added. Empty strings are left out.
type WebhookPayload struct {
	// ID is the notification's id, also in X-Platform-Delivery.
	ID string `json:"id"`
	// Kind is firing, repeat, resolved or test; also in X-Platform-Event.
	Kind string `json:"kind"`
	// Key identifies the alert: every notification about one alert has the same.
	Key       string `json:"key"`
	Org       string `json:"org,omitempty"`
	Severity  string `json:"severity,omitempty"` // info, warning or critical
	Rule      string `json:"rule,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Service   string `json:"service,omitempty"`
	Region    string `json:"region,omitempty"`
	// Title is the alert's title as mail subjects carry it ("helloworld crash loop in acme").
	Title   string `json:"title"`
	Summary string `json:"summary,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// Since is when the alert started firing, RFC 3339 in UTC.
	Since string `json:"since,omitempty"`
	// URL is the dashboard page of what the alert is about.
	URL string `json:"url,omitempty"`
}

// Payload is the WebhookPayload of m.
func Payload(m Message) WebhookPayload {
	return WebhookPayload{
		ID: m.ID, Kind: string(m.Kind), Key: m.Key, Org: m.Org, Severity: m.Severity,
		Rule: m.Rule, Namespace: m.Namespace, Service: m.Service, Region: m.Region,
		Title: title(m), Summary: m.Summary, Reason: m.Reason, Since: utc(m.Since), URL: m.URL,
	}
}

// Sign returns the X-Platform-Signature of body under key: "sha256=" and the hex
// HMAC-SHA256.
func Sign(key string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

type webhookConfig struct {
	url string
}

func parseWebhook(config map[string]string, secret string, allowPrivate bool) (webhookConfig, []string) {
	problems := checkKeys(config, []string{"url"}, nil)
	var c webhookConfig
	if raw := strings.TrimSpace(config["url"]); raw != "" {
		u, p := checkEndpoint("url", raw, false, allowPrivate)
		problems = append(problems, p...)
		if u != nil {
			c.url = u.String()
		}
	}
	if secret == "" {
		problems = append(problems, "the signing key (the secret) is empty")
	}
	return c, problems
}

// Send posts m's payload, signed.
func (s *webhookSender) Send(ctx context.Context, ch Channel, m Message) error {
	c, problems := parseWebhook(ch.Config, ch.Secret, s.opts.AllowPrivate)
	if err := configError(platform.ChannelWebhook, problems); err != nil {
		return Permanently(err)
	}
	body, err := json.Marshal(Payload(m))
	if err != nil {
		return Permanently(fmt.Errorf("webhook: %w", err))
	}
	h := http.Header{}
	h.Set("X-Platform-Event", string(m.Kind))
	h.Set("X-Platform-Delivery", m.ID)
	h.Set("X-Platform-Signature", Sign(ch.Secret, body))
	a, err := post(ctx, s.opts.HTTPClient, c.url, "application/json", body, h)
	if err != nil {
		return redact(fmt.Errorf("webhook: %w", err), ch.Secret)
	}
	if a.ok() {
		return nil
	}
	return redact(statusError("webhook", a, "", s.opts.Clock.Now()), ch.Secret)
}
