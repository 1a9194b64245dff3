package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/micro/platform"
)

// newRule returns a valid metric rule of org.
func newRule(id, org string) *platform.AlertRule {
	return &platform.AlertRule{
		ID: id, Org: org, Namespace: "acme", Name: "slow " + id, Kind: platform.AlertP99Latency, Service: "api",
		Op: ">", Threshold: 250.5, Window: 5 * time.Minute, For: 2 * time.Minute, Severity: platform.SeverityWarning,
		RepeatInterval: time.Hour, CreatedAt: testTime,
	}
}

func testAlertRules(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	r1, r2 := newRule("ar-1", "acme-org"), newRule("ar-2", "globex")
	off := &platform.AlertRule{ID: "ar-3", Org: "acme-org", Name: "no build alerts", Kind: platform.AlertBuildFailed,
		Severity: platform.SeverityInfo, Disabled: true}
	for _, r := range []*platform.AlertRule{r1, r2, off} {
		must(t, s.CreateAlertRule(ctx, r))
	}
	t.Run("get", func(t *testing.T) {
		got, err := s.GetAlertRule(ctx, "ar-1")
		must(t, err)
		sameJSON(t, "rule", got, r1)
		_, err = s.GetAlertRule(ctx, "nope")
		wantCode(t, err, platform.ENOTFOUND)
	})
	t.Run("list by org", func(t *testing.T) {
		got, err := s.ListAlertRules(ctx, "acme-org")
		must(t, err)
		sameJSON(t, "acme rules", got, []*platform.AlertRule{r1, off})
		all, err := s.ListAlertRules(ctx, "")
		must(t, err)
		if len(all) != 3 {
			t.Fatalf("every org's rules = %d, want 3", len(all))
		}
	})
	t.Run("duplicate id", func(t *testing.T) {
		wantCode(t, s.CreateAlertRule(ctx, newRule("ar-1", "acme-org")), platform.ECONFLICT)
	})
	t.Run("invalid lists every problem", func(t *testing.T) {
		bad := &platform.AlertRule{ID: "ar-x", Name: "", Kind: platform.AlertErrorRate, Op: ">=", Threshold: 150,
			Window: 90 * time.Second, Severity: "loud", Namespace: "Bad_NS"}
		err := s.CreateAlertRule(ctx, bad)
		wantCode(t, err, platform.EINVALID)
		for _, want := range []string{"org", "name", "op", "percentage", "window", "severity", "namespace"} {
			if !strings.Contains(platform.ErrorMessage(err), want) {
				t.Errorf("error %q does not mention %s", platform.ErrorMessage(err), want)
			}
		}
		builtinID := newRule("builtin:crash_loop", "acme-org")
		wantCode(t, s.CreateAlertRule(ctx, builtinID), platform.EINVALID)
	})
	t.Run("update", func(t *testing.T) {
		up := *r1
		up.Threshold, up.For, up.Disabled, up.Name = 900, 0, true, "very slow"
		up.CreatedAt = testTime.Add(time.Hour) // not written
		must(t, s.UpdateAlertRule(ctx, &up))
		got, err := s.GetAlertRule(ctx, "ar-1")
		must(t, err)
		up.CreatedAt = r1.CreatedAt
		sameJSON(t, "updated rule", got, &up)
		missing := newRule("nope", "acme-org")
		wantCode(t, s.UpdateAlertRule(ctx, missing), platform.ENOTFOUND)
		up.Op = "="
		wantCode(t, s.UpdateAlertRule(ctx, &up), platform.EINVALID)
	})
	t.Run("delete", func(t *testing.T) {
		must(t, s.DeleteAlertRule(ctx, "ar-2"))
		wantCode(t, s.DeleteAlertRule(ctx, "ar-2"), platform.ENOTFOUND)
		_, err := s.GetAlertRule(ctx, "ar-2")
		wantCode(t, err, platform.ENOTFOUND)
	})
}

