package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/micro/platform"
)

// slackSender posts to Slack, in one of two ways:
//
//   - an incoming webhook: the secret is the webhook URL (https; http only with
//     Options.AllowPrivate, to a loopback or private-address host), config is empty; Slack answers 200 "ok", or a 4xx/5xx with a word such as
//     invalid_payload or no_service.
//   - chat.postMessage: config channel (an id such as C0123 or a #name) and the secret a
//     bot token ("xoxb-…"); base_url defaults to https://slack.com/api. Slack answers 200
//     with {"ok": false, "error": "..."} on failure, or a 429 with Retry-After.
//     base_url follows the webhook URL's rules.
type slackSender struct{ opts Options }

var _ Sender = (*slackSender)(nil)

const defaultSlackAPI = "https://slack.com/api"

type slackConfig struct {
	webhook *url.URL // incoming webhook mode
	api     *url.URL // chat.postMessage mode: the API's base URL
	channel string
	token   string
}

func parseSlack(config map[string]string, secret string, allowPrivate bool) (slackConfig, []string) {
	problems := checkKeys(config, nil, []string{"channel", "base_url"})
	c := slackConfig{channel: strings.TrimSpace(config["channel"])}
	bot := strings.HasPrefix(secret, "xoxb-")
	if _, ok := config["channel"]; ok && c.channel == "" {
		problems = append(problems, "channel: empty (leave it out to post with an incoming webhook)")
	}
	switch {
	case c.channel != "" && !bot:
		problems = append(problems, "channel is set, so the secret must be a bot token (xoxb-…)")
	case c.channel != "":
		if strings.ContainsAny(secret, " \t\r\n") {
			problems = append(problems, "the bot token (the secret) has spaces")
		}
		c.token = secret
		base := defaultSlackAPI
		if b, ok := config["base_url"]; ok {
			base = b
		}
		u, p := checkEndpoint("base_url", base, true, allowPrivate)
		problems = append(problems, p...)
		c.api = u
	case bot:
		problems = append(problems, "the secret is a bot token: set channel too, or give an incoming webhook URL")
	default:
		if _, ok := config["base_url"]; ok {
			problems = append(problems, "base_url: only used with channel (chat.postMessage)")
		}
		if secret == "" {
			problems = append(problems, "the webhook URL (the secret) is empty")
			break
		}
		u, p := checkEndpoint("the webhook URL (the secret)", secret, true, allowPrivate)
		problems = append(problems, p...)
		c.webhook = u
	}
	return c, problems
}

// Send posts m. No error says the webhook URL or the token.
func (s *slackSender) Send(ctx context.Context, ch Channel, m Message) error {
	c, problems := parseSlack(ch.Config, ch.Secret, s.opts.AllowPrivate)
	if err := configError(platform.ChannelSlack, problems); err != nil {
		return Permanently(err)
	}
	secrets := []string{ch.Secret}
	var err error
	if c.webhook != nil {
		secrets = append(secrets, c.webhook.Path, c.webhook.RawQuery)
		err = s.webhook(ctx, c, m)
	} else {
		err = s.postMessage(ctx, c, m)
	}
	return redact(err, secrets...)
}

func (s *slackSender) webhook(ctx context.Context, c slackConfig, m Message) error {
	body, err := json.Marshal(slackMessage(m, ""))
	if err != nil {
		return Permanently(fmt.Errorf("slack: %w", err))
	}
	a, err := post(ctx, s.opts.HTTPClient, c.webhook.String(), "application/json", body, nil)
	if err != nil {
		return fmt.Errorf("slack webhook: %w", err)
	}
	if a.ok() {
		return nil
	}
	return statusError("slack webhook", a, "", s.opts.Clock.Now())
}

// slackRetryable are chat.postMessage's errors worth retrying; any other is permanent
// (channel_not_found, not_in_channel, invalid_auth, token_revoked, invalid_blocks...).
var slackRetryable = map[string]bool{
	"ratelimited":         true,
	"rate_limited":        true,
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
	"team_added_to_org":   true,
}

