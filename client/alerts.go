package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	platform "github.com/micro/platform"
)

// Alerting (docs/alerting.md): every member reads rules, silences, alerts and history (a
// narrowed token those of its namespaces); channels, and every change, are admins'. On
// the wire durations are Go duration strings ("5m", "1h30m") and times RFC 3339.

// alertRuleRequest is the body of POST /v1/alerts/rules.
type alertRuleRequest struct {
	Name           string             `json:"name"`
	Kind           platform.AlertKind `json:"kind"`
	Namespace      string             `json:"namespace,omitempty"`
	Service        string             `json:"service,omitempty"`
	Op             string             `json:"op,omitempty"`
	Threshold      float64            `json:"threshold,omitempty"`
	Window         string             `json:"window,omitempty"`
	For            string             `json:"for,omitempty"`
	Severity       platform.Severity  `json:"severity,omitempty"`
	RepeatInterval string             `json:"repeat_interval,omitempty"`
	Disabled       bool               `json:"disabled,omitempty"`
}

// alertRuleWire is a rule as the API answers it: its durations are strings, which hide
// the nanoseconds of platform.AlertRule's own fields.
type alertRuleWire struct {
	platform.AlertRule
	Window         string `json:"window"`
	For            string `json:"for"`
	RepeatInterval string `json:"repeat_interval"`
}

// rule returns the rule with its durations parsed.
func (w *alertRuleWire) rule() (*platform.AlertRule, error) {
	r := w.AlertRule
	var err error
	if r.Window, err = parseDuration("window", w.Window); err != nil {
		return nil, err
	}
	if r.For, err = parseDuration("for", w.For); err != nil {
		return nil, err
	}
	if r.RepeatInterval, err = parseDuration("repeat_interval", w.RepeatInterval); err != nil {
		return nil, err
	}
	return &r, nil
}

// alertWire is an alert as the API answers it.
type alertWire struct {
	platform.Alert
	RepeatInterval string `json:"repeat_interval"`
}

// parseDuration reads a duration field of a response; "" is 0.
func parseDuration(field, v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a duration", field, v)
	}
	return d, nil
}

