package client

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
)

// TestAlertRequests covers the alerting methods: the request sent (durations as Go
// duration strings, names path-escaped, filters as query parameters) and the answer
// decoded (durations parsed back).
func TestAlertRequests(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ctx := context.Background()
	rule := `{"id":"ar-1","org":"default","namespace":"acme","name":"api errors","kind":"error_rate","service":"hello","op":">","threshold":5,` +
		`"window":"5m","for":"1m30s","severity":"critical","repeat_interval":"1h","created_at":"2026-01-02T03:04:05Z"}`
	wantRule := &platform.AlertRule{ID: "ar-1", Org: "default", Namespace: "acme", Name: "api errors", Kind: platform.AlertErrorRate, Service: "hello",
		Op: ">", Threshold: 5, Window: 5 * time.Minute, For: 90 * time.Second, Severity: platform.SeverityCritical, RepeatInterval: time.Hour, CreatedAt: created}
	notification := `{"id":"nt-1","org":"default","channel_id":"ch-1","kind":"test","rule":"test","severity":"info","summary":"Test","since":"2026-01-02T03:04:05Z",` +
		`"status":"failed","attempts":1,"last_error":"webhook: 500 Internal Server Error","next_attempt_at":"2026-01-02T03:04:06Z","created_at":"2026-01-02T03:04:05Z"}`
	wantNotification := &platform.Notification{ID: "nt-1", Org: "default", ChannelID: "ch-1", Kind: platform.NotifyTest, Rule: "test",
		Severity: platform.SeverityInfo, Summary: "Test", Since: created, Status: platform.NotificationFailed, Attempts: 1,
		LastError: "webhook: 500 Internal Server Error", NextAttemptAt: created.Add(time.Second), CreatedAt: created}
	silence := `{"id":"si-1","org":"default","namespace":"acme","until":"2026-01-02T05:04:05Z","created_by":"admin","created_at":"2026-01-02T03:04:05Z"}`
	wantSilence := &platform.Silence{ID: "si-1", Org: "default", Namespace: "acme", Until: created.Add(2 * time.Hour), CreatedBy: "admin", CreatedAt: created}
	tests := []struct {
		name     string
		status   int
		response string
		call     func(*Client) (any, error)
		want     recorded
		wantOut  any
	}{
		{
			name: "list rules, the built-ins without a creation time", status: 200,
			response: `{"rules":[{"id":"builtin:crash_loop","org":"default","name":"crash loop","kind":"crash_loop","severity":"critical","repeat_interval":"4h"},` + rule + `]}`,
			call:     func(c *Client) (any, error) { return c.ListAlertRules(ctx) },
			want:     recorded{Method: "GET", Path: "/v1/alerts/rules", Auth: "Bearer tok"},
			wantOut: []*platform.AlertRule{{ID: "builtin:crash_loop", Org: "default", Name: "crash loop", Kind: platform.AlertCrashLoop,
				Severity: platform.SeverityCritical, RepeatInterval: 4 * time.Hour}, wantRule},
		},
		{
			name: "create a metric rule", status: 201, response: rule,
			call: func(c *Client) (any, error) {
				return c.CreateAlertRule(ctx, &platform.AlertRule{ID: "ignored", Name: "api errors", Kind: platform.AlertErrorRate, Namespace: "acme",
					Service: "hello", Op: ">", Threshold: 5, Window: 5 * time.Minute, For: 90 * time.Second, Severity: platform.SeverityCritical,
					RepeatInterval: time.Hour})
			},
			want: recorded{Method: "POST", Path: "/v1/alerts/rules", Auth: "Bearer tok", ContentType: "application/json",
				Body: `{"name":"api errors","kind":"error_rate","namespace":"acme","service":"hello","op":"\u003e","threshold":5,"window":"5m",` +
					`"for":"1m30s","severity":"critical","repeat_interval":"1h"}`},
			wantOut: wantRule,
		},
		{
			name: "turn a built-in off", status: 201,
			response: `{"id":"ar-2","org":"default","namespace":"staging","name":"quiet","kind":"crash_loop","severity":"warning","disabled":true,"created_at":"2026-01-02T03:04:05Z"}`,
			call: func(c *Client) (any, error) {
				return c.CreateAlertRule(ctx, &platform.AlertRule{Name: "quiet", Kind: platform.AlertCrashLoop, Namespace: "staging",
					Severity: platform.SeverityWarning, Disabled: true})
			},
			want: recorded{Method: "POST", Path: "/v1/alerts/rules", Auth: "Bearer tok", ContentType: "application/json",
				Body: `{"name":"quiet","kind":"crash_loop","namespace":"staging","severity":"warning","disabled":true}`},
			wantOut: &platform.AlertRule{ID: "ar-2", Org: "default", Namespace: "staging", Name: "quiet", Kind: platform.AlertCrashLoop,
				Severity: platform.SeverityWarning, Disabled: true, CreatedAt: created},
		},
		{
			name: "delete a rule by name", status: 204,
			call: func(c *Client) (any, error) { return nil, c.DeleteAlertRule(ctx, "api/web errors") },
			want: recorded{Method: "DELETE", Path: "/v1/alerts/rules/api%2Fweb%20errors", Auth: "Bearer tok"},
		},
		{
			name: "list channels", status: 200,
			response: `{"channels":[{"id":"ch-1","org":"default","name":"ops","kind":"slack","config":{"channel":"#ops"},"min_severity":"warning","created_at":"2026-01-02T03:04:05Z"}]}`,
			call:     func(c *Client) (any, error) { return c.ListAlertChannels(ctx) },
			want:     recorded{Method: "GET", Path: "/v1/alerts/channels", Auth: "Bearer tok"},
			wantOut: []*platform.AlertChannel{{ID: "ch-1", Org: "default", Name: "ops", Kind: "slack", Config: map[string]string{"channel": "#ops"},
				MinSeverity: platform.SeverityWarning, CreatedAt: created}},
		},
		{
			name: "create a channel with its secret", status: 201,
			response: `{"id":"ch-2","org":"default","name":"hook","kind":"webhook","config":{"url":"https://h.example.com"},"created_at":"2026-01-02T03:04:05Z"}`,
			call: func(c *Client) (any, error) {
				return c.CreateAlertChannel(ctx, platform.CreateAlertChannelRequest{Name: "hook", Kind: "webhook",
					Config: map[string]string{"url": "https://h.example.com"}, Secret: "k", Services: []string{"hello"}})
			},
			want: recorded{Method: "POST", Path: "/v1/alerts/channels", Auth: "Bearer tok", ContentType: "application/json",
				Body: `{"name":"hook","kind":"webhook","config":{"url":"https://h.example.com"},"secret":"k","services":["hello"]}`},
			wantOut: &platform.AlertChannel{ID: "ch-2", Org: "default", Name: "hook", Kind: "webhook", Config: map[string]string{"url": "https://h.example.com"},
				CreatedAt: created},
		},
		{
			name: "delete a channel", status: 204,
			call: func(c *Client) (any, error) { return nil, c.DeleteAlertChannel(ctx, "ops") },
			want: recorded{Method: "DELETE", Path: "/v1/alerts/channels/ops", Auth: "Bearer tok"},
		},
		{
			name: "test a channel", status: 200, response: notification,
			call:    func(c *Client) (any, error) { return c.TestAlertChannel(ctx, "ops") },
			want:    recorded{Method: "POST", Path: "/v1/alerts/channels/ops/test", Auth: "Bearer tok"},
			wantOut: wantNotification,
		},
		{
			name: "list silences", status: 200, response: `{"silences":[` + silence + `]}`,
			call:    func(c *Client) (any, error) { return c.ListSilences(ctx) },
			want:    recorded{Method: "GET", Path: "/v1/alerts/silences", Auth: "Bearer tok"},
			wantOut: []*platform.Silence{wantSilence},
		},
		{
			name: "silence for a while", status: 201, response: silence,
			call: func(c *Client) (any, error) {
				return c.CreateSilence(ctx, platform.SilenceRequest{Namespace: "acme", Rule: "crash_loop", For: 2 * time.Hour, Comment: "fixing"})
			},
			want: recorded{Method: "POST", Path: "/v1/alerts/silences", Auth: "Bearer tok", ContentType: "application/json",
				Body: `{"namespace":"acme","rule":"crash_loop","for":"2h","comment":"fixing"}`},
			wantOut: wantSilence,
		},
		{
			name: "silence until", status: 201, response: silence,
			call: func(c *Client) (any, error) {
				return c.CreateSilence(ctx, platform.SilenceRequest{Until: time.Date(2026, 1, 2, 6, 4, 5, 5e8, time.FixedZone("", 3600))})
			},
			want: recorded{Method: "POST", Path: "/v1/alerts/silences", Auth: "Bearer tok", ContentType: "application/json",
				Body: `{"until":"2026-01-02T06:04:05.5+01:00"}`},
			wantOut: wantSilence,
		},
		{
			name: "unsilence", status: 204,
			call: func(c *Client) (any, error) { return nil, c.DeleteSilence(ctx, "si-1") },
			want: recorded{Method: "DELETE", Path: "/v1/alerts/silences/si-1", Auth: "Bearer tok"},
		},
		{
			name: "list alerts with filters", status: 200,
			response: `{"alerts":[{"id":"al-1","org":"default","key":"acme/builtin:crash_loop/hello","rule_id":"builtin:crash_loop","rule":"crash loop",` +
				`"kind":"crash_loop","severity":"critical","namespace":"acme","service":"hello","state":"firing","summary":"hello is crash-looping",` +
				`"since":"2026-01-02T03:04:05Z","fired_at":"2026-01-02T03:04:05Z","repeat_interval":"4h","updated_at":"2026-01-02T03:04:05Z"}]}`,
			call: func(c *Client) (any, error) {
				return c.ListAlerts(ctx, platform.AlertFilter{Org: "ignored", Namespace: "acme", State: platform.AlertFiring, Limit: 20})
			},
			want: recorded{Method: "GET", Path: "/v1/alerts", Query: "limit=20&namespace=acme&state=firing", Auth: "Bearer tok"},
			wantOut: []*platform.Alert{{ID: "al-1", Org: "default", Key: "acme/builtin:crash_loop/hello", RuleID: "builtin:crash_loop", Rule: "crash loop",
				Kind: platform.AlertCrashLoop, Severity: platform.SeverityCritical, Namespace: "acme", Service: "hello", State: platform.AlertFiring,
				Summary: "hello is crash-looping", Since: created, FiredAt: &created, RepeatInterval: 4 * time.Hour, UpdatedAt: created}},
		},
		{
			name: "list every alert", status: 200, response: `{"alerts":[]}`,
			call:    func(c *Client) (any, error) { return c.ListAlerts(ctx, platform.AlertFilter{}) },
			want:    recorded{Method: "GET", Path: "/v1/alerts", Auth: "Bearer tok"},
			wantOut: []*platform.Alert{},
		},
		{
			name: "history with filters", status: 200, response: `{"notifications":[` + notification + `]}`,
			call: func(c *Client) (any, error) {
				return c.AlertHistory(ctx, platform.NotificationFilter{AlertID: "al-1", ChannelID: "ch-1", Status: platform.NotificationDead, Limit: 5})
			},
			want:    recorded{Method: "GET", Path: "/v1/alerts/history", Query: "alert=al-1&channel=ch-1&limit=5&status=dead", Auth: "Bearer tok"},
			wantOut: []*platform.Notification{wantNotification},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, reqs := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.response == "" {
					w.WriteHeader(tt.status)
					return
				}
				writeJSON(w, tt.status, tt.response)
			})
			out, err := tt.call(New(srv.URL, WithToken("tok")))
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if len(*reqs) != 1 {
				t.Fatalf("server saw %d requests, want 1", len(*reqs))
			}
			got := (*reqs)[0]
			got.UA = ""
			if got != tt.want {
				t.Errorf("request = %+v\nwant      %+v", got, tt.want)
			}
			if tt.wantOut != nil && !reflect.DeepEqual(out, tt.wantOut) {
				t.Errorf("out = %#v\nwant  %#v", out, tt.wantOut)
			}
		})
	}
}