func (s *slackSender) postMessage(ctx context.Context, c slackConfig, m Message) error {
	body, err := json.Marshal(slackMessage(m, c.channel))
	if err != nil {
		return Permanently(fmt.Errorf("slack: %w", err))
	}
	endpoint := strings.TrimSuffix(c.api.String(), "/") + "/chat.postMessage"
	h := http.Header{"Authorization": {"Bearer " + c.token}}
	a, err := post(ctx, s.opts.HTTPClient, endpoint, "application/json; charset=utf-8", body, h)
	if err != nil {
		return fmt.Errorf("slack chat.postMessage: %w", err)
	}
	var r struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	jsonErr := json.Unmarshal(a.body, &r)
	if !a.ok() {
		return statusError("slack chat.postMessage", a, oneLine(r.Error, maxDetail), s.opts.Clock.Now())
	}
	switch {
	case jsonErr != nil:
		return fmt.Errorf("slack chat.postMessage answered %s with a body that is not JSON: %s", statusText(a.status), shortBody(a.body))
	case r.OK:
		return nil
	}
	err = errors.New("slack chat.postMessage answered ok=false: " + oneLine(r.Error, maxDetail))
	if !slackRetryable[r.Error] {
		return Permanently(err)
	}
	if d, ok := parseRetryAfter(a.header.Get("Retry-After"), s.opts.Clock.Now()); ok {
		return withRetryAfter(err, d)
	}
	return err
}

// slackPayload is the JSON both ways take: text is the notification's fallback, blocks
// the message (Block Kit); channel is for chat.postMessage only.
type slackPayload struct {
	Channel string       `json:"channel,omitempty"`
	Text    string       `json:"text"`
	Blocks  []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type     string        `json:"type"`
	Text     *slackText    `json:"text,omitempty"`
	Fields   []slackText   `json:"fields,omitempty"`
	Elements []slackButton `json:"elements,omitempty"`
}

type slackText struct {
	Type string `json:"type"` // plain_text or mrkdwn
	Text string `json:"text"`
}

type slackButton struct {
	Type string    `json:"type"`
	Text slackText `json:"text"`
	URL  string    `json:"url"`
}

// slackMessage lays m out in blocks, within Block Kit's limits (a header's 150
// characters, a section's 3000, a field's 2000).
func slackMessage(m Message, channel string) slackPayload {
	p := slackPayload{Channel: channel, Text: slackEscape(subject(m))}
	if s := oneLine(m.Summary, 500); s != "" {
		p.Text += ": " + slackEscape(s)
	}
	p.Blocks = append(p.Blocks, slackBlock{Type: "header", Text: &slackText{"plain_text", truncate(subject(m), 150)}})
	if s := oneLine(m.Summary, 2000); s != "" {
		p.Blocks = append(p.Blocks, slackBlock{Type: "section", Text: &slackText{"plain_text", s}})
	}
	fields := []slackText{{"mrkdwn", "*Severity*\n" + slackEscape(severity(m))}}
	if w := where(m); w != "" {
		fields = append(fields, slackText{"mrkdwn", "*Where*\n" + slackEscape(truncate(w, 1900))})
	}
	if s := since(m); s != "" {
		fields = append(fields, slackText{"mrkdwn", "*When*\n" + slackEscape(s)})
	}
	p.Blocks = append(p.Blocks, slackBlock{Type: "section", Fields: fields})
	if r := strings.TrimSpace(m.Reason); r != "" {
		p.Blocks = append(p.Blocks, slackBlock{Type: "section", Text: &slackText{"plain_text", truncate(r, 2900)}})
	}
	if u := strings.TrimSpace(m.URL); u != "" && len(u) <= 3000 && (strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) {
		p.Blocks = append(p.Blocks, slackBlock{Type: "actions", Elements: []slackButton{{
			Type: "button", Text: slackText{"plain_text", "Open in the dashboard"}, URL: u,
		}}})
	}
	return p
}

// slackEscape escapes the three characters Slack's mrkdwn gives a meaning to.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
