package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/auth"
	"github.com/micro/platform/client"
)

// TestAlertRoutes covers every alerting route: status, body (durations as Go duration
// strings, no secret, no lease) and what the ControlPlane was asked.
func TestAlertRoutes(t *testing.T) {
	t.Parallel()
	const ts0 = `"2026-01-02T03:04:05Z"`
	rules := `{"rules":[` +
		`{"id":"builtin:crash_loop","org":"default","name":"crash loop","kind":"crash_loop","severity":"critical","repeat_interval":"4h"},` +
		`{"id":"ar-1","org":"default","namespace":"acme","name":"api errors","kind":"error_rate","service":"hello","op":">","threshold":5,` +
		`"window":"5m","for":"2m","severity":"critical","repeat_interval":"1h30m","created_at":` + ts0 + `}]}`
	notification := `{"id":"nt-1","org":"default","alert_id":"al-1","channel_id":"ch-1","kind":"firing","key":"acme/builtin:crash_loop/hello",` +
		`"rule":"crash loop","severity":"critical","namespace":"acme","service":"hello","summary":"hello is crash-looping","since":` + ts0 + `,` +
		`"status":"sent","attempts":1,"next_attempt_at":` + ts0 + `,"created_at":` + ts0 + `,"sent_at":"2026-01-02T03:04:06Z"}`
	alert := `{"id":"al-1","org":"default","key":"acme/builtin:crash_loop/hello","rule_id":"builtin:crash_loop","rule":"crash loop","kind":"crash_loop",` +
		`"severity":"critical","namespace":"acme","service":"hello","region":"lon1","state":"firing","summary":"hello is crash-looping in lon1",` +
		`"reason":"exit status 2","since":` + ts0 + `,"fired_at":"2026-01-02T03:05:05Z","repeat_interval":"4h","updated_at":"2026-01-02T03:05:05Z"}`
	until := time.Date(2026, 1, 2, 18, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantBody   string // JSON compared by value; "" means an empty body
		wantCall   string
		wantArg    any
	}{
		{name: "list alerts", method: "GET", path: "/v1/alerts",
			wantStatus: 200, wantBody: `{"alerts":[` + alert + `]}`, wantCall: "ListAlerts", wantArg: platform.AlertFilter{}},
		{name: "list alerts with filters", method: "GET", path: "/v1/alerts?namespace=acme&state=firing&limit=10",
			wantStatus: 200, wantBody: `{"alerts":[` + alert + `]}`, wantCall: "ListAlerts",
			wantArg: platform.AlertFilter{Namespace: "acme", State: platform.AlertFiring, Limit: 10}},
		{name: "history", method: "GET", path: "/v1/alerts/history",
			wantStatus: 200, wantBody: `{"notifications":[` + notification + `]}`, wantCall: "AlertHistory", wantArg: platform.NotificationFilter{}},
		{name: "history with filters", method: "GET", path: "/v1/alerts/history?alert=al-1&channel=ch-1&status=dead&limit=5",
			wantStatus: 200, wantBody: `{"notifications":[` + notification + `]}`, wantCall: "AlertHistory",
			wantArg: platform.NotificationFilter{AlertID: "al-1", ChannelID: "ch-1", Status: platform.NotificationDead, Limit: 5}},
		{name: "list rules", method: "GET", path: "/v1/alerts/rules",
			wantStatus: 200, wantBody: rules, wantCall: "ListAlertRules"},
		{name: "create a metric rule", method: "POST", path: "/v1/alerts/rules",
			body: `{"name":"slow","kind":"p99_latency","namespace":"acme","service":"hello","op":">","threshold":250.5,"window":"10m","for":"90s",` +
				`"severity":"warning","repeat_interval":"2h"}`,
			wantStatus: 201, wantCall: "CreateAlertRule",
			wantBody: `{"id":"ar-2","org":"default","namespace":"acme","name":"slow","kind":"p99_latency","service":"hello","op":">","threshold":250.5,` +
				`"window":"10m","for":"1m30s","severity":"warning","repeat_interval":"2h","created_at":` + ts0 + `}`,
			wantArg: platform.AlertRule{Name: "slow", Kind: platform.AlertP99Latency, Namespace: "acme", Service: "hello", Op: ">", Threshold: 250.5,
				Window: 10 * time.Minute, For: 90 * time.Second, Severity: platform.SeverityWarning, RepeatInterval: 2 * time.Hour}},
		{name: "turn a built-in off in a namespace", method: "POST", path: "/v1/alerts/rules",
			body:       `{"name":"no crash alerts in staging","kind":"crash_loop","namespace":"staging","severity":"critical","disabled":true}`,
			wantStatus: 201, wantCall: "CreateAlertRule",
			wantBody: `{"id":"ar-2","org":"default","namespace":"staging","name":"no crash alerts in staging","kind":"crash_loop","severity":"critical",` +
				`"disabled":true,"created_at":` + ts0 + `}`,
			wantArg: platform.AlertRule{Name: "no crash alerts in staging", Kind: platform.AlertCrashLoop, Namespace: "staging",
				Severity: platform.SeverityCritical, Disabled: true}},
		{name: "delete a rule", method: "DELETE", path: "/v1/alerts/rules/ar-1",
			wantStatus: 204, wantCall: "DeleteAlertRule", wantArg: "ar-1"},
		{name: "delete a rule by a name with a slash", method: "DELETE", path: "/v1/alerts/rules/api%2Fweb%20errors",
			wantStatus: 204, wantCall: "DeleteAlertRule", wantArg: "api/web errors"},
		{name: "list channels without their secrets", method: "GET", path: "/v1/alerts/channels",
			wantStatus: 200, wantCall: "ListAlertChannels",
			wantBody: `{"channels":[{"id":"ch-1","org":"default","name":"ops","kind":"slack","config":{"channel":"#ops"},"min_severity":"warning","created_at":` + ts0 + `}]}`},
		{name: "create a channel", method: "POST", path: "/v1/alerts/channels",
			body: `{"name":"hook","kind":"webhook","config":{"url":"https://hooks.example.com/platform"},"secret":"hmac-key",` +
				`"namespaces":["acme"],"services":["hello"],"min_severity":"critical"}`,
			wantStatus: 201, wantCall: "CreateAlertChannel",
			wantBody: `{"id":"ch-2","org":"default","name":"hook","kind":"webhook","config":{"url":"https://hooks.example.com/platform"},` +
				`"namespaces":["acme"],"services":["hello"],"min_severity":"critical","created_at":` + ts0 + `}`,
			wantArg: platform.CreateAlertChannelRequest{Name: "hook", Kind: "webhook", Config: map[string]string{"url": "https://hooks.example.com/platform"},
				Secret: "hmac-key", Namespaces: []string{"acme"}, Services: []string{"hello"}, MinSeverity: platform.SeverityCritical}},
		{name: "delete a channel", method: "DELETE", path: "/v1/alerts/channels/ops",
			wantStatus: 204, wantCall: "DeleteAlertChannel", wantArg: "ops"},
		{name: "test a channel", method: "POST", path: "/v1/alerts/channels/ops/test",
			wantStatus: 200, wantCall: "TestAlertChannel", wantArg: "ops",
			wantBody: `{"id":"nt-2","org":"default","channel_id":"ch-1","kind":"test","rule":"test","severity":"info",` +
				`"summary":"Test notification for channel ops, sent by admin","since":` + ts0 + `,"status":"failed","attempts":1,` +
				`"last_error":"slack: channel_not_found","next_attempt_at":"2026-01-02T03:04:06Z","created_at":` + ts0 + `}`},
		{name: "list silences encodes none as []", method: "GET", path: "/v1/alerts/silences",
			wantStatus: 200, wantBody: `{"silences":[]}`, wantCall: "ListSilences"},
		{name: "silence for a while", method: "POST", path: "/v1/alerts/silences",
			body:       `{"namespace":"acme","service":"hello","rule":"crash_loop","for":"2h","comment":"deploying a fix"}`,
			wantStatus: 201, wantCall: "CreateSilence",
			wantBody: `{"id":"si-1","org":"default","namespace":"acme","service":"hello","rule":"crash_loop","until":"2026-01-02T05:04:05Z",` +
				`"comment":"deploying a fix","created_by":"admin","created_at":` + ts0 + `}`,
			wantArg: platform.SilenceRequest{Namespace: "acme", Service: "hello", Rule: "crash_loop", For: 2 * time.Hour, Comment: "deploying a fix"}},
		{name: "silence until", method: "POST", path: "/v1/alerts/silences", body: `{"until":"2026-01-02T19:00:00+01:00"}`,
			wantStatus: 201, wantCall: "CreateSilence",
			wantBody: `{"id":"si-1","org":"default","until":"2026-01-02T19:00:00+01:00","created_by":"admin","created_at":` + ts0 + `}`,
			wantArg:  platform.SilenceRequest{Until: until.In(time.FixedZone("", 3600))}},
		{name: "unsilence", method: "DELETE", path: "/v1/alerts/silences/si-1",
			wantStatus: 204, wantCall: "DeleteSilence", wantArg: "si-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cp := &fakeControlPlane{}
			ts := newTestServer(t, cp, nil)
			resp, got := ts.do(t, tt.method, tt.path, adminSecret, strings.NewReader(tt.body))
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, got)
			}
			if tt.wantBody == "" {
				if len(got) != 0 {
					t.Errorf("body = %q, want empty", got)
				}
			} else {
				assertJSONEqual(t, got, tt.wantBody)
			}
			if calls := cp.Calls(); len(calls) != 1 || calls[0] != tt.wantCall {
				t.Fatalf("ControlPlane calls = %v, want [%s]", calls, tt.wantCall)
			}
			if tt.wantArg != nil && !equalArg(cp.LastArg(), tt.wantArg) {
				t.Errorf("ControlPlane got %#v, want %#v", cp.LastArg(), tt.wantArg)
			}
		})
	}
}

