package alerting

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/micro/platform"
	"github.com/micro/platform/alerting/notify"
)

func TestCrashLoopFiresOncePerChannel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-slack", nil)
	f.channel(t, "ch-hook", nil)
	sender := &fakeSender{}
	e, _ := start(t, f.options(sender))

	first := publish(t, f.store, e, crashLoop("api"))
	waitFor(t, "a firing notification on both channels", 5*time.Second, func() bool {
		return len(sender.sends("ch-slack")) == 1 && len(sender.sends("ch-hook")) == 1
	})
	// 49 more crash loops and crashes of the same service within the minute: the same
	// alert, already firing.
	for i := range 49 {
		ev := crashLoop("api")
		if i%2 == 1 {
			ev.Type = platform.EventInstanceCrashed
		}
		publish(t, f.store, e, ev)
	}
	caughtUp(t, f.store)
	time.Sleep(100 * time.Millisecond) // time for a wrong second notification to be sent

	for _, ch := range []string{"ch-slack", "ch-hook"} {
		got := sender.sends(ch)
		if len(got) != 1 {
			t.Fatalf("%s got %d notifications, want 1", ch, len(got))
		}
		m := got[0].Message
		want := notify.Message{
			Kind: notify.Firing, Key: "acme/builtin:crash_loop/api", ID: m.ID, Org: platform.DefaultOrg,
			Severity: "critical", Rule: "crash loop", Namespace: "acme", Service: "api", Region: "fra1",
			Summary: "api is crash-looping in fra1", Reason: first.Message, Since: first.Time,
			URL: publicURL + "/ui/n/acme/s/api",
		}
		if m != want {
			t.Fatalf("%s message:\n got %+v\nwant %+v", ch, m, want)
		}
		if got[0].Channel.Secret != "opened:sealed:"+ch || got[0].Channel.Config["url"] == "" {
			t.Fatalf("%s channel = %+v, want its config and opened secret", ch, got[0].Channel)
		}
	}
	alerts, err := f.store.ListAlerts(t.Context(), platform.AlertFilter{})
	must(t, err)
	if len(alerts) != 1 || alerts[0].State != platform.AlertFiring {
		t.Fatalf("alerts = %+v, want one firing", alerts)
	}
	list := settled(t, f.store, func(l []*platform.Notification) bool { return countBy(l)["firing/sent"] == 2 })
	if len(list) != 2 {
		t.Fatalf("history has %d notifications, want 2", len(list))
	}
	for _, n := range list {
		if n.Attempts != 1 || n.SentAt == nil || n.AlertID != alerts[0].ID {
			t.Fatalf("history entry %+v, want sent at the first attempt", n)
		}
	}
}

func TestRecoveryResolvesOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-1", nil)
	f.channel(t, "ch-2", nil)
	sender := &fakeSender{}
	opts := f.options(sender)
	opts.Settle = 300 * time.Millisecond
	e, _ := start(t, opts)

	publish(t, f.store, e, crashLoop("api"))
	waitFor(t, "firing", 5*time.Second, func() bool { return len(sender.sends("")) == 2 })

	// Started, then crashed again within the settle time: still firing.
	publish(t, f.store, e, eventOf(platform.EventInstanceStarted, "api"))
	publish(t, f.store, e, eventOf(platform.EventInstanceCrashed, "api"))
	caughtUp(t, f.store)
	time.Sleep(2 * opts.Settle)
	if n := len(sender.sends("")); n != 2 {
		t.Fatalf("after a crash while clearing: %d notifications, want the 2 firing ones", n)
	}
	// Started and stays up: one resolved notification per channel.
	publish(t, f.store, e, eventOf(platform.EventInstanceStarted, "api"))
	waitFor(t, "resolved", 5*time.Second, func() bool { return len(sender.sends("")) == 4 })
	publish(t, f.store, e, eventOf(platform.EventInstanceStarted, "api"))
	caughtUp(t, f.store)
	time.Sleep(2 * opts.Settle)
	got := sender.sends("")
	if len(got) != 4 {
		t.Fatalf("%d notifications, want 2 firing and 2 resolved", len(got))
	}
	for _, s := range got[2:] {
		if s.Message.Kind != notify.Resolved || s.Message.Summary != "api is crash-looping in fra1" ||
			!strings.Contains(s.Message.Reason, "without a crash") {
			t.Fatalf("resolved message = %+v", s.Message)
		}
	}
	a, err := f.store.GetAlertByKey(t.Context(), "acme/builtin:crash_loop/api")
	must(t, err)
	if a.State != platform.AlertResolved || a.ResolvedAt == nil || a.ClearingSince != nil {
		t.Fatalf("alert = %+v, want resolved", a)
	}

	// It crash-loops again: the same alert fires anew.
	publish(t, f.store, e, crashLoop("api"))
	waitFor(t, "firing again", 5*time.Second, func() bool { return len(sender.sends("")) == 6 })
	again, err := f.store.GetAlertByKey(t.Context(), "acme/builtin:crash_loop/api")
	must(t, err)
	if again.ID != a.ID || again.State != platform.AlertFiring || !again.Since.After(a.Since) {
		t.Fatalf("alert after a new incident = %+v, want %s firing since later", again, a.ID)
	}
}