// ListAlertRules returns the built-in rules, then the organisation's own, oldest first.
func (c *Client) ListAlertRules(ctx context.Context) ([]*platform.AlertRule, error) {
	var out struct {
		Rules []*alertRuleWire `json:"rules"`
	}
	p := path("v1", "alerts", "rules")
	if err := c.do(ctx, http.MethodGet, p, nil, nil, &out); err != nil {
		return nil, err
	}
	rules := make([]*platform.AlertRule, 0, len(out.Rules))
	for _, w := range out.Rules {
		r, err := w.rule()
		if err != nil {
			return nil, c.badResponse(http.MethodGet, p, err)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// CreateAlertRule stores a rule of the caller's organisation (its ID, Org and CreatedAt
// are set by the server) and returns it. EINVALID lists every problem of the rule;
// ENOTFOUND for an unknown namespace. Admin only.
func (c *Client) CreateAlertRule(ctx context.Context, r *platform.AlertRule) (*platform.AlertRule, error) {
	in := alertRuleRequest{
		Name: r.Name, Kind: r.Kind, Namespace: r.Namespace, Service: r.Service, Op: r.Op, Threshold: r.Threshold,
		Window: platform.ShortDuration(r.Window), For: platform.ShortDuration(r.For), Severity: r.Severity,
		RepeatInterval: platform.ShortDuration(r.RepeatInterval), Disabled: r.Disabled,
	}
	var out alertRuleWire
	p := path("v1", "alerts", "rules")
	if err := c.do(ctx, http.MethodPost, p, nil, in, &out); err != nil {
		return nil, err
	}
	rule, err := out.rule()
	if err == nil && out.ID == "" {
		err = errMissingFields
	}
	if err != nil {
		return nil, c.badResponse(http.MethodPost, p, err)
	}
	return rule, nil
}

// DeleteAlertRule deletes one of the organisation's rules by ID or name: ENOTFOUND if
// absent, EINVALID for a built-in rule (turn it off with a disabled rule of its kind).
// Admin only.
func (c *Client) DeleteAlertRule(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, path("v1", "alerts", "rules", id), nil, nil, nil)
}

// ListAlertChannels returns the organisation's channels by name, without their secrets.
// Admin only.
func (c *Client) ListAlertChannels(ctx context.Context) ([]*platform.AlertChannel, error) {
	var out struct {
		Channels []*platform.AlertChannel `json:"channels"`
	}
	if err := c.do(ctx, http.MethodGet, path("v1", "alerts", "channels"), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Channels, nil
}

// CreateAlertChannel checks a channel as its sender will and stores it with its secret
// sealed; the answer never carries the secret. EINVALID lists every problem (nothing is
// saved), ECONFLICT if the name is taken. Admin only.
func (c *Client) CreateAlertChannel(ctx context.Context, req platform.CreateAlertChannelRequest) (*platform.AlertChannel, error) {
	var out platform.AlertChannel
	p := path("v1", "alerts", "channels")
	if err := c.do(ctx, http.MethodPost, p, nil, req, &out); err != nil {
		return nil, err
	}
	if out.ID == "" {
		return nil, c.badResponse(http.MethodPost, p, errMissingFields)
	}
	return &out, nil
}

// DeleteAlertChannel deletes a channel by ID or name; its undelivered notifications end
// dead. ENOTFOUND if absent. Admin only.
func (c *Client) DeleteAlertChannel(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, path("v1", "alerts", "channels", id), nil, nil, nil)
}

// TestAlertChannel sends a test notification to a channel (by ID or name) and returns
// it once its first attempt is recorded, or when the server's wait (about 20 s) ran
// out: Status is sent, failed (LastError says why; it is retried), dead, or still
// pending. EUNAVAILABLE when alerting is off on the server. Admin only.
func (c *Client) TestAlertChannel(ctx context.Context, id string) (*platform.Notification, error) {
	var out platform.Notification
	p := path("v1", "alerts", "channels", id, "test")
	if err := c.do(ctx, http.MethodPost, p, nil, nil, &out); err != nil {
		return nil, err
	}
	if out.ID == "" || out.Status == "" {
		return nil, c.badResponse(http.MethodPost, p, errMissingFields)
	}
	return &out, nil
}

// ListSilences returns the organisation's silences in force, by expiry.
func (c *Client) ListSilences(ctx context.Context) ([]*platform.Silence, error) {
	var out struct {
		Silences []*platform.Silence `json:"silences"`
	}
	if err := c.do(ctx, http.MethodGet, path("v1", "alerts", "silences"), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Silences, nil
}

// silenceRequest is the body of POST /v1/alerts/silences.
type silenceRequest struct {
	Namespace string `json:"namespace,omitempty"`
	Service   string `json:"service,omitempty"`
	Rule      string `json:"rule,omitempty"`
	Until     string `json:"until,omitempty"`
	For       string `json:"for,omitempty"`
	Comment   string `json:"comment,omitempty"`
}

// CreateSilence mutes the notifications of matching alerts until req.Until, or for
// req.For from now. EINVALID for a silence without an expiry, one in the past or too
// far ahead (platform.MaxSilence). Admin only.
func (c *Client) CreateSilence(ctx context.Context, req platform.SilenceRequest) (*platform.Silence, error) {
	in := silenceRequest{Namespace: req.Namespace, Service: req.Service, Rule: req.Rule, For: platform.ShortDuration(req.For), Comment: req.Comment}
	if !req.Until.IsZero() {
		in.Until = req.Until.Format(time.RFC3339Nano)
	}
	var out platform.Silence
	p := path("v1", "alerts", "silences")
	if err := c.do(ctx, http.MethodPost, p, nil, in, &out); err != nil {
		return nil, err
	}
	if out.ID == "" {
		return nil, c.badResponse(http.MethodPost, p, errMissingFields)
	}
	return &out, nil
}

// DeleteSilence ends a silence now: ENOTFOUND if absent. Admin only.
func (c *Client) DeleteSilence(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, path("v1", "alerts", "silences", id), nil, nil, nil)
}

// ListAlerts returns the organisation's alerts, most recently started first, of
// f.Namespace and in f.State when set, at most f.Limit (1 to 1000; 0: all). f.Org is
// the caller's whatever it says.
func (c *Client) ListAlerts(ctx context.Context, f platform.AlertFilter) ([]*platform.Alert, error) {
	q := url.Values{}
	set(q, "namespace", f.Namespace)
	set(q, "state", string(f.State))
	if f.Limit != 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out struct {
		Alerts []*alertWire `json:"alerts"`
	}
	p := path("v1", "alerts")
	if err := c.do(ctx, http.MethodGet, p, q, nil, &out); err != nil {
		return nil, err
	}
	alerts := make([]*platform.Alert, 0, len(out.Alerts))
	for _, w := range out.Alerts {
		a := w.Alert
		var err error
		if a.RepeatInterval, err = parseDuration("repeat_interval", w.RepeatInterval); err != nil {
			return nil, c.badResponse(http.MethodGet, p, err)
		}
		alerts = append(alerts, &a)
	}
	return alerts, nil
}

// AlertHistory returns the notifications sent, being sent, failed, dead or silenced,
// newest first: of f.AlertID, to f.ChannelID (an ID), in f.Status when set, at most
// f.Limit (1 to 1000; 0: 100).
func (c *Client) AlertHistory(ctx context.Context, f platform.NotificationFilter) ([]*platform.Notification, error) {
	q := url.Values{}
	set(q, "alert", f.AlertID)
	set(q, "channel", f.ChannelID)
	set(q, "status", string(f.Status))
	if f.Limit != 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out struct {
		Notifications []*platform.Notification `json:"notifications"`
	}
	if err := c.do(ctx, http.MethodGet, path("v1", "alerts", "history"), q, nil, &out); err != nil {
		return nil, err
	}
	return out.Notifications, nil
}

// set sets the query parameter name to v unless v is empty.
func set(q url.Values, name, v string) {
	if v != "" {
		q.Set(name, v)
	}
}
