package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	platform "github.com/micro/platform"
)

// Fixtures of the fake's alerting: channel IDs as the control plane makes them.
const (
	chOps    = "ch-0a1b2c3d4e5f6a7b"
	chOncall = "ch-1122334455667788"
	chHook   = "ch-99aabbccddeeff00"
)

// fakeAlerts are the fake's alerts, newest first, started before now.
func fakeAlerts(now time.Time) []*platform.Alert {
	fired := now.Add(-11 * time.Minute)
	resolved := now.Add(-2 * time.Hour)
	return []*platform.Alert{
		{ID: "al-2", Org: "default", Key: "acme/ar-1/api", RuleID: "ar-1", Rule: "api errors", Kind: platform.AlertErrorRate,
			Severity: platform.SeverityCritical, Namespace: "acme", Service: "api", State: platform.AlertPending,
			Summary: "api: error rate 7.5% > 5% over 5m", Since: now.Add(-90 * time.Second), RepeatInterval: time.Hour, UpdatedAt: now},
		{ID: "al-1", Org: "default", Key: "acme/builtin:crash_loop/hello", RuleID: "builtin:crash_loop", Rule: "crash loop", Kind: platform.AlertCrashLoop,
			Severity: platform.SeverityCritical, Namespace: "acme", Service: "hello", Region: "lon1", State: platform.AlertFiring,
			Summary: "hello is crash-looping in lon1", Reason: "panic: boom", Since: now.Add(-12 * time.Minute), FiredAt: &fired,
			RepeatInterval: 4 * time.Hour, UpdatedAt: fired},
		{ID: "al-0", Org: "default", Key: "globex/builtin:build_failed/worker", RuleID: "builtin:build_failed", Rule: "build failed",
			Kind: platform.AlertBuildFailed, Severity: platform.SeverityWarning, Namespace: "globex", Service: "worker", State: platform.AlertResolved,
			Summary: "worker v3 failed to build", Since: now.Add(-3 * time.Hour), FiredAt: &resolved, ResolvedAt: &resolved,
			RepeatInterval: 4 * time.Hour, UpdatedAt: resolved},
	}
}

// fakeRules are the built-ins and the organisation's rules.
func fakeRules() []*platform.AlertRule {
	var rules []*platform.AlertRule
	for _, k := range platform.BuiltinAlertKinds {
		rules = append(rules, platform.BuiltinRule("default", k))
	}
	return append(rules,
		&platform.AlertRule{ID: "ar-1", Org: "default", Name: "api errors", Kind: platform.AlertErrorRate, Namespace: "acme", Service: "api",
			Op: ">", Threshold: 5, Window: 5 * time.Minute, For: 2 * time.Minute, Severity: platform.SeverityCritical, RepeatInterval: time.Hour, CreatedAt: t0},
		&platform.AlertRule{ID: "ar-2", Org: "default", Name: "sandbox quiet", Kind: platform.AlertCrashLoop, Namespace: "sandbox",
			Severity: platform.SeverityWarning, Disabled: true, CreatedAt: t1},
		&platform.AlertRule{ID: "ar-3", Org: "default", Name: "worker memory", Kind: platform.AlertMemory, Service: "worker",
			Op: ">", Threshold: 512 << 20, Window: 10 * time.Minute, Severity: platform.SeverityWarning, CreatedAt: t1},
	)
}

func fakeChannels() []*platform.AlertChannel {
	return []*platform.AlertChannel{
		{ID: chHook, Org: "default", Name: "hook", Kind: platform.ChannelWebhook, Config: map[string]string{"url": "https://hooks.example.com/platform"},
			Services: []string{"hello"}, CreatedAt: t1},
		{ID: chOncall, Org: "default", Name: "oncall", Kind: platform.ChannelPagerDuty, Namespaces: []string{"acme"},
			MinSeverity: platform.SeverityCritical, CreatedAt: t1},
		{ID: chOps, Org: "default", Name: "ops", Kind: platform.ChannelSlack, Config: map[string]string{"channel": "#ops"},
			MinSeverity: platform.SeverityWarning, CreatedAt: t0},
	}
}