func testAlertChannels(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	slack := &platform.AlertChannel{ID: "ch-1", Org: "acme-org", Name: "ops", Kind: platform.ChannelSlack,
		Config: map[string]string{"channel": "#ops"}, Secret: "sealed:v1:abc", Namespaces: []string{"acme"},
		Services: []string{"api", "web"}, MinSeverity: platform.SeverityWarning, CreatedAt: testTime}
	mail := &platform.AlertChannel{ID: "ch-2", Org: "acme-org", Name: "email", Kind: platform.ChannelEmail, CreatedAt: testTime}
	must(t, s.CreateAlertChannel(ctx, slack))
	must(t, s.CreateAlertChannel(ctx, mail))

	t.Run("secret kept, never serialised", func(t *testing.T) {
		got, err := s.GetAlertChannel(ctx, "ch-1")
		must(t, err)
		if got.Secret != "sealed:v1:abc" {
			t.Fatalf("Secret = %q, want the sealed value as stored", got.Secret)
		}
		sameJSON(t, "channel", got, slack)
		b, err := json.Marshal(got)
		must(t, err)
		if strings.Contains(string(b), "sealed") {
			t.Fatalf("channel JSON shows its secret: %s", b)
		}
	})
	t.Run("list ordered by name", func(t *testing.T) {
		got, err := s.ListAlertChannels(ctx, "acme-org")
		must(t, err)
		sameJSON(t, "channels", got, []*platform.AlertChannel{mail, slack})
		none, err := s.ListAlertChannels(ctx, "globex")
		must(t, err)
		if len(none) != 0 {
			t.Fatalf("globex channels = %d, want 0", len(none))
		}
	})
	t.Run("name unique per org", func(t *testing.T) {
		dup := &platform.AlertChannel{ID: "ch-3", Org: "acme-org", Name: "ops", Kind: platform.ChannelWebhook}
		wantCode(t, s.CreateAlertChannel(ctx, dup), platform.ECONFLICT)
		dup.Org = "globex"
		must(t, s.CreateAlertChannel(ctx, dup))
	})
	t.Run("invalid lists every problem", func(t *testing.T) {
		bad := &platform.AlertChannel{ID: "ch-x", Org: "acme-org", Kind: "carrier-pigeon", Namespaces: []string{"NO"}, MinSeverity: "loud"}
		err := s.CreateAlertChannel(ctx, bad)
		wantCode(t, err, platform.EINVALID)
		for _, want := range []string{"name", "kind", "namespace", "severity"} {
			if !strings.Contains(platform.ErrorMessage(err), want) {
				t.Errorf("error %q does not mention %s", platform.ErrorMessage(err), want)
			}
		}
	})
	t.Run("update and delete", func(t *testing.T) {
		up := *slack
		up.Secret, up.Services, up.MinSeverity = "sealed:v1:new", nil, ""
		must(t, s.UpdateAlertChannel(ctx, &up))
		got, err := s.GetAlertChannel(ctx, "ch-1")
		must(t, err)
		if got.Secret != "sealed:v1:new" || got.Services != nil || got.MinSeverity != "" {
			t.Fatalf("updated channel = %+v", got)
		}
		up.Name = "email"
		wantCode(t, s.UpdateAlertChannel(ctx, &up), platform.ECONFLICT)
		must(t, s.DeleteAlertChannel(ctx, "ch-1"))
		wantCode(t, s.DeleteAlertChannel(ctx, "ch-1"), platform.ENOTFOUND)
		missing := *mail
		missing.ID = "nope"
		wantCode(t, s.UpdateAlertChannel(ctx, &missing), platform.ENOTFOUND)
	})
}