func TestBuiltinPairings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		fire, resolve   *platform.Event
		key, summary    string
		severity        string
		wantResolveNote bool
	}{
		{"build failed", eventOf(platform.EventBuildFailed, "api"), eventOf(platform.EventBuildSucceeded, "api"),
			"acme/builtin:build_failed/api", "the build of api failed", "warning", true},
		{"release failed", eventOf(platform.EventReleaseFailed, "api"), eventOf(platform.EventReleaseRolledOut, "api"),
			"acme/builtin:release_failed/api", "a release of api failed", "warning", true},
		{"service down, instance started", eventOf(platform.EventServiceUnplaced, "api"), eventOf(platform.EventInstanceStarted, "api"),
			"acme/builtin:service_down/api", "api is down: no region of its placement is connected", "critical", true},
		{"service down, region returned", eventOf(platform.EventServiceUnplaced, "api"),
			&platform.Event{Namespace: "acme", Region: "fra1", Type: platform.EventRegionReturned},
			"acme/builtin:service_down/api", "api is down: no region of its placement is connected", "critical", true},
		{"region lost", &platform.Event{Namespace: "acme", Region: "fra1", Type: platform.EventRegionLost, Message: "region fra1 is lost"},
			&platform.Event{Namespace: "acme", Region: "fra1", Type: platform.EventRegionReturned},
			"acme/builtin:region_lost/fra1", "region fra1 is lost", "critical", true},
		{"service deleted resolves", eventOf(platform.EventBuildFailed, "web"), eventOf(platform.EventServiceDeleted, "web"),
			"acme/builtin:build_failed/web", "the build of web failed", "warning", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.channel(t, "ch-1", nil)
			sender := &fakeSender{}
			e, _ := start(t, f.options(sender))
			publish(t, f.store, e, tc.fire)
			waitFor(t, "firing", 5*time.Second, func() bool { return len(sender.sends("")) == 1 })
			m := sender.sends("")[0].Message
			if m.Kind != notify.Firing || m.Key != tc.key || m.Summary != tc.summary || m.Severity != tc.severity {
				t.Fatalf("firing message = %+v", m)
			}
			// Another region lost or another service's recovery leaves it firing.
			publish(t, f.store, e, &platform.Event{Namespace: "acme", Region: "lon1", Type: platform.EventRegionReturned})
			publish(t, f.store, e, eventOf(platform.EventBuildSucceeded, "other"))
			publish(t, f.store, e, tc.resolve)
			waitFor(t, "resolved", 5*time.Second, func() bool { return len(sender.sends("")) == 2 })
			if m := sender.sends("")[1].Message; m.Kind != notify.Resolved || m.Key != tc.key {
				t.Fatalf("resolved message = %+v", m)
			}
		})
	}
}