// fakeNotifications is the history, newest first.
func fakeNotifications() []*platform.Notification {
	sent := t1.Add(time.Second)
	return []*platform.Notification{
		{ID: "nt-3", Org: "default", ChannelID: chOncall, AlertID: "al-1", Kind: platform.NotifyFiring, Rule: "crash loop", Severity: platform.SeverityCritical,
			Namespace: "acme", Service: "hello", Summary: "hello is crash-looping in lon1", Since: t1, Status: platform.NotificationFailed, Attempts: 2,
			LastError: "pagerduty: 400 Bad Request: Invalid routing key", NextAttemptAt: t1.Add(4 * time.Second), CreatedAt: t1},
		{ID: "nt-2", Org: "default", ChannelID: chOps, AlertID: "al-1", Kind: platform.NotifyFiring, Rule: "crash loop", Severity: platform.SeverityCritical,
			Namespace: "acme", Service: "hello", Summary: "hello is crash-looping in lon1", Since: t1, Status: platform.NotificationSent, Attempts: 1,
			NextAttemptAt: t1, CreatedAt: t1, SentAt: &sent},
		{ID: "nt-1", Org: "default", ChannelID: chOps, Kind: platform.NotifyTest, Rule: "test", Severity: platform.SeverityInfo,
			Summary: "Test notification for channel ops, sent by admin", Since: t0, Status: platform.NotificationSent, Attempts: 1,
			NextAttemptAt: t0, CreatedAt: t0, SentAt: &t0},
	}
}

// wireRule is a rule as the API answers it.
func wireRule(r *platform.AlertRule) map[string]any {
	b, _ := json.Marshal(r)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for k, d := range map[string]time.Duration{"window": r.Window, "for": r.For, "repeat_interval": r.RepeatInterval} {
		delete(m, k)
		if d != 0 {
			m[k] = platform.ShortDuration(d)
		}
	}
	if r.CreatedAt.IsZero() {
		delete(m, "created_at")
	}
	return m
}