func testSilences(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	soon := &platform.Silence{ID: "si-1", Org: "acme-org", Namespace: "acme", Service: "api", Rule: "crash_loop",
		Until: testTime.Add(time.Hour), Comment: "deploying a fix", CreatedBy: "u-alice", CreatedAt: testTime}
	later := &platform.Silence{ID: "si-2", Org: "acme-org", Until: testTime.Add(24 * time.Hour), CreatedAt: testTime}
	other := &platform.Silence{ID: "si-3", Org: "globex", Until: testTime.Add(2 * time.Hour), CreatedAt: testTime}
	for _, x := range []*platform.Silence{later, soon, other} {
		must(t, s.CreateSilence(ctx, x))
	}
	tests := []struct {
		name string
		org  string
		at   time.Time
		want []*platform.Silence
	}{
		{"all of an org by expiry", "acme-org", time.Time{}, []*platform.Silence{soon, later}},
		{"active now", "acme-org", testTime, []*platform.Silence{soon, later}},
		{"one expired", "acme-org", testTime.Add(90 * time.Minute), []*platform.Silence{later}},
		{"every org", "", testTime.Add(90 * time.Minute), []*platform.Silence{other, later}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListSilences(ctx, tc.org, tc.at)
			must(t, err)
			sameJSON(t, "silences", got, tc.want)
		})
	}
	t.Run("invalid and duplicate", func(t *testing.T) {
		err := s.CreateSilence(ctx, &platform.Silence{ID: "si-x", Namespace: "Bad"})
		wantCode(t, err, platform.EINVALID)
		for _, want := range []string{"org", "until", "namespace"} {
			if !strings.Contains(platform.ErrorMessage(err), want) {
				t.Errorf("error %q does not mention %s", platform.ErrorMessage(err), want)
			}
		}
		wantCode(t, s.CreateSilence(ctx, soon), platform.ECONFLICT)
	})
	t.Run("delete", func(t *testing.T) {
		must(t, s.DeleteSilence(ctx, "si-1"))
		wantCode(t, s.DeleteSilence(ctx, "si-1"), platform.ENOTFOUND)
	})
}

// newAlert returns a firing crash-loop alert of acme/api, not stored yet.
func newAlert(id, key string) *platform.Alert {
	fired := testTime.Add(time.Second)
	return &platform.Alert{
		ID: id, Org: "acme-org", Key: key, RuleID: "builtin:crash_loop", Rule: "crash loop", Kind: platform.AlertCrashLoop,
		Severity: platform.SeverityCritical, Namespace: "acme", Service: "api", Region: "fra1", State: platform.AlertFiring,
		Summary: "api is crash-looping in fra1", Reason: "exit 1: boom", Since: testTime, FiredAt: &fired,
		RepeatInterval: 4 * time.Hour,
	}
}

// newNote returns a pending notification of alert a to channel ch.
func newNote(id string, a *platform.Alert, ch string) *platform.Notification {
	return &platform.Notification{
		ID: id, Org: a.Org, AlertID: a.ID, ChannelID: ch, Kind: platform.NotifyFiring, Key: a.Key, Rule: a.Rule,
		Severity: a.Severity, Namespace: a.Namespace, Service: a.Service, Region: a.Region, Summary: a.Summary,
		Reason: a.Reason, Since: a.Since,
	}
}