// TestSpendLimitAlert: billing.spend_threshold fires the built-in spend_limit alert of
// the namespace, grouped by organisation: once per threshold (warning at 75 and 90 %,
// critical at 100 %), and it resolves when the billing period ends.
func TestSpendLimitAlert(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-1", nil)
	clock := newFakeClock() // 1 March 2026
	sender := &fakeSender{}
	opts := f.options(sender)
	opts.Clock = clock
	e, _ := start(t, opts)
	spend := func(threshold string) *platform.Event {
		return &platform.Event{Namespace: "acme", Type: platform.EventSpendThreshold, Time: clock.Now(),
			Message: "organisation default has spent … (" + threshold + " %)",
			Data:    map[string]string{"threshold": threshold, "amount": "900", "limit": "1000", "currency": "usd"}}
	}
	key := "acme/builtin:spend_limit/" + platform.DefaultOrg
	want := []struct{ threshold, severity, summary string }{
		{"75", "warning", "organisation default has spent 75 % of its spend limit"},
		{"90", "warning", "organisation default has spent 90 % of its spend limit"},
		{"100", "critical", "organisation default reached its spend limit"},
	}
	for i, w := range want {
		ev := publish(t, f.store, e, spend(w.threshold))
		waitFor(t, w.threshold+" % firing", 5*time.Second, func() bool { return len(sender.sends("")) == i+1 })
		m := sender.sends("")[i].Message
		if m.Kind != notify.Firing || m.Key != key || m.Severity != w.severity || m.Summary != w.summary ||
			m.Rule != "spend limit" || m.Reason != ev.Message || m.Service != "" {
			t.Fatalf("%s %% message = %+v, want firing %s %q", w.threshold, m, w.severity, w.summary)
		}
	}
	// The same threshold again: nothing more.
	publish(t, f.store, e, spend("100"))
	caughtUp(t, f.store)
	time.Sleep(100 * time.Millisecond)
	if n := len(sender.sends("")); n != 3 {
		t.Fatalf("%d notifications after a repeated 100 %% event, want 3", n)
	}
	alerts, err := f.store.ListAlerts(t.Context(), platform.AlertFilter{})
	must(t, err)
	if len(alerts) != 1 || alerts[0].Kind != platform.AlertSpendLimit || alerts[0].State != platform.AlertFiring {
		t.Fatalf("alerts = %+v, want one spend_limit alert firing", alerts)
	}

	// The period ends: it resolves.
	clock.Add(31 * 24 * time.Hour)
	waitFor(t, "resolved", 5*time.Second, func() bool { return len(sender.sends("")) == 4 })
	if m := sender.sends("")[3].Message; m.Kind != notify.Resolved || m.Key != key || !strings.Contains(m.Reason, "billing period ended") {
		t.Fatalf("resolved message = %+v", m)
	}
	// The next period's first threshold is a new incident of the same alert.
	publish(t, f.store, e, spend("75"))
	waitFor(t, "firing again", 5*time.Second, func() bool { return len(sender.sends("")) == 5 })
	if m := sender.sends("")[4].Message; m.Kind != notify.Firing || m.Severity != "warning" {
		t.Fatalf("next period's message = %+v", m)
	}
}

func TestSilenceSendsNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-1", nil)
	clock := newFakeClock()
	must(t, f.store.CreateSilence(t.Context(), &platform.Silence{ID: "si-1", Org: platform.DefaultOrg, Namespace: "acme",
		Service: "api", Rule: "crash_loop", Until: clock.Now().Add(time.Hour), Comment: "fixing it"}))
	sender := &fakeSender{}
	opts := f.options(sender)
	opts.Clock = clock
	e, _ := start(t, opts)

	publish(t, f.store, e, crashLoop("api"))                          // silenced
	publish(t, f.store, e, crashLoop("web"))                          // not: another service
	publish(t, f.store, e, eventOf(platform.EventBuildFailed, "api")) // not: another rule
	list := settled(t, f.store, func(l []*platform.Notification) bool { return len(l) == 3 && countBy(l)["firing/sent"] == 2 })
	got := sender.sends("")
	if len(got) != 2 {
		t.Fatalf("sent %d, want 2", len(got))
	}
	for _, s := range got {
		if s.Message.Key == "acme/builtin:crash_loop/api" {
			t.Fatalf("a silenced alert was sent: %+v", s.Message)
		}
	}
	if c := countBy(list); c["firing/silenced"] != 1 {
		t.Fatalf("history = %v, want the silenced one recorded", c)
	}
	// The alert is firing all the same, for the dashboard.
	a, err := f.store.GetAlertByKey(t.Context(), "acme/builtin:crash_loop/api")
	must(t, err)
	if a.State != platform.AlertFiring {
		t.Fatalf("silenced alert state = %s, want firing", a.State)
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-all", nil)
	f.channel(t, "ch-critical", func(c *platform.AlertChannel) { c.MinSeverity = platform.SeverityCritical })
	f.channel(t, "ch-web", func(c *platform.AlertChannel) { c.Services = []string{"web"} })
	f.channel(t, "ch-other-ns", func(c *platform.AlertChannel) { c.Namespaces = []string{"other"} })
	must(t, f.store.CreateAlertChannel(t.Context(), &platform.AlertChannel{ID: "ch-globex", Org: "globex", Name: "x",
		Kind: platform.ChannelSlack}))
	sender := &fakeSender{}
	e, _ := start(t, f.options(sender))

	publish(t, f.store, e, eventOf(platform.EventBuildFailed, "api")) // warning
	publish(t, f.store, e, crashLoop("web"))                          // critical
	settled(t, f.store, func(l []*platform.Notification) bool { return countBy(l)["firing/sent"] == 4 })
	want := map[string][]string{
		"ch-all":      {"acme/builtin:build_failed/api", "acme/builtin:crash_loop/web"},
		"ch-critical": {"acme/builtin:crash_loop/web"},
		"ch-web":      {"acme/builtin:crash_loop/web"},
	}
	for _, ch := range []string{"ch-all", "ch-critical", "ch-web", "ch-other-ns", "ch-globex"} {
		var keys []string
		for _, s := range sender.sends(ch) {
			keys = append(keys, s.Message.Key)
		}
		slices.Sort(keys) // alerts of one batch go out in no set order
		if fmt.Sprint(keys) != fmt.Sprint(want[ch]) {
			t.Errorf("%s got %v, want %v", ch, keys, want[ch])
		}
	}
}