// equalArg is reflect.DeepEqual, with times compared as instants (a silence's until
// parsed from an offset keeps a location of its own).
func equalArg(got, want any) bool {
	g, ok1 := got.(platform.SilenceRequest)
	w, ok2 := want.(platform.SilenceRequest)
	if ok1 && ok2 {
		if !g.Until.Equal(w.Until) {
			return false
		}
		g.Until, w.Until = time.Time{}, time.Time{}
		return reflect.DeepEqual(g, w)
	}
	return reflect.DeepEqual(got, want)
}

// TestAlertRouteRefusals covers the requests refused before the ControlPlane is asked
// (strict decoding, bad durations, times and filters) and those it refuses.
func TestAlertRouteRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		cp         *fakeControlPlane
		method     string
		path       string
		secret     string
		body       string
		wantStatus int
		wantCode   string
		wantMsg    string
		wantCalls  int
	}{
		{name: "rule with an unknown field", method: "POST", path: "/v1/alerts/rules", secret: adminSecret,
			body: `{"name":"x","kind":"error_rate","op":">","threshold":5,"severty":"warning"}`, wantStatus: 400, wantCode: platform.EINVALID,
			wantMsg: `unknown field "severty"`},
		{name: "rule with its id", method: "POST", path: "/v1/alerts/rules", secret: adminSecret,
			body: `{"id":"builtin:crash_loop","name":"x","kind":"crash_loop","severity":"warning"}`, wantStatus: 400, wantCode: platform.EINVALID,
			wantMsg: `unknown field "id"`},
		{name: "rule with a window in nanoseconds", method: "POST", path: "/v1/alerts/rules", secret: adminSecret,
			body: `{"name":"x","kind":"error_rate","op":">","threshold":5,"window":300000000000,"severity":"warning"}`, wantStatus: 400,
			wantCode: platform.EINVALID, wantMsg: "window must be string, not number"},
		{name: "rule with bad durations, every one named", method: "POST", path: "/v1/alerts/rules", secret: adminSecret,
			body:       `{"name":"x","kind":"error_rate","op":">","threshold":5,"window":"5 minutes","for":"2m","repeat_interval":"1d","severity":"warning"}`,
			wantStatus: 400, wantCode: platform.EINVALID,
			wantMsg: `window "5 minutes": use a Go duration such as "5m" or "1h30m"; repeat_interval "1d": use a Go duration`},
		{name: "rule refused by the control plane keeps its message",
			cp:     &fakeControlPlane{err: platform.Errorf(platform.EINVALID, "op \"=\": use > or <; severity \"\": use info, warning or critical")},
			method: "POST", path: "/v1/alerts/rules", secret: adminSecret, body: `{"name":"x","kind":"error_rate","op":"="}`,
			wantStatus: 400, wantCode: platform.EINVALID, wantMsg: `op "=": use > or <; severity "": use info, warning or critical`, wantCalls: 1},
		{name: "rule that is not an object", method: "POST", path: "/v1/alerts/rules", secret: adminSecret, body: `[]`,
			wantStatus: 400, wantCode: platform.EINVALID, wantMsg: "body must be"},
		{name: "rule without a body", method: "POST", path: "/v1/alerts/rules", secret: adminSecret,
			wantStatus: 400, wantCode: platform.EINVALID, wantMsg: "request body is empty"},
		{name: "rule by a narrowed token", method: "POST", path: "/v1/alerts/rules", secret: scopedSecret,
			body: `{"name":"x","kind":"crash_loop","severity":"warning"}`, wantStatus: 403, wantCode: platform.EFORBIDDEN, wantCalls: 1},
		{name: "channel with an unknown field", method: "POST", path: "/v1/alerts/channels", secret: adminSecret,
			body: `{"name":"ops","kind":"slack","secrets":"https://hooks.slack.com/x"}`, wantStatus: 400, wantCode: platform.EINVALID,
			wantMsg: `unknown field "secrets"`},
		{name: "channel with a config that is not strings", method: "POST", path: "/v1/alerts/channels", secret: adminSecret,
			body: `{"name":"mail","kind":"email","config":{"port":587}}`, wantStatus: 400, wantCode: platform.EINVALID,
			wantMsg: "must be string, not number"},
		{name: "channels for a narrowed token", method: "GET", path: "/v1/alerts/channels", secret: scopedSecret,
			wantStatus: 403, wantCode: platform.EFORBIDDEN, wantCalls: 1},
		{name: "silence with a bad until", method: "POST", path: "/v1/alerts/silences", secret: adminSecret, body: `{"until":"tomorrow"}`,
			wantStatus: 400, wantCode: platform.EINVALID, wantMsg: `until "tomorrow": use an RFC 3339 time`},
		{name: "silence with a bad for", method: "POST", path: "/v1/alerts/silences", secret: adminSecret, body: `{"for":"2 hours"}`,
			wantStatus: 400, wantCode: platform.EINVALID, wantMsg: `for "2 hours": use a Go duration`},
		{name: "silence with an unknown field", method: "POST", path: "/v1/alerts/silences", secret: adminSecret, body: `{"for":"2h","until":"","ns":"acme"}`,
			wantStatus: 400, wantCode: platform.EINVALID, wantMsg: `unknown field "ns"`},
		{name: "silence with trailing data", method: "POST", path: "/v1/alerts/silences", secret: adminSecret, body: `{"for":"2h"}{}`,
			wantStatus: 400, wantCode: platform.EINVALID, wantMsg: "unexpected data after the JSON value"},
		{name: "alerts of an unknown state", method: "GET", path: "/v1/alerts?state=open&limit=0", secret: adminSecret,
			wantStatus: 400, wantCode: platform.EINVALID,
			wantMsg: `query parameter state="open": use one of pending, firing, resolved; query parameter limit="0": use 1 to 1000`},
		{name: "history of an unknown status", method: "GET", path: "/v1/alerts/history?status=delivered", secret: adminSecret,
			wantStatus: 400, wantCode: platform.EINVALID, wantMsg: `query parameter status="delivered": use one of pending, sent, failed, dead, silenced`},
		{name: "history with too large a limit", method: "GET", path: "/v1/alerts/history?limit=5000", secret: adminSecret,
			wantStatus: 400, wantCode: platform.EINVALID, wantMsg: `query parameter limit="5000": use 1 to 1000`},
		{name: "alerts without a token", method: "GET", path: "/v1/alerts",
			wantStatus: 401, wantCode: platform.EUNAUTHENTICATED, wantCalls: 1},
		{name: "test of an unknown channel", cp: &fakeControlPlane{err: platform.Errorf(platform.ENOTFOUND, `alert channel "nope" not found`)},
			method: "POST", path: "/v1/alerts/channels/nope/test", secret: adminSecret,
			wantStatus: 404, wantCode: platform.ENOTFOUND, wantMsg: `alert channel "nope" not found`, wantCalls: 1},
		{name: "alerts are read, not posted", method: "POST", path: "/v1/alerts", secret: adminSecret, body: `{}`,
			wantStatus: 405, wantCode: platform.EINVALID, wantMsg: "method POST is not allowed on /v1/alerts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cp := tt.cp
			if cp == nil {
				cp = &fakeControlPlane{}
			}
			ts := newTestServer(t, cp, nil)
			resp, got := ts.do(t, tt.method, tt.path, tt.secret, bytes.NewReader([]byte(tt.body)))
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, got)
			}
			e := mustErrorBody(t, resp, got)
			if e.Code != tt.wantCode || !strings.Contains(e.Message, tt.wantMsg) {
				t.Errorf("error %s %q, want %s containing %q", e.Code, e.Message, tt.wantCode, tt.wantMsg)
			}
			if calls := cp.Calls(); len(calls) != tt.wantCalls {
				t.Errorf("ControlPlane calls = %v, want %d", calls, tt.wantCalls)
			}
		})
	}
}