func testAlertUpsertByKey(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	key := platform.AlertKey("acme", "builtin:crash_loop", "api")
	a := newAlert("al-1", key)
	must(t, s.CommitAlerts(ctx, &platform.AlertCommit{Changes: []platform.AlertChange{{Alert: a}}}))
	if a.Version != 1 {
		t.Fatalf("Version after insert = %d, want 1", a.Version)
	}
	t.Run("read back by id and key", func(t *testing.T) {
		got, err := s.GetAlertByKey(ctx, key)
		must(t, err)
		sameJSON(t, "alert", got, a)
		if got.Version != 1 {
			t.Fatalf("stored Version = %d, want 1", got.Version)
		}
		byID, err := s.GetAlert(ctx, "al-1")
		must(t, err)
		sameJSON(t, "alert by id", byID, a)
		_, err = s.GetAlertByKey(ctx, "acme/none/api")
		wantCode(t, err, platform.ENOTFOUND)
	})
	t.Run("a second insert of the key conflicts", func(t *testing.T) {
		again := newAlert("al-2", key)
		err := s.CommitAlerts(ctx, &platform.AlertCommit{Changes: []platform.AlertChange{{Alert: again,
			Notifications: []*platform.Notification{newNote("n-dup", again, "ch-1")}}}})
		wantCode(t, err, platform.ECONFLICT)
		list, err := s.ListAlerts(ctx, platform.AlertFilter{Org: "acme-org"})
		must(t, err)
		if len(list) != 1 || list[0].ID != "al-1" {
			t.Fatalf("alerts = %d (first %s), want one: al-1", len(list), list[0].ID)
		}
		notes, err := s.ListNotifications(ctx, platform.NotificationFilter{Org: "acme-org"})
		must(t, err)
		if len(notes) != 0 {
			t.Fatalf("notifications after a failed commit = %d, want 0", len(notes))
		}
	})
	t.Run("compare and set", func(t *testing.T) {
		stale := *a
		resolved := testTime.Add(time.Minute)
		a.State, a.ResolvedAt, a.Reason = platform.AlertResolved, &resolved, "instance started"
		must(t, s.CommitAlerts(ctx, &platform.AlertCommit{Changes: []platform.AlertChange{{Alert: a}}}))
		if a.Version != 2 {
			t.Fatalf("Version after update = %d, want 2", a.Version)
		}
		stale.Reason = "a writer that read version 1"
		wantCode(t, s.CommitAlerts(ctx, &platform.AlertCommit{Changes: []platform.AlertChange{{Alert: &stale}}}), platform.ECONFLICT)
		got, err := s.GetAlertByKey(ctx, key)
		must(t, err)
		if got.ID != "al-1" || got.State != platform.AlertResolved || got.Reason != "instance started" {
			t.Fatalf("alert after a stale write = %+v", got)
		}
	})
	t.Run("concurrent inserts of one key: one wins", func(t *testing.T) {
		key := platform.AlertKey("acme", "builtin:build_failed", "web")
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				x := newAlert(fmt.Sprintf("al-c%d", i), key)
				errs[i] = s.CommitAlerts(ctx, &platform.AlertCommit{Changes: []platform.AlertChange{{Alert: x,
					Notifications: []*platform.Notification{newNote(fmt.Sprintf("n-c%d", i), x, "ch-1")}}}})
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch platform.ErrorCode(err) {
			case "":
				won++
			case platform.ECONFLICT:
			default:
				t.Fatalf("concurrent insert: %v", err)
			}
		}
		got, err := s.GetAlertByKey(ctx, key)
		must(t, err)
		notes, err := s.ListNotifications(ctx, platform.NotificationFilter{AlertID: got.ID})
		must(t, err)
		if won != 1 || len(notes) != 1 {
			t.Fatalf("%d inserts won and %d notifications enqueued, want 1 and 1", won, len(notes))
		}
	})
	t.Run("invalid", func(t *testing.T) {
		err := s.CommitAlerts(ctx, &platform.AlertCommit{Changes: []platform.AlertChange{{Alert: &platform.Alert{}}}})
		wantCode(t, err, platform.EINVALID)
	})
	t.Run("list filters", func(t *testing.T) {
		firing, err := s.ListAlerts(ctx, platform.AlertFilter{State: platform.AlertFiring})
		must(t, err)
		resolved, err := s.ListAlerts(ctx, platform.AlertFilter{Org: "acme-org", Namespace: "acme", State: platform.AlertResolved})
		must(t, err)
		other, err := s.ListAlerts(ctx, platform.AlertFilter{Namespace: "globex"})
		must(t, err)
		if len(firing) != 1 || len(resolved) != 1 || resolved[0].ID != "al-1" || len(other) != 0 {
			t.Fatalf("firing %d, resolved %d, globex %d; want 1, 1 (al-1), 0", len(firing), len(resolved), len(other))
		}
	})
}