// TestAlertAnswersWithoutTheirFields checks that an answer missing what the API
// promises, or with a duration that is not one, is EUNAVAILABLE rather than a zero
// value handed to the caller; and that the server's errors come back as they were.
func TestAlertAnswersWithoutTheirFields(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v1/alerts/rules" && r.Method == "GET":
			writeJSON(w, 200, `{"rules":[{"id":"ar-1","window":"five minutes"}]}`)
		case r.URL.Path == "/v1/alerts":
			writeJSON(w, 200, `{"alerts":[{"id":"al-1","repeat_interval":14400000000000}]}`)
		case r.URL.Path == "/v1/alerts/silences" && r.Method == "POST":
			writeJSON(w, 400, `{"error":{"code":"invalid","message":"invalid silence: a silence ends within 2160h0m0s"}}`)
		default:
			writeJSON(w, 201, `{}`)
		}
	})
	c := New(srv.URL, WithToken("tok"))
	unavailable := func(what string, err error) {
		t.Helper()
		if platform.ErrorCode(err) != platform.EUNAVAILABLE {
			t.Errorf("%s: %v, want unavailable", what, err)
		}
	}
	_, err := c.ListAlertRules(ctx)
	unavailable("ListAlertRules", err)
	if !strings.Contains(platform.ErrorMessage(err), `window "five minutes" is not a duration`) {
		t.Errorf("ListAlertRules: %v, want the bad window named", err)
	}
	_, err = c.ListAlerts(ctx, platform.AlertFilter{})
	unavailable("ListAlerts", err)
	_, err = c.CreateAlertRule(ctx, &platform.AlertRule{Name: "x"})
	unavailable("CreateAlertRule", err)
	_, err = c.CreateAlertChannel(ctx, platform.CreateAlertChannelRequest{Name: "x"})
	unavailable("CreateAlertChannel", err)
	_, err = c.TestAlertChannel(ctx, "x")
	unavailable("TestAlertChannel", err)
	_, err = c.CreateSilence(ctx, platform.SilenceRequest{For: 100 * 24 * time.Hour})
	if platform.ErrorCode(err) != platform.EINVALID || platform.ErrorMessage(err) != "invalid silence: a silence ends within 2160h0m0s" {
		t.Errorf("CreateSilence: %v, want the server's invalid error", err)
	}
}