// strict decodes a request body as the server does: unknown fields are an error.
func strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// alertRoutes serves /v1/alerts and /v1/whoami (as f.whoamiRole, admin by default).
func (f *fakeAPI) alertRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/whoami", func(w http.ResponseWriter, r *http.Request) {
		role := platform.RoleOwner
		if f.whoamiRole != "" {
			role = f.whoamiRole
		}
		writeJSON(w, 200, platform.Whoami{Token: &platform.Token{ID: "t-0a1b2c3d4e5f6a7b", Name: "admin", Role: role, CreatedAt: t0},
			Org: "default", Role: role})
	})
	mux.HandleFunc("GET /v1/alerts", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, _ := strconv.Atoi(q.Get("limit"))
		var out []map[string]any
		for _, a := range fakeAlerts(time.Now()) {
			if (q.Get("namespace") != "" && a.Namespace != q.Get("namespace")) || (q.Get("state") != "" && string(a.State) != q.Get("state")) {
				continue
			}
			if limit > 0 && len(out) == limit {
				break
			}
			b, _ := json.Marshal(a)
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			m["repeat_interval"] = platform.ShortDuration(a.RepeatInterval)
			out = append(out, m)
		}
		writeJSON(w, 200, map[string]any{"alerts": orEmpty(out)})
	})
	mux.HandleFunc("GET /v1/alerts/rules", func(w http.ResponseWriter, r *http.Request) {
		var out []map[string]any
		for _, rule := range fakeRules() {
			out = append(out, wireRule(rule))
		}
		writeJSON(w, 200, map[string]any{"rules": out})
	})
	mux.HandleFunc("POST /v1/alerts/rules", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Name           string             `json:"name"`
			Kind           platform.AlertKind `json:"kind"`
			Namespace      string             `json:"namespace"`
			Service        string             `json:"service"`
			Op             string             `json:"op"`
			Threshold      float64            `json:"threshold"`
			Window         string             `json:"window"`
			For            string             `json:"for"`
			Severity       platform.Severity  `json:"severity"`
			RepeatInterval string             `json:"repeat_interval"`
			Disabled       bool               `json:"disabled"`
		}
		if err := strict(f.body(r), &body); err != nil {
			writeError(w, 400, platform.EINVALID, "invalid JSON: "+err.Error(), "")
			return
		}
		rule := &platform.AlertRule{ID: "ar-4", Org: "default", Name: body.Name, Kind: body.Kind, Namespace: body.Namespace, Service: body.Service,
			Op: body.Op, Threshold: body.Threshold, Severity: body.Severity, Disabled: body.Disabled, CreatedAt: t1}
		for _, d := range []struct {
			to *time.Duration
			v  string
		}{{&rule.Window, body.Window}, {&rule.For, body.For}, {&rule.RepeatInterval, body.RepeatInterval}} {
			if d.v != "" {
				*d.to, _ = time.ParseDuration(d.v)
			}
		}
		if err := rule.Validate(); err != nil {
			writeError(w, 400, platform.EINVALID, platform.ErrorMessage(err), "")
			return
		}
		writeJSON(w, 201, wireRule(rule))
	})
	mux.HandleFunc("DELETE /v1/alerts/rules/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if strings.HasPrefix(id, "builtin:") {
			writeError(w, 400, platform.EINVALID, id+" is a built-in rule: it cannot be deleted",
				"turn it off with a disabled rule of its kind: `platform alerts rules create --kind "+strings.TrimPrefix(id, "builtin:")+" --disabled`")
			return
		}
		for _, rule := range fakeRules() {
			if rule.ID == id || rule.Name == id {
				w.WriteHeader(204)
				return
			}
		}
		writeError(w, 404, platform.ENOTFOUND, fmt.Sprintf("alert rule %q not found", id), "")
	})
	mux.HandleFunc("GET /v1/alerts/channels", func(w http.ResponseWriter, r *http.Request) {
		if f.whoamiRole != "" && !f.whoamiRole.AtLeast(platform.RoleAdmin) {
			writeError(w, 403, platform.EFORBIDDEN, "alert.manage needs the admin role", "")
			return
		}
		writeJSON(w, 200, map[string]any{"channels": fakeChannels()})
	})
	mux.HandleFunc("POST /v1/alerts/channels", func(w http.ResponseWriter, r *http.Request) {
		var req platform.CreateAlertChannelRequest
		if err := strict(f.body(r), &req); err != nil {
			writeError(w, 400, platform.EINVALID, "invalid JSON: "+err.Error(), "")
			return
		}
		if req.Name == "ops" {
			writeError(w, 409, platform.ECONFLICT, `alert channel "ops" exists`, "")
			return
		}
		ch := &platform.AlertChannel{ID: "ch-aabbccddeeff0011", Org: "default", Name: req.Name, Kind: req.Kind, Config: req.Config,
			Namespaces: req.Namespaces, Services: req.Services, MinSeverity: req.MinSeverity, CreatedAt: t1}
		if err := ch.Validate(); err != nil {
			writeError(w, 400, platform.EINVALID, platform.ErrorMessage(err), "docs/alerting.md lists each kind's config keys and secret")
			return
		}
		writeJSON(w, 201, ch)
	})
	mux.HandleFunc("DELETE /v1/alerts/channels/{id}", func(w http.ResponseWriter, r *http.Request) {
		for _, ch := range fakeChannels() {
			if ch.ID == r.PathValue("id") || ch.Name == r.PathValue("id") {
				w.WriteHeader(204)
				return
			}
		}
		writeError(w, 404, platform.ENOTFOUND, fmt.Sprintf("alert channel %q not found", r.PathValue("id")), "")
	})
	mux.HandleFunc("POST /v1/alerts/channels/{id}/test", func(w http.ResponseWriter, r *http.Request) {
		n := &platform.Notification{ID: "nt-9", Org: "default", Kind: platform.NotifyTest, Rule: "test", Severity: platform.SeverityInfo,
			Summary: "Test notification", Since: t1, NextAttemptAt: t1, CreatedAt: t1}
		switch r.PathValue("id") {
		case "ops", chOps:
			n.ChannelID, n.Status, n.Attempts, n.SentAt = chOps, platform.NotificationSent, 1, &t1
		case "oncall", chOncall:
			n.ChannelID, n.Status, n.Attempts = chOncall, platform.NotificationFailed, 1
			n.LastError, n.NextAttemptAt = "pagerduty: 400 Bad Request: Invalid routing key", t1.Add(2*time.Second)
		case "hook", chHook:
			n.ChannelID, n.Status = chHook, platform.NotificationPending
		default:
			writeError(w, 404, platform.ENOTFOUND, fmt.Sprintf("alert channel %q not found", r.PathValue("id")), "")
			return
		}
		writeJSON(w, 200, n)
	})
	mux.HandleFunc("GET /v1/alerts/silences", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"silences": []*platform.Silence{
			{ID: "si-0a1b2c3d4e5f6a7b", Org: "default", Namespace: "acme", Service: "hello", Rule: "crash_loop", Until: t1.Add(2 * time.Hour),
				Comment: "deploying a fix", CreatedBy: "admin", CreatedAt: t1},
			{ID: "si-1122334455667788", Org: "default", Until: t1.Add(48 * time.Hour), Comment: "maintenance", CreatedBy: "alice", CreatedAt: t1},
		}})
	})
	mux.HandleFunc("POST /v1/alerts/silences", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Namespace, Service, Rule, Until, For, Comment string }
		if err := strict(f.body(r), &body); err != nil {
			writeError(w, 400, platform.EINVALID, "invalid JSON: "+err.Error(), "")
			return
		}
		s := &platform.Silence{ID: "si-99aabbccddeeff00", Org: "default", Namespace: body.Namespace, Service: body.Service, Rule: body.Rule,
			Comment: body.Comment, CreatedBy: "admin", CreatedAt: t1}
		if body.For != "" {
			d, _ := time.ParseDuration(body.For)
			if d > platform.MaxSilence {
				writeError(w, 400, platform.EINVALID, fmt.Sprintf("invalid silence: a silence ends within %s", platform.MaxSilence), "")
				return
			}
			s.Until = t1.Add(d) // the fake's now
		} else {
			s.Until, _ = time.Parse(time.RFC3339, body.Until)
		}
		writeJSON(w, 201, s)
	})
	mux.HandleFunc("DELETE /v1/alerts/silences/{id}", func(w http.ResponseWriter, r *http.Request) {
		if id := r.PathValue("id"); id != "si-0a1b2c3d4e5f6a7b" {
			writeError(w, 404, platform.ENOTFOUND, fmt.Sprintf("silence %q not found", id), "`platform alerts silences` lists them")
			return
		}
		w.WriteHeader(204)
	})
	mux.HandleFunc("GET /v1/alerts/history", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, _ := strconv.Atoi(q.Get("limit"))
		list := slices.DeleteFunc(fakeNotifications(), func(n *platform.Notification) bool {
			return (q.Get("alert") != "" && n.AlertID != q.Get("alert")) || (q.Get("channel") != "" && n.ChannelID != q.Get("channel")) ||
				(q.Get("status") != "" && string(n.Status) != q.Get("status"))
		})
		if limit > 0 && len(list) > limit {
			list = list[:limit]
		}
		writeJSON(w, 200, map[string]any{"notifications": orEmpty(list)})
	})
}