func testAlertCursor(t *testing.T, h *harness) {
	s, closeS, reopen := h.openWithReopen(t)
	ctx := t.Context()
	pos, ok, err := s.AlertCursor(ctx, "events")
	must(t, err)
	if pos != 0 || ok {
		t.Fatalf("new cursor = %d, %v; want 0, never written", pos, ok)
	}
	// Written at 0: a reader that starts on an empty log records where it starts.
	must(t, s.CommitAlerts(ctx, &platform.AlertCommit{Cursor: "start", From: 0, To: 0}))
	if pos, ok, err := s.AlertCursor(ctx, "start"); err != nil || pos != 0 || !ok {
		t.Fatalf("cursor written at 0 = %d, %v, %v; want 0, written", pos, ok, err)
	}
	must(t, s.CommitAlerts(ctx, &platform.AlertCommit{Cursor: "start", From: 0, To: 0}))
	a := newAlert("al-1", platform.AlertKey("acme", "builtin:crash_loop", "api"))
	must(t, s.CommitAlerts(ctx, &platform.AlertCommit{Cursor: "events", From: 0, To: 7,
		Changes: []platform.AlertChange{{Alert: a, Notifications: []*platform.Notification{newNote("n-1", a, "ch-1")}}}}))
	t.Run("compare and set", func(t *testing.T) {
		wantCode(t, s.CommitAlerts(ctx, &platform.AlertCommit{Cursor: "events", From: 0, To: 9}), platform.ECONFLICT)
		wantCode(t, s.CommitAlerts(ctx, &platform.AlertCommit{Cursor: "events", From: 3, To: 9}), platform.ECONFLICT)
		// A moved cursor rolls back the alert changes of its commit.
		b := newAlert("al-2", platform.AlertKey("acme", "builtin:build_failed", "api"))
		err := s.CommitAlerts(ctx, &platform.AlertCommit{Cursor: "events", From: 3, To: 9,
			Changes: []platform.AlertChange{{Alert: b, Notifications: []*platform.Notification{newNote("n-2", b, "ch-1")}}}})
		wantCode(t, err, platform.ECONFLICT)
		_, err = s.GetAlert(ctx, "al-2")
		wantCode(t, err, platform.ENOTFOUND)
		must(t, s.CommitAlerts(ctx, &platform.AlertCommit{Cursor: "events", From: 7, To: 9}))
		// Cursors are independent.
		must(t, s.CommitAlerts(ctx, &platform.AlertCommit{Cursor: "other", From: 0, To: 1}))
	})
	closeS()

	s2, closeS2 := reopen()
	defer closeS2()
	pos, ok, err = s2.AlertCursor(ctx, "events")
	must(t, err)
	if pos != 9 || !ok {
		t.Fatalf("cursor after reopen = %d, want 9", pos)
	}
	got, err := s2.GetAlert(ctx, "al-1")
	must(t, err)
	sameJSON(t, "alert after reopen", got, a)
	notes, err := s2.ListNotifications(ctx, platform.NotificationFilter{AlertID: "al-1"})
	must(t, err)
	if len(notes) != 1 || notes[0].ID != "n-1" || notes[0].Status != platform.NotificationPending {
		t.Fatalf("notifications after reopen = %+v, want n-1 pending", notes)
	}
}

func testEventsAfter(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	var ids []int64
	for i, ns := range []string{"acme", "globex", "acme", "initech"} {
		e := &platform.Event{Namespace: ns, Service: "api", Type: platform.EventInstanceCrashLoop, Message: fmt.Sprint(i)}
		must(t, s.AppendEvent(ctx, e))
		ids = append(ids, e.ID)
	}
	got, err := s.ListEventsAfter(ctx, 0, 0)
	must(t, err)
	if len(got) != 4 || got[0].ID != ids[0] || got[3].Namespace != "initech" {
		t.Fatalf("events after 0 = %d, want every namespace's 4 in order", len(got))
	}
	got, err = s.ListEventsAfter(ctx, ids[1], 1)
	must(t, err)
	if len(got) != 1 || got[0].ID != ids[2] || got[0].Message != "2" {
		t.Fatalf("one event after the second = %+v", got)
	}
	got, err = s.ListEventsAfter(ctx, ids[3], 10)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("events after the last = %d, want 0", len(got))
	}
}

// enqueue stores n pending notifications of one alert to channel ch, due at due.
func enqueue(t *testing.T, s platform.Store, prefix, ch string, n int, due time.Time) []*platform.Notification {
	t.Helper()
	a := newAlert("al-"+prefix, platform.AlertKey("acme", "builtin:crash_loop", prefix))
	var notes []*platform.Notification
	for i := range n {
		x := newNote(fmt.Sprintf("%s-%02d", prefix, i), a, ch)
		x.NextAttemptAt, x.CreatedAt = due.Add(time.Duration(i)*time.Millisecond), due
		notes = append(notes, x)
	}
	must(t, s.CommitAlerts(t.Context(), &platform.AlertCommit{Changes: []platform.AlertChange{{Alert: a, Notifications: notes}}}))
	return notes
}

