package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/micro/platform"
)

// pagerDutySender sends to PagerDuty's Events API v2: a POST of an event to
// /v2/enqueue, which PagerDuty answers 202 once queued, 400 for an invalid event, 429
// when rate limited.
//
// Channel config: base_url (default https://events.pagerduty.com; http only with
// Options.AllowPrivate, to a loopback or private-address host) only. The secret is
// the integration's routing key. Firing, repeat and test trigger (a repeat updates the
// open incident: the dedup key is the alert's Key), resolved resolves.
type pagerDutySender struct{ opts Options }

var _ Sender = (*pagerDutySender)(nil)

const defaultPagerDutyURL = "https://events.pagerduty.com"

// routingKey is an integration key: 32 characters.
var routingKey = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)

type pagerDutyConfig struct {
	base *url.URL
	key  string
}

func parsePagerDuty(config map[string]string, secret string, allowPrivate bool) (pagerDutyConfig, []string) {
	problems := checkKeys(config, nil, []string{"base_url"})
	base := defaultPagerDutyURL
	if b, ok := config["base_url"]; ok {
		base = b
	}
	u, p := checkEndpoint("base_url", base, true, allowPrivate)
	problems = append(problems, p...)
	switch {
	case secret == "":
		problems = append(problems, "the routing key (the secret) is empty")
	case !routingKey.MatchString(secret):
		problems = append(problems, "the routing key (the secret) is not an integration key (32 letters and digits)")
	}
	return pagerDutyConfig{base: u, key: secret}, problems
}

// pagerDutyEvent is an Events API v2 event.
type pagerDutyEvent struct {
	RoutingKey  string            `json:"routing_key"`
	EventAction string            `json:"event_action"` // trigger, acknowledge or resolve
	DedupKey    string            `json:"dedup_key,omitempty"`
	Payload     *pagerDutyPayload `json:"payload,omitempty"` // trigger only
	Client      string            `json:"client,omitempty"`
	ClientURL   string            `json:"client_url,omitempty"`
	Links       []pagerDutyLink   `json:"links,omitempty"`
}

type pagerDutyPayload struct {
	Summary       string            `json:"summary"`  // at most 1024 characters
	Source        string            `json:"source"`   // where: namespace/service
	Severity      string            `json:"severity"` // critical, error, warning or info
	Timestamp     string            `json:"timestamp,omitempty"`
	Component     string            `json:"component,omitempty"`
	Group         string            `json:"group,omitempty"`
	Class         string            `json:"class,omitempty"`
	CustomDetails map[string]string `json:"custom_details,omitempty"`
}

type pagerDutyLink struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// Send enqueues the event for m.
func (s *pagerDutySender) Send(ctx context.Context, ch Channel, m Message) error {
	c, problems := parsePagerDuty(ch.Config, ch.Secret, s.opts.AllowPrivate)
	if err := configError(platform.ChannelPagerDuty, problems); err != nil {
		return Permanently(err)
	}
	body, err := json.Marshal(pagerDutyEventFor(m, c.key))
	if err != nil {
		return Permanently(fmt.Errorf("pagerduty: %w", err))
	}
	endpoint := strings.TrimSuffix(c.base.String(), "/") + "/v2/enqueue"
	a, err := post(ctx, s.opts.HTTPClient, endpoint, "application/json", body, nil)
	if err != nil {
		return redact(fmt.Errorf("pagerduty: %w", err), ch.Secret)
	}
	if a.ok() {
		return nil
	}
	// PagerDuty's error document: {"status": "invalid event", "message": "Event object is invalid", "errors": [...]}.
	var r struct {
		Message string   `json:"message"`
		Errors  []string `json:"errors"`
	}
	detail := ""
	if json.Unmarshal(a.body, &r) == nil && r.Message != "" {
		detail = r.Message
		if len(r.Errors) > 0 {
			detail += " (" + strings.Join(r.Errors, "; ") + ")"
		}
		detail = oneLine(detail, maxDetail)
	}
	return redact(statusError("pagerduty", a, detail, s.opts.Clock.Now()), ch.Secret)
}

// pagerDutySeverity maps an alert's severity onto PagerDuty's four; a test is info.
func pagerDutySeverity(m Message) string {
	if m.Kind == Test {
		return "info"
	}
	switch s := strings.ToLower(strings.TrimSpace(m.Severity)); s {
	case "critical", "error", "warning", "info":
		return s
	case "page", "fatal":
		return "critical"
	case "warn":
		return "warning"
	}
	return "error"
}

// dedupKey is m.Key, hashed when longer than PagerDuty's 255 characters.
func dedupKey(key string) string {
	if len(key) <= 255 {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func pagerDutyEventFor(m Message, key string) pagerDutyEvent {
	e := pagerDutyEvent{RoutingKey: key, DedupKey: dedupKey(m.Key), EventAction: "trigger"}
	if m.Kind == Resolved {
		// A resolve needs only the key to find the incident.
		e.EventAction = "resolve"
		return e
	}
	summary := subject(m)
	if s := oneLine(m.Summary, 1024); s != "" {
		summary += ": " + s
	}
	source := m.Namespace
	if m.Service != "" {
		source = strings.Trim(m.Namespace+"/"+m.Service, "/")
	}
	if source == "" {
		source = "micro platform"
	}
	details := map[string]string{}
	for k, v := range map[string]string{
		"org": m.Org, "namespace": m.Namespace, "service": m.Service, "region": m.Region,
		"rule": m.Rule, "severity": m.Severity, "reason": truncate(m.Reason, 8000),
		"kind": string(m.Kind), "notification_id": m.ID, "since": utc(m.Since),
	} {
		if v != "" {
			details[k] = v
		}
	}
	e.Payload = &pagerDutyPayload{
		Summary:       truncate(summary, 1024),
		Source:        oneLine(source, 255),
		Severity:      pagerDutySeverity(m),
		Timestamp:     utc(m.Since),
		Component:     m.Service,
		Group:         m.Namespace,
		Class:         m.Rule,
		CustomDetails: details,
	}
	e.Client = "Micro Platform"
	if m.URL != "" {
		e.ClientURL = m.URL
		e.Links = []pagerDutyLink{{Href: m.URL, Text: "Open in the dashboard"}}
	}
	return e
}