func TestOrgRulesOverrideBuiltins(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-1", nil)
	ctx := t.Context()
	// Build failures of acme are off; crash loops of api are info and repeat hourly.
	must(t, f.store.CreateAlertRule(ctx, &platform.AlertRule{ID: "ar-quiet", Org: platform.DefaultOrg, Namespace: "acme",
		Name: "no build alerts", Kind: platform.AlertBuildFailed, Severity: platform.SeverityInfo, Disabled: true}))
	must(t, f.store.CreateAlertRule(ctx, &platform.AlertRule{ID: "ar-api", Org: platform.DefaultOrg, Service: "api",
		Name: "api crash", Kind: platform.AlertCrashLoop, Severity: platform.SeverityInfo, RepeatInterval: time.Hour}))
	sender := &fakeSender{}
	e, _ := start(t, f.options(sender))

	publish(t, f.store, e, eventOf(platform.EventBuildFailed, "api"))
	publish(t, f.store, e, crashLoop("api"))
	publish(t, f.store, e, crashLoop("web"))
	settled(t, f.store, func(l []*platform.Notification) bool { return countBy(l)["firing/sent"] == 2 })
	caughtUp(t, f.store)
	got := map[string]string{}
	for _, s := range sender.sends("") {
		got[s.Message.Key] = s.Message.Severity + " " + s.Message.Rule
	}
	want := map[string]string{
		"acme/ar-api/api":             "info api crash",
		"acme/builtin:crash_loop/web": "critical crash loop",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
	a, err := f.store.GetAlertByKey(ctx, "acme/ar-api/api")
	must(t, err)
	if a.RepeatInterval != time.Hour {
		t.Fatalf("RepeatInterval = %s, want the rule's hour", a.RepeatInterval)
	}
}

func TestRepeatAfterInterval(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-1", nil)
	clock := newFakeClock()
	opts := f.options(&fakeSender{})
	opts.Clock = clock
	e := New(opts) // driven by hand: no goroutines
	ctx := t.Context()
	must(t, e.loadCursor(ctx))

	publish(t, f.store, nil, crashLoop("api"))
	for e.readEvents(ctx) {
	}
	notes := func() map[string]int {
		list, err := f.store.ListNotifications(ctx, platform.NotificationFilter{})
		must(t, err)
		return countBy(list)
	}
	clock.Add(platform.DefaultRepeatInterval - time.Second)
	e.tick(ctx)
	if got := notes(); got["firing/pending"] != 1 || got["repeat/pending"] != 0 {
		t.Fatalf("before the interval: %v, want one firing", got)
	}
	clock.Add(time.Second)
	e.tick(ctx)
	e.tick(ctx)
	if got := notes(); got["repeat/pending"] != 1 {
		t.Fatalf("after the interval: %v, want one repeat", got)
	}
	clock.Add(platform.DefaultRepeatInterval)
	e.tick(ctx)
	if got := notes(); got["repeat/pending"] != 2 {
		t.Fatalf("after two intervals: %v, want two repeats", got)
	}

	// The namespace is deleted: at the next interval the alert resolves instead.
	must(t, f.store.DeleteNamespace(ctx, "acme"))
	clock.Add(platform.DefaultRepeatInterval)
	e.tick(ctx)
	if got := notes(); got["repeat/pending"] != 2 || got["resolved/pending"] != 1 {
		t.Fatalf("after the namespace went: %v, want one resolved and no more repeats", got)
	}
	list, err := f.store.ListNotifications(ctx, platform.NotificationFilter{Status: platform.NotificationPending})
	must(t, err)
	if list[0].Kind != platform.NotifyResolved || !strings.Contains(list[0].Reason, "namespace acme was deleted") {
		t.Fatalf("newest notification = %+v, want resolved: its namespace was deleted", list[0])
	}
}

func TestFirstStartSkipsHistory(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-1", nil)
	publish(t, f.store, nil, crashLoop("api")) // before alerting was turned on
	sender := &fakeSender{}
	e, _ := start(t, f.options(sender))
	publish(t, f.store, e, crashLoop("web"))
	waitFor(t, "web's alert", 5*time.Second, func() bool { return len(sender.sends("")) == 1 })
	if k := sender.sends("")[0].Message.Key; k != "acme/builtin:crash_loop/web" {
		t.Fatalf("sent %s, want only the event after the start", k)
	}
}

func TestNamespaceGoneIsSkipped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-1", nil)
	sender := &fakeSender{}
	e, _ := start(t, f.options(sender))
	// An event of a namespace that is gone (or never was) does not stop the others.
	publish(t, f.store, e, &platform.Event{Namespace: "ghost", Service: "x", Type: platform.EventBuildFailed})
	publish(t, f.store, e, eventOf(platform.EventBuildFailed, "api"))
	waitFor(t, "acme's alert", 5*time.Second, func() bool { return len(sender.sends("")) == 1 })
}

// TestSecretOpenFails checks that a channel whose secret cannot be opened ends dead at
// once, saying so without the sealed value.
func TestSecretOpenFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-1", nil)
	sender := &fakeSender{}
	opts := f.options(sender)
	opts.Open = func(string) (string, error) { return "", context.DeadlineExceeded }
	e, _ := start(t, opts)
	publish(t, f.store, e, crashLoop("api"))
	list := settled(t, f.store, func(l []*platform.Notification) bool { return countBy(l)["firing/dead"] == 1 })
	if len(sender.sends("")) != 0 || strings.Contains(list[0].LastError, "sealed") || list[0].Attempts != 1 {
		t.Fatalf("notification = %+v, sends %d; want dead at once, no secret in the error", list[0], len(sender.sends("")))
	}
}

func TestDashboardURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ public, ns, svc, want string }{
		{"https://p.example/", "acme", "api", "https://p.example/ui/n/acme/s/api"},
		{"https://p.example", "acme", "", "https://p.example/ui/n/acme"},
		{"", "acme", "api", ""},
	}
	for _, tc := range tests {
		e := New(Options{PublicURL: tc.public})
		if got := e.dashboardURL(tc.ns, tc.svc); got != tc.want {
			t.Errorf("dashboardURL(%q, %q, %q) = %q, want %q", tc.public, tc.ns, tc.svc, got, tc.want)
		}
	}
}