func testNotificationClaims(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	now := testTime.Add(time.Hour)
	enqueue(t, s, "due", "ch-1", 40, testTime)
	enqueue(t, s, "later", "ch-1", 2, now.Add(time.Minute))

	t.Run("two claimers never get the same notification", func(t *testing.T) {
		var mu sync.Mutex
		seen := map[string]string{}
		var wg sync.WaitGroup
		for _, owner := range []string{"engine-a", "engine-b", "engine-c"} {
			wg.Go(func() {
				for {
					got, err := s.ClaimNotifications(ctx, owner, now, time.Minute, 3)
					if err != nil {
						t.Errorf("claim: %v", err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, n := range got {
						if prev, ok := seen[n.ID]; ok {
							t.Errorf("%s claimed by %s and %s", n.ID, prev, owner)
						}
						if n.Lease != owner {
							t.Errorf("%s has lease %q, want %q", n.ID, n.Lease, owner)
						}
						seen[n.ID] = owner
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != 40 {
			t.Fatalf("claimed %d notifications, want the 40 due ones", len(seen))
		}
		for id := range seen {
			if strings.HasPrefix(id, "later") {
				t.Fatalf("%s claimed before it is due", id)
			}
		}
	})
	t.Run("a held lease is not claimed again; an expired one is", func(t *testing.T) {
		got, err := s.ClaimNotifications(ctx, "engine-d", now.Add(30*time.Second), time.Minute, 100)
		must(t, err)
		if len(got) != 0 {
			t.Fatalf("claimed %d notifications under live leases", len(got))
		}
		got, err = s.ClaimNotifications(ctx, "engine-d", now.Add(61*time.Second), time.Minute, 100)
		must(t, err)
		if len(got) != 42 || got[0].ID != "due-00" || got[41].ID != "later-01" {
			t.Fatalf("after the leases expired claimed %d (first %s), want all 42 in due order", len(got), got[0].ID)
		}
	})
	t.Run("only the holder records the outcome", func(t *testing.T) {
		got, err := s.ClaimNotifications(ctx, "engine-e", now.Add(3*time.Minute), time.Minute, 1)
		must(t, err)
		n := got[0]
		stale := *n
		stale.Lease = "engine-d"
		stale.Status = platform.NotificationDead
		wantCode(t, s.UpdateNotification(ctx, &stale), platform.ECONFLICT)

		n.Status, n.Attempts, n.LastError = platform.NotificationFailed, 1, "503 from slack"
		n.NextAttemptAt = now.Add(10 * time.Minute)
		must(t, s.UpdateNotification(ctx, n))
		if n.Lease != "" {
			t.Fatalf("Lease after update = %q, want released", n.Lease)
		}
		// Failed and due again: claimable, with its attempts.
		got, err = s.ClaimNotifications(ctx, "engine-f", now.Add(10*time.Minute), time.Minute, 100)
		must(t, err)
		var again *platform.Notification
		for _, x := range got {
			if x.ID == n.ID {
				again = x
			}
		}
		if again == nil || again.Attempts != 1 || again.LastError != "503 from slack" || again.Status != platform.NotificationFailed {
			t.Fatalf("failed notification claimed again = %+v", again)
		}
		sent := testTime.Add(11 * time.Minute)
		again.Status, again.Attempts, again.SentAt = platform.NotificationSent, 2, &sent
		must(t, s.UpdateNotification(ctx, again))
		got, err = s.ClaimNotifications(ctx, "engine-g", now.Add(time.Hour), time.Minute, 100)
		must(t, err)
		if slices.ContainsFunc(got, func(x *platform.Notification) bool { return x.ID == n.ID }) {
			t.Fatal("a sent notification was claimed")
		}
		missing := *again
		missing.ID = "nope"
		wantCode(t, s.UpdateNotification(ctx, &missing), platform.ENOTFOUND)
	})
	t.Run("silenced ones are history only", func(t *testing.T) {
		a := newAlert("al-quiet", platform.AlertKey("acme", "builtin:crash_loop", "quiet"))
		x := newNote("quiet-1", a, "ch-1")
		x.Status = platform.NotificationSilenced
		must(t, s.CommitAlerts(ctx, &platform.AlertCommit{Changes: []platform.AlertChange{{Alert: a, Notifications: []*platform.Notification{x}}}}))
		got, err := s.ClaimNotifications(ctx, "engine-h", now.Add(24*time.Hour), time.Minute, 1000)
		must(t, err)
		if slices.ContainsFunc(got, func(n *platform.Notification) bool { return n.ID == "quiet-1" }) {
			t.Fatal("a silenced notification was claimed")
		}
	})
	t.Run("invalid claim", func(t *testing.T) {
		_, err := s.ClaimNotifications(ctx, "", now, time.Minute, 1)
		wantCode(t, err, platform.EINVALID)
	})
}

func testNotificationHistory(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	first := enqueue(t, s, "one", "ch-1", 2, testTime)
	second := enqueue(t, s, "two", "ch-2", 1, testTime.Add(time.Minute))
	test := &platform.Notification{ID: "n-test", Org: "globex", ChannelID: "ch-9", Kind: platform.NotifyTest,
		Summary: "test notification", CreatedAt: testTime.Add(2 * time.Minute)}
	must(t, s.EnqueueNotifications(ctx, []*platform.Notification{test}))
	wantCode(t, s.EnqueueNotifications(ctx, []*platform.Notification{{ID: "n-bad"}}), platform.EINVALID)
	wantCode(t, s.EnqueueNotifications(ctx, []*platform.Notification{test}), platform.ECONFLICT)

	ids := func(list []*platform.Notification) string {
		var out []string
		for _, n := range list {
			out = append(out, n.ID)
		}
		return strings.Join(out, ",")
	}
	tests := []struct {
		name string
		f    platform.NotificationFilter
		want string
	}{
		{"newest first", platform.NotificationFilter{}, "n-test,two-00,one-01,one-00"},
		{"by org", platform.NotificationFilter{Org: "acme-org"}, "two-00,one-01,one-00"},
		{"by alert", platform.NotificationFilter{AlertID: "al-one"}, "one-01,one-00"},
		{"by channel", platform.NotificationFilter{ChannelID: "ch-2"}, "two-00"},
		{"by status", platform.NotificationFilter{Status: platform.NotificationPending, Limit: 2}, "n-test,two-00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListNotifications(ctx, tc.f)
			must(t, err)
			if ids(got) != tc.want {
				t.Fatalf("notifications = %s, want %s", ids(got), tc.want)
			}
		})
	}
	t.Run("pruning keeps what is not done", func(t *testing.T) {
		s := h.fresh(t)
		old := &platform.Notification{ID: "n-old", Org: "acme-org", ChannelID: "ch-1", Kind: platform.NotifyFiring,
			Summary: "old", Status: platform.NotificationSilenced, CreatedAt: testTime}
		due := &platform.Notification{ID: "n-due", Org: "acme-org", ChannelID: "ch-1", Kind: platform.NotifyFiring,
			Summary: "due", Status: platform.NotificationPending, CreatedAt: testTime}
		recent := &platform.Notification{ID: "n-new", Org: "acme-org", ChannelID: "ch-1", Kind: platform.NotifyFiring,
			Summary: "new", Status: platform.NotificationSilenced, CreatedAt: testTime.Add(time.Hour)}
		must(t, s.EnqueueNotifications(ctx, []*platform.Notification{old, due, recent}))
		n, err := s.PruneNotifications(ctx, testTime.Add(time.Minute))
		must(t, err)
		got, err := s.ListNotifications(ctx, platform.NotificationFilter{})
		must(t, err)
		if n != 1 || ids(got) != "n-new,n-due" {
			t.Fatalf("pruned %d, left %s; want 1 pruned, n-new and n-due left", n, ids(got))
		}
	})
	t.Run("what it says is kept", func(t *testing.T) {
		got, err := s.ListNotifications(ctx, platform.NotificationFilter{ChannelID: "ch-2"})
		must(t, err)
		sameJSON(t, "notification", got[0], second[0])
		_ = first
	})
}
