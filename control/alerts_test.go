package control_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/alerting"
	"github.com/micro/platform/alerting/notify"
	"github.com/micro/platform/control"
	"github.com/micro/platform/internal/seal"
)

// TestAlertChannelsAreSealedAndTheOrgs: a channel's secret is sealed at rest and never
// returned; a bad channel is refused with every problem and nothing saved; viewers read
// rules but neither channels nor changes; another organisation sees none of it.
func TestAlertChannelsAreSealedAndTheOrgs(t *testing.T) {
	t.Parallel()
	h := newAccounts(t)
	h.namespace("acme")
	ctx := t.Context()
	const secret = "hmac-key-of-acme-0123456789"

	_, err := h.plane.CreateAlertChannel(h.owner, platform.CreateAlertChannelRequest{
		Name: "", Kind: "webhook", Config: map[string]string{"url": "http://127.0.0.1:4222/", "colour": "red"}, Secret: secret,
	})
	wantErr(t, err, platform.EINVALID, "a channel needs a name")
	for _, want := range []string{"private address", "colour"} {
		if !strings.Contains(platform.ErrorMessage(err), want) {
			t.Errorf("refusal %q does not say %q", platform.ErrorMessage(err), want)
		}
	}
	_, err = h.plane.CreateAlertChannel(h.owner, platform.CreateAlertChannelRequest{Name: "ops", Kind: "webhook",
		Config: map[string]string{"url": "https://hooks.acme.example/alerts"}, Secret: secret, Namespaces: []string{"nope"}})
	wantErr(t, err, platform.ENOTFOUND, `namespace "nope" not found`)
	if chs, _ := h.store.ListAlertChannels(ctx, ""); len(chs) != 0 {
		t.Fatalf("refused channels were saved: %+v", chs)
	}

	ch, err := h.plane.CreateAlertChannel(h.owner, platform.CreateAlertChannelRequest{Name: "ops", Kind: "webhook",
		Config: map[string]string{"url": "https://hooks.acme.example/alerts"}, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := h.store.GetAlertChannel(ctx, ch.ID)
	if err != nil {
		t.Fatal(err)
	}
	box, _ := seal.New([]byte("test secret key, 32 bytes long!!"), "release-env")
	if stored.Secret == secret || strings.Contains(stored.Secret, secret) {
		t.Fatalf("the secret is stored in the clear: %q", stored.Secret)
	}
	if opened, err := box.Open(stored.Secret); err != nil || opened != secret {
		t.Fatalf("the stored secret opens to %q, %v", opened, err)
	}
	list, err := h.plane.ListAlertChannels(h.owner)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(list)
	if len(list) != 1 || strings.Contains(string(b), secret) || list[0].Secret != "" {
		t.Fatalf("channels listed = %s, want ops without its secret", b)
	}
	entries, err := h.plane.ListAudit(h.owner, platform.AuditFilter{Action: platform.AuditAlertChannel})
	if err != nil || len(entries) != 1 || strings.Contains(entries[0].Detail, secret) {
		t.Fatalf("audit of the channel = %+v, %v", entries, err)
	}

	viewer, _ := h.member("vera", platform.RoleViewer)
	if rules, err := h.plane.ListAlertRules(viewer); err != nil || len(rules) != len(platform.BuiltinAlertKinds) {
		t.Fatalf("a viewer lists rules: %d, %v; want the %d built-ins", len(rules), err, len(platform.BuiltinAlertKinds))
	}
	_, err = h.plane.ListAlertChannels(viewer)
	wantErr(t, err, platform.EFORBIDDEN, "")
	_, err = h.plane.CreateAlertRule(viewer, &platform.AlertRule{Name: "x", Kind: platform.AlertErrorRate, Op: ">", Threshold: 5, Severity: platform.SeverityWarning})
	wantErr(t, err, platform.EFORBIDDEN, "")
	_, err = h.plane.CreateSilence(viewer, platform.SilenceRequest{For: time.Hour})
	wantErr(t, err, platform.EFORBIDDEN, "")

	globex := h.orgOwner("globex", "gina")
	if chs, err := h.plane.ListAlertChannels(globex); err != nil || len(chs) != 0 {
		t.Fatalf("globex lists channels %+v, %v; want none", chs, err)
	}
	wantErr(t, h.plane.DeleteAlertChannel(globex, ch.ID), platform.ENOTFOUND, "not found")
	_, err = h.plane.TestAlertChannel(globex, "ops")
	wantErr(t, err, platform.ENOTFOUND, "not found")
	_, err = h.plane.CreateAlertRule(globex, &platform.AlertRule{Name: "x", Namespace: "acme", Kind: platform.AlertErrorRate, Op: ">", Threshold: 5, Severity: platform.SeverityWarning})
	wantErr(t, err, platform.ENOTFOUND, `namespace "acme" not found`)
	_, err = h.plane.CreateSilence(globex, platform.SilenceRequest{Namespace: "acme", For: time.Hour})
	wantErr(t, err, platform.ENOTFOUND, `namespace "acme" not found`)
	if err := h.plane.DeleteAlertChannel(h.owner, "ops"); err != nil {
		t.Fatalf("delete by name: %v", err)
	}
}

// TestAlertRulesAndSilences: rules are validated with every problem, built-ins cannot
// be deleted, and silences need a future expiry.
func TestAlertRulesAndSilences(t *testing.T) {
	t.Parallel()
	h := newAccounts(t)
	h.namespace("acme")

	_, err := h.plane.CreateAlertRule(h.owner, &platform.AlertRule{Name: "slow", Kind: "latency", Op: ">>", Severity: "urgent"})
	wantErr(t, err, platform.EINVALID, `kind "latency"`)
	if !strings.Contains(platform.ErrorMessage(err), `severity "urgent"`) {
		t.Errorf("refusal %q does not name the severity", platform.ErrorMessage(err))
	}
	r, err := h.plane.CreateAlertRule(h.owner, &platform.AlertRule{ID: "mine", Name: "errors", Namespace: "acme", Kind: platform.AlertErrorRate,
		Op: ">", Threshold: 5, Window: 5 * time.Minute, For: time.Minute, Severity: platform.SeverityCritical})
	if err != nil {
		t.Fatal(err)
	}
	if r.ID == "mine" || r.Org != platform.DefaultOrg || r.CreatedAt.IsZero() {
		t.Fatalf("rule = %+v: the plane sets its ID, org and time", r)
	}
	rules, err := h.plane.ListAlertRules(h.owner)
	if err != nil || len(rules) != len(platform.BuiltinAlertKinds)+1 || rules[len(rules)-1].ID != r.ID {
		t.Fatalf("rules = %+v, %v", rules, err)
	}
	wantErr(t, h.plane.DeleteAlertRule(h.owner, "builtin:crash_loop"), platform.EINVALID, "built-in")

	// A narrowed token sees the organisation-wide rules and its namespaces' only.
	h.namespace("other")
	if _, err := h.plane.CreateAlertRule(h.owner, &platform.AlertRule{Name: "other errors", Namespace: "other", Kind: platform.AlertErrorRate,
		Op: ">", Threshold: 5, Severity: platform.SeverityWarning}); err != nil {
		t.Fatal(err)
	}
	_, narrow, err := h.plane.CreateToken(h.owner, platform.CreateTokenRequest{Name: "ci", Role: platform.RoleDeveloper, Namespaces: []string{"acme"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := h.plane.ListAlertRules(h.as(narrow)); err != nil || len(got) != len(platform.BuiltinAlertKinds)+1 {
		t.Fatalf("a token of acme lists %d rules, %v; want the built-ins and acme's", len(got), err)
	}

	_, err = h.plane.CreateSilence(h.owner, platform.SilenceRequest{Service: "api"})
	wantErr(t, err, platform.EINVALID, "expiry")
	_, err = h.plane.CreateSilence(h.owner, platform.SilenceRequest{Until: time.Now().Add(-time.Hour)})
	wantErr(t, err, platform.EINVALID, "not in the future")
	_, err = h.plane.CreateSilence(h.owner, platform.SilenceRequest{For: 365 * 24 * time.Hour})
	wantErr(t, err, platform.EINVALID, "within")
	s, err := h.plane.CreateSilence(h.owner, platform.SilenceRequest{Namespace: "acme", Rule: "errors", For: time.Hour, Comment: "deploying"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Rule != r.ID {
		t.Fatalf("a silence of rule %q matches %q, want the rule's ID %s", "errors", s.Rule, r.ID)
	}
	if ss, err := h.plane.ListSilences(h.owner); err != nil || len(ss) != 1 {
		t.Fatalf("silences = %+v, %v", ss, err)
	}
	if err := h.plane.DeleteSilence(h.owner, s.ID); err != nil {
		t.Fatal(err)
	}
	if ss, _ := h.plane.ListSilences(h.owner); len(ss) != 0 {
		t.Fatalf("silences after the delete = %+v", ss)
	}
	if err := h.plane.DeleteAlertRule(h.owner, "errors"); err != nil {
		t.Fatalf("delete by name: %v", err)
	}
}

// TestAlertChannelTestReachesIt: `platform alerts test` goes through the real engine's
// outbox to a real webhook sender, and comes back sent, or failed with the reason.
func TestAlertChannelTestReachesIt(t *testing.T) {
	t.Parallel()
	var status atomic.Int32
	status.Store(http.StatusNoContent)
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(string(b))
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()

	var engine *alerting.Engine
	h := newAccounts(t, func(o *control.Options) {
		o.AlertsAllowPrivate = true
		box := o.Secrets
		engine = alerting.New(alerting.Options{Store: o.Store, Open: box.Open, MaxAttempts: 2,
			Senders: notify.Senders(notify.Options{AllowPrivate: true})})
		o.Alerts = engine
	})
	if err := engine.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.plane.CreateAlertChannel(h.owner, platform.CreateAlertChannelRequest{Name: "hook", Kind: "webhook",
		Config: map[string]string{"url": srv.URL}, Secret: "k"}); err != nil {
		t.Fatal(err)
	}
	n, err := h.plane.TestAlertChannel(h.owner, "hook")
	if err != nil {
		t.Fatal(err)
	}
	if n.Status != platform.NotificationSent || n.Kind != platform.NotifyTest {
		t.Fatalf("test notification = %+v, want sent", n)
	}
	if body, _ := got.Load().(string); !strings.Contains(body, `"kind":"test"`) {
		t.Fatalf("the receiver got %q", body)
	}

	status.Store(http.StatusBadGateway)
	n, err = h.plane.TestAlertChannel(h.owner, "hook")
	if err != nil {
		t.Fatal(err)
	}
	if n.Status != platform.NotificationFailed || !strings.Contains(n.LastError, "502") {
		t.Fatalf("test notification to a failing receiver = %+v, want failed with the 502", n)
	}
	hist, err := h.plane.AlertHistory(h.owner, platform.NotificationFilter{ChannelID: n.ChannelID})
	if err != nil || len(hist) != 2 {
		t.Fatalf("history = %+v, %v; want both tests", hist, err)
	}
	viewer, _ := h.member("vera", platform.RoleViewer)
	if hist, err := h.plane.AlertHistory(viewer, platform.NotificationFilter{}); err != nil || len(hist) != 0 {
		t.Fatalf("a viewer reads %d test notifications, %v: they name channels, which viewers may not see", len(hist), err)
	}
	if hist, err := h.plane.AlertHistory(h.owner, platform.NotificationFilter{Limit: 1}); err != nil || len(hist) != 1 {
		t.Fatalf("history with limit 1 = %d, %v", len(hist), err)
	}
}

// TestAlertsOfANarrowedToken: a token narrowed to a namespace lists that namespace's
// alerts only, and its limit counts those, not the organisation's.
func TestAlertsOfANarrowedToken(t *testing.T) {
	t.Parallel()
	h := newAccounts(t)
	h.namespace("acme", "other")
	ctx := t.Context()
	now := time.Now().UTC()
	var changes []platform.AlertChange
	for i, ns := range []string{"acme", "other", "other", "other"} {
		key := platform.AlertKey(ns, "builtin:crash_loop", fmt.Sprintf("svc-%d", i))
		changes = append(changes, platform.AlertChange{Alert: &platform.Alert{
			ID: platform.NewID("al"), Org: platform.DefaultOrg, Key: key, RuleID: "builtin:crash_loop", Kind: platform.AlertCrashLoop,
			Severity: platform.SeverityCritical, Namespace: ns, Service: fmt.Sprintf("svc-%d", i), State: platform.AlertFiring,
			Summary: "crash", Since: now.Add(time.Duration(i) * time.Second), UpdatedAt: now,
		}})
	}
	if err := h.store.CommitAlerts(ctx, &platform.AlertCommit{Changes: changes}); err != nil {
		t.Fatal(err)
	}
	_, narrow, err := h.plane.CreateToken(h.owner, platform.CreateTokenRequest{Name: "ci", Role: platform.RoleDeveloper, Namespaces: []string{"acme"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.plane.ListAlerts(h.as(narrow), platform.AlertFilter{Limit: 1})
	if err != nil || len(got) != 1 || got[0].Namespace != "acme" {
		t.Fatalf("a token of acme lists %+v, %v; want acme's one alert", got, err)
	}
	_, err = h.plane.ListAlerts(h.as(narrow), platform.AlertFilter{Namespace: "other"})
	wantErr(t, err, platform.EFORBIDDEN, "other")
	if all, err := h.plane.ListAlerts(h.owner, platform.AlertFilter{}); err != nil || len(all) != 4 {
		t.Fatalf("the owner lists %d alerts, %v; want 4", len(all), err)
	}
}