// TestAlertsClientRoundTrip sends every alerting method of package client through the
// server to the fake ControlPlane: what the client sends is what the ControlPlane gets
// (durations and times intact), and what it answers is what the client returns.
func TestAlertsClientRoundTrip(t *testing.T) {
	t.Parallel()
	cp := &fakeControlPlane{}
	ts := newTestServer(t, cp, nil)
	c := client.New(ts.URL, client.WithToken(adminSecret))
	ctx := context.Background()
	last := func(method string, want any) {
		t.Helper()
		calls := cp.Calls()
		if len(calls) == 0 || calls[len(calls)-1] != method {
			t.Fatalf("ControlPlane calls = %v, want %s last", calls, method)
		}
		if want != nil && !equalArg(cp.LastArg(), want) {
			t.Errorf("%s got %#v, want %#v", method, cp.LastArg(), want)
		}
	}

	rules, err := c.ListAlertRules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rules, cannedAlertRules()) {
		t.Errorf("rules\n%#v\nwant\n%#v", rules[1], cannedAlertRules()[1])
	}
	in := &platform.AlertRule{Name: "slow", Kind: platform.AlertP99Latency, Namespace: "acme", Op: ">", Threshold: 250,
		Window: 10 * time.Minute, For: 90 * time.Second, Severity: platform.SeverityWarning, RepeatInterval: 26 * time.Hour, Disabled: true}
	rule, err := c.CreateAlertRule(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	last("CreateAlertRule", *in)
	want := *in
	want.ID, want.Org, want.CreatedAt = "ar-2", platform.DefaultOrg, t0
	if !reflect.DeepEqual(rule, &want) {
		t.Errorf("created rule %#v, want %#v", rule, &want)
	}
	if err := c.DeleteAlertRule(ctx, "api/web errors"); err != nil {
		t.Fatal(err)
	}
	last("DeleteAlertRule", "api/web errors")

	chs, err := c.ListAlertChannels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(chs) != 1 || chs[0].Name != "ops" || chs[0].Secret != "" || chs[0].Config["channel"] != "#ops" || !chs[0].CreatedAt.Equal(t0) {
		t.Errorf("channels %+v, want ops without its secret", chs)
	}
	chReq := platform.CreateAlertChannelRequest{Name: "pager", Kind: platform.ChannelPagerDuty, Secret: "0123456789abcdef0123456789abcdef",
		Namespaces: []string{"acme"}, MinSeverity: platform.SeverityCritical}
	ch, err := c.CreateAlertChannel(ctx, chReq)
	if err != nil {
		t.Fatal(err)
	}
	last("CreateAlertChannel", chReq)
	if ch.ID != "ch-2" || ch.Secret != "" || ch.MinSeverity != platform.SeverityCritical {
		t.Errorf("created channel %+v", ch)
	}
	n, err := c.TestAlertChannel(ctx, "ops")
	if err != nil {
		t.Fatal(err)
	}
	last("TestAlertChannel", "ops")
	if n.Status != platform.NotificationFailed || n.LastError != "slack: channel_not_found" || n.Kind != platform.NotifyTest {
		t.Errorf("test notification %+v", n)
	}
	if err := c.DeleteAlertChannel(ctx, "ops"); err != nil {
		t.Fatal(err)
	}
	last("DeleteAlertChannel", "ops")

	sils, err := c.ListSilences(ctx)
	if err != nil || sils == nil || len(sils) != 0 {
		t.Errorf("silences %v, %v: want none, not nil", sils, err)
	}
	for _, req := range []platform.SilenceRequest{
		{Namespace: "acme", Service: "hello", Rule: "crash_loop", For: 150 * time.Minute, Comment: "fixing"},
		{Until: time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)},
	} {
		s, err := c.CreateSilence(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		last("CreateSilence", req)
		wantUntil := req.Until
		if req.For > 0 {
			wantUntil = t0.Add(req.For)
		}
		if s.ID != "si-1" || !s.Until.Equal(wantUntil) || s.Namespace != req.Namespace {
			t.Errorf("silence %+v for %+v", s, req)
		}
	}
	if err := c.DeleteSilence(ctx, "si-1"); err != nil {
		t.Fatal(err)
	}
	last("DeleteSilence", "si-1")

	f := platform.AlertFilter{Namespace: "acme", State: platform.AlertFiring, Limit: 7}
	alerts, err := c.ListAlerts(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	last("ListAlerts", f)
	if len(alerts) != 1 || alerts[0].RepeatInterval != 4*time.Hour || alerts[0].FiredAt == nil || alerts[0].Version != 0 || alerts[0].State != platform.AlertFiring {
		t.Errorf("alerts %+v", alerts)
	}
	nf := platform.NotificationFilter{AlertID: "al-1", ChannelID: "ch-1", Status: platform.NotificationSent, Limit: 3}
	hist, err := c.AlertHistory(ctx, nf)
	if err != nil {
		t.Fatal(err)
	}
	last("AlertHistory", nf)
	wantN := cannedNotification()
	wantN.Lease = ""
	if len(hist) != 1 || !reflect.DeepEqual(hist[0], wantN) {
		t.Errorf("history %+v, want %+v", hist[0], wantN)
	}

	// Errors keep their code and message.
	cp.err = platform.Errorf(platform.EINVALID, "a silence needs an expiry (until)")
	if _, err := c.CreateSilence(ctx, platform.SilenceRequest{}); platform.ErrorCode(err) != platform.EINVALID || platform.ErrorMessage(err) != "a silence needs an expiry (until)" {
		t.Errorf("CreateSilence error %v, want the control plane's", err)
	}
}

// TestAlertPolicy runs the alerting routes through the real server and control plane:
// a viewer lists alerts, rules and silences but may neither create a rule nor see the
// channels; an admin's bad input is 400 with every problem named; a channel's secret
// never comes back.
func TestAlertPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("real server skipped under -short")
	}
	t.Parallel()
	s := newRealServer(t)
	s.ensure(t)
	ctx := t.Context()
	secrets := map[platform.Role]string{}
	for _, role := range []platform.Role{platform.RoleViewer, platform.RoleAdmin} {
		u := &platform.User{ID: "u-alert-" + string(role), Login: "alert-" + string(role), Source: platform.UserLocal}
		if err := s.store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := s.store.PutMembership(ctx, &platform.Membership{Org: platform.DefaultOrg, UserID: u.ID, Role: role, Source: platform.MemberLocal}); err != nil {
			t.Fatal(err)
		}
		secret, hash := auth.NewSecret()
		if err := s.store.CreateToken(ctx, &platform.Token{ID: platform.NewID("t"), Name: u.Login, Hash: hash, UserID: u.ID,
			Org: platform.DefaultOrg, Role: role}); err != nil {
			t.Fatal(err)
		}
		secrets[role] = secret
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	send := func(role platform.Role, method, path, body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+secrets[role])
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	errorOf := func(b []byte) (code, msg string) {
		var e struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal(b, &e)
		return e.Error.Code, e.Error.Message
	}

	rule := `{"name":"api errors","kind":"error_rate","namespace":"own","op":">","threshold":5,"window":"10m","for":"2m","severity":"critical"}`
	for _, tt := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/v1/alerts", "", 200},
		{"GET", "/v1/alerts/rules", "", 200},
		{"GET", "/v1/alerts/silences", "", 200},
		{"GET", "/v1/alerts/history", "", 200},
		{"POST", "/v1/alerts/rules", rule, 403},
		{"GET", "/v1/alerts/channels", "", 403},
		{"POST", "/v1/alerts/silences", `{"for":"1h"}`, 403},
	} {
		code, body := send(platform.RoleViewer, tt.method, tt.path, tt.body)
		if code != tt.want {
			t.Errorf("viewer %s %s: %d %s, want %d", tt.method, tt.path, code, body, tt.want)
		}
		if c, msg := errorOf(body); tt.want == 403 && (c != platform.EFORBIDDEN || !strings.Contains(msg, "alert.manage needs the admin role")) {
			t.Errorf("viewer %s %s: refusal %s %q, want forbidden naming alert.manage", tt.method, tt.path, c, msg)
		}
	}

	// The admin's rule comes back with its durations as written.
	code, body := send(platform.RoleAdmin, "POST", "/v1/alerts/rules", rule)
	if code != 201 {
		t.Fatalf("create rule: %d %s", code, body)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil || got["window"] != "10m" || got["for"] != "2m" || got["threshold"] != 5.0 {
		t.Errorf("created rule %s, want window 10m, for 2m, threshold 5", body)
	}
	code, body = send(platform.RoleViewer, "GET", "/v1/alerts/rules", "")
	if code != 200 || !strings.Contains(string(body), `"builtin:crash_loop"`) || !strings.Contains(string(body), `"api errors"`) {
		t.Errorf("viewer's rules: %d %s, want the built-ins and the admin's rule", code, body)
	}

	// Bad input: 400 with the control plane's message, every problem named.
	code, body = send(platform.RoleAdmin, "POST", "/v1/alerts/rules",
		`{"name":"","kind":"error_rate","op":"=","threshold":500,"window":"90s","severity":"urgent"}`)
	if c, msg := errorOf(body); code != 400 || c != platform.EINVALID ||
		!strings.Contains(msg, "a rule needs a name") || !strings.Contains(msg, `op "=": use > or <`) ||
		!strings.Contains(msg, "more than 100") || !strings.Contains(msg, "window 1m30s: use whole minutes") || !strings.Contains(msg, `severity "urgent"`) {
		t.Errorf("bad rule: %d %s, want 400 naming every problem", code, body)
	}
	code, body = send(platform.RoleAdmin, "POST", "/v1/alerts/channels", `{"name":"hook","kind":"webhook","config":{"url":"ftp://x"}}`)
	if c, msg := errorOf(body); code != 400 || c != platform.EINVALID || !strings.Contains(msg, "url: must be an http or https URL") ||
		!strings.Contains(msg, "the signing key (the secret) is empty") {
		t.Errorf("bad channel: %d %s, want 400 naming the url and the secret", code, body)
	}
	code, body = send(platform.RoleAdmin, "POST", "/v1/alerts/silences", `{"for":"2400h"}`)
	if c, msg := errorOf(body); code != 400 || c != platform.EINVALID || !strings.Contains(msg, "a silence ends within") {
		t.Errorf("long silence: %d %s, want 400", code, body)
	}

	// A channel's secret is sealed and never answered.
	const key = "whsec-do-not-echo-0123456789"
	code, body = send(platform.RoleAdmin, "POST", "/v1/alerts/channels",
		`{"name":"hook","kind":"webhook","config":{"url":"https://hooks.example.com/platform"},"secret":"`+key+`","min_severity":"critical"}`)
	if code != 201 || strings.Contains(string(body), key) {
		t.Fatalf("create channel: %d %s", code, body)
	}
	code, body = send(platform.RoleAdmin, "GET", "/v1/alerts/channels", "")
	if code != 200 || !strings.Contains(string(body), `"hook"`) || strings.Contains(string(body), key) || strings.Contains(string(body), "secret") {
		t.Errorf("channels: %d %s, want hook without its secret", code, body)
	}

	// Silences: made for 2h, listed to the viewer, ended by the admin.
	code, body = send(platform.RoleAdmin, "POST", "/v1/alerts/silences", `{"namespace":"own","rule":"crash_loop","for":"2h","comment":"fixing"}`)
	var sil platform.Silence
	if code != 201 || json.Unmarshal(body, &sil) != nil || time.Until(sil.Until) < 119*time.Minute || sil.CreatedBy != "alert-admin" {
		t.Fatalf("silence: %d %s", code, body)
	}
	if code, body = send(platform.RoleViewer, "GET", "/v1/alerts/silences", ""); code != 200 || !strings.Contains(string(body), sil.ID) {
		t.Errorf("viewer's silences: %d %s, want %s", code, body, sil.ID)
	}
	if code, body = send(platform.RoleAdmin, "DELETE", "/v1/alerts/silences/"+sil.ID, ""); code != 204 {
		t.Errorf("unsilence: %d %s", code, body)
	}
	if code, body = send(platform.RoleAdmin, "DELETE", "/v1/alerts/rules/builtin:crash_loop", ""); code != 400 ||
		!strings.Contains(string(body), "built-in rule") {
		t.Errorf("delete a built-in: %d %s, want 400", code, body)
	}
	if code, body = send(platform.RoleAdmin, "DELETE", "/v1/alerts/rules/api%20errors", ""); code != 204 {
		t.Errorf("delete the rule by name: %d %s", code, body)
	}
}