// TestRolloutClearsCrashLoop: a new release replacing a crash-looping one begins
// clearing its alert, and the replaced release's instances exiting while they drain
// neither stop the clearing nor fire it again.
func TestRolloutClearsCrashLoop(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-1", nil)
	sender := &fakeSender{}
	opts := f.options(sender)
	opts.Settle = 300 * time.Millisecond
	e, _ := start(t, opts)
	ctx := t.Context()
	setServing := func(release string) {
		t.Helper()
		svc, err := f.store.GetService(ctx, "acme", "api")
		must(t, err)
		svc.CurrentRelease = release
		must(t, f.store.UpdateService(ctx, svc))
	}
	of := func(ev *platform.Event, release string) *platform.Event {
		ev.Data = map[string]string{"release": release}
		return ev
	}

	setServing("r-old")
	publish(t, f.store, e, of(crashLoop("api"), "r-old"))
	waitFor(t, "firing", 5*time.Second, func() bool { return len(sender.sends("")) == 1 })

	setServing("r-new")
	publish(t, f.store, e, eventOf(platform.EventReleaseRolledOut, "api"))
	publish(t, f.store, e, of(eventOf(platform.EventInstanceCrashed, "api"), "r-old"))
	publish(t, f.store, e, of(crashLoop("api"), "r-old"))
	waitFor(t, "resolved", 5*time.Second, func() bool { return len(sender.sends("")) == 2 })
	if got := sender.sends("")[1].Message.Kind; got != notify.Resolved {
		t.Fatalf("second notification is %s, want resolved", got)
	}
	// The serving release crashing again is a new incident.
	publish(t, f.store, e, of(crashLoop("api"), "r-new"))
	waitFor(t, "firing again", 5*time.Second, func() bool { return len(sender.sends("")) == 3 })
}

// TestHistoryIsPruned: done notifications older than the retention go at start; the
// undelivered stay.
func TestHistoryIsPruned(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-1", nil)
	ctx := t.Context()
	old := time.Now().Add(-48 * time.Hour)
	must(t, f.store.EnqueueNotifications(ctx, []*platform.Notification{
		{ID: "n-old", Org: platform.DefaultOrg, ChannelID: "ch-1", Kind: platform.NotifyFiring, Summary: "old",
			Status: platform.NotificationSilenced, CreatedAt: old},
		{ID: "n-recent", Org: platform.DefaultOrg, ChannelID: "ch-1", Kind: platform.NotifyFiring, Summary: "recent",
			Status: platform.NotificationSilenced, CreatedAt: time.Now()},
	}))
	opts := f.options(&fakeSender{})
	opts.Retention = 24 * time.Hour
	start(t, opts)
	waitFor(t, "the old notification pruned", 5*time.Second, func() bool {
		list, err := f.store.ListNotifications(ctx, platform.NotificationFilter{})
		must(t, err)
		return len(list) == 1 && list[0].ID == "n-recent"
	})
}

// TestBuildFailureIsOneAlert: a release that failed because its build did fires no
// release_failed alert beside the build_failed one.
func TestBuildFailureIsOneAlert(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-1", nil)
	sender := &fakeSender{}
	e, _ := start(t, f.options(sender))
	publish(t, f.store, e, eventOf(platform.EventBuildFailed, "api"))
	rel := eventOf(platform.EventReleaseFailed, "api")
	rel.Data = map[string]string{"cause": "build"}
	publish(t, f.store, e, rel)
	waitFor(t, "the build's alert", 5*time.Second, func() bool { return len(sender.sends("")) == 1 })
	caughtUp(t, f.store)
	time.Sleep(100 * time.Millisecond)
	alerts, err := f.store.ListAlerts(t.Context(), platform.AlertFilter{})
	must(t, err)
	if len(alerts) != 1 || alerts[0].Kind != platform.AlertBuildFailed || len(sender.sends("")) != 1 {
		t.Fatalf("alerts = %+v, sends %d: want the build_failed alert only", alerts, len(sender.sends("")))
	}
}
