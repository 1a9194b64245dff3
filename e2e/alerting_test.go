package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAlerting drives alerting as a team would, against the real server and a local
// stand-in for each provider (a go-smtp server, and HTTP receivers that check requests
// the way Twilio, Slack and PagerDuty document them, and the platform's signed webhook):
//
//   - bad channels and rules are refused with the reason and nothing is saved;
//   - `platform alerts test` reaches a channel;
//   - a service whose 8 instances crash every few seconds (about 50 crashes in its first
//     minute) makes one crash-loop alert and exactly one firing notification on each
//     channel, with what, where and a link;
//   - `kill -9` of the server while the alert fires and a restart: nothing sent twice;
//   - a channel that answers 500 is retried and dead-lettered, the others unaffected;
//   - the fix (a new release that stays up) sends exactly one resolved notification each;
//   - under a silence, the next incident fires and sends nothing.
func TestAlerting(t *testing.T) {
	skipShort(t)
	rc := startReceivers(t)
	dir := t.TempDir()
	env := []string{
		"PLATFORM_ALERTING_ALLOW_PRIVATE_NETWORKS=1", // the receivers are on 127.0.0.1
		"PLATFORM_ALERTING_MAX_ATTEMPTS=3",
		"PLATFORM_ALERTING_CRASH_LOOP_SETTLE=5s",
	}
	s := startServerEnv(t, dir, env)
	s.must(t, "namespaces", "create", "acme")

	t.Run("bad input is refused and nothing is saved", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"alerts", "channels", "create", "--name", "ops", "--kind", "webhook", "--config", "url=ftp://hooks.acme.test/x"}, "url"},
			{[]string{"alerts", "channels", "create", "--name", "ops", "--kind", "fax"}, "fax"},
			{[]string{"alerts", "channels", "create", "--name", "ops", "--kind", "email", "--config", "host=mx.acme.test", "--config", "to=oncall@acme.test", "--config", "from=x@acme.test", "--config", "colour=red"}, "colour"},
			{[]string{"alerts", "rules", "create", "--name", "slow", "--when", "p99_latency >> 5"}, "threshold"},
			{[]string{"alerts", "rules", "create", "--name", "slow", "--when", "latency > 5"}, "latency"},
			{[]string{"alerts", "rules", "create", "--name", "busy", "--when", "error_rate > 500"}, "percentage"},
		} {
			r := s.platformEnv(t, []string{"PLATFORM_ALERT_SECRET=a-secret"}, c.args...)
			if r.code == 0 || !strings.Contains(r.stderr, c.want) {
				t.Errorf("platform %s: want a refusal naming %q, got %s", strings.Join(c.args, " "), c.want, r)
			}
		}
		// The API refuses an unknown field rather than dropping it.
		req, _ := http.NewRequest(http.MethodPost, s.url()+"/v1/alerts/rules",
			strings.NewReader(`{"name":"x","kind":"error_rate","op":">","threshold":5,"severity":"warning","treshold_typo":1}`))
		req.Header.Set("Authorization", "Bearer "+s.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a rule with an unknown field: status %d, want 400", resp.StatusCode)
		}
		if out := s.must(t, "alerts", "channels", "list", "-o", "json"); strings.TrimSpace(out) != "[]" {
			t.Errorf("channels after refusals: %s, want none", out)
		}
		rules := decode[[]map[string]any](t, s.must(t, "alerts", "rules", "list", "-o", "json"))
		for _, r := range rules {
			if !strings.HasPrefix(fmt.Sprint(r["id"]), "builtin:") {
				t.Errorf("a refused rule was saved: %v", r)
			}
		}
	})

	// The team's channels: one of each kind, and a webhook that always answers 500.
	host, port, _ := strings.Cut(rc.smtpAddr, ":")
	channels := map[string][]string{
		"email": {"--kind", "email", "--config", "host=" + host, "--config", "port=" + port, "--config", "tls=none",
			"--config", "from=" + mailFrom, "--config", "to=" + mailTo},
		"sms":       {"--kind", "sms", "--config", "account_sid=" + twilioSID, "--config", "from=" + smsFrom, "--config", "to=" + smsTo, "--config", "base_url=" + rc.twilioBase},
		"slack":     {"--kind", "slack"},
		"pagerduty": {"--kind", "pagerduty", "--config", "base_url=" + rc.pdBase},
		"webhook":   {"--kind", "webhook", "--config", "url=" + rc.hookURL},
		"broken":    {"--kind", "webhook", "--config", "url=" + rc.brokenURL},
	}
	secrets := map[string]string{"email": "", "sms": twilioToken, "slack": rc.slackURL, "pagerduty": pdRoutingKey, "webhook": hookSecret, "broken": hookSecret}
	healthy := []string{"email", "sms", "slack", "pagerduty", "webhook"}
	for _, name := range append(healthy, "broken") {
		args := append([]string{"alerts", "channels", "create", "--name", name}, channels[name]...)
		var r result
		if secrets[name] != "" {
			r = s.platformStdin(t, secrets[name]+"\n", append(args, "--secret-stdin")...)
		} else {
			r = s.platform(t, args...)
		}
		if r.code != 0 {
			t.Fatalf("create channel %s: %s", name, r)
		}
	}
	t.Run("secrets are never shown back", func(t *testing.T) {
		out := s.must(t, "alerts", "channels", "list", "-o", "json")
		for name, secret := range secrets {
			if secret != "" && strings.Contains(out, secret) {
				t.Errorf("channel list shows %s's secret:\n%s", name, out)
			}
		}
		if strings.Contains(s.out.String(), twilioToken) || strings.Contains(s.out.String(), pdRoutingKey) {
			t.Errorf("the server logged a channel secret")
		}
	})

	t.Run("test notification", func(t *testing.T) {
		out := s.must(t, "alerts", "test", "slack")
		if !strings.Contains(strings.ToLower(out), "sent") {
			t.Errorf("platform alerts test slack: %s, want it sent", out)
		}
		if d := rc.deliveries("slack", "test"); len(d) != 1 {
			t.Errorf("slack got %d test notifications, want 1", len(d))
		}
	})

	// A service whose instances crash 3 s after they start, 8 of them.
	flaky := filepath.Join("e2e", "testdata", "flaky")
	s.must(t, "deploy", flaky, "-n", "acme", "--name", "flaky", "--replicas", "8", "--size", "nano", "--env", "CRASH_AFTER=3s")

	firing := func(ch string) int { return len(rc.deliveries(ch, "firing")) }
	eventuallyWithin(t, 90*time.Second, "a firing notification on every channel", func() bool {
		for _, ch := range healthy {
			if firing(ch) == 0 {
				return false
			}
		}
		return true
	})
	t.Run("one firing notification per channel, with what, where and a link", func(t *testing.T) {
		for _, ch := range healthy {
			d := rc.deliveries(ch, "firing")
			if len(d) != 1 {
				t.Errorf("%s got %d firing notifications, want 1: %+v", ch, len(d), d)
				continue
			}
			if !strings.Contains(d[0].Text, "flaky") || !strings.Contains(strings.ToLower(d[0].Text), "crash") {
				t.Errorf("%s firing notification does not say flaky is crash-looping: %q", ch, d[0].Text)
			}
		}
		for _, ch := range []string{"email", "slack", "webhook"} {
			if d := rc.deliveries(ch, "firing"); len(d) == 1 && !strings.Contains(d[0].Text, s.url()+"/ui/n/acme/s/flaky") {
				t.Errorf("%s firing notification has no link to the service's page: %q", ch, d[0].Text)
			}
		}
		if d := rc.deliveries("email", "firing"); len(d) == 1 && !strings.Contains(d[0].Text, "lost the connection to the database") {
			t.Errorf("the email does not give the instance's last words: %q", d[0].Text)
		}
		// How long from the crash loop (the event's time, stamped by the region) to each
		// channel's receiver: the figure docs/performance.md §13 reports.
		loops := decode[[]struct {
			Time time.Time `json:"time"`
		}](t, s.must(t, "events", "-n", "acme", "--type", "instance.crashloop", "-o", "json"))
		if len(loops) > 0 {
			first := loops[0].Time
			for _, l := range loops {
				if l.Time.Before(first) {
					first = l.Time
				}
			}
			for _, ch := range healthy {
				if d := rc.deliveries(ch, "firing"); len(d) > 0 {
					t.Logf("crash loop → %s receiver: %s", ch, d[0].At.Sub(first).Round(time.Millisecond))
				}
			}
		}
		alerts := s.must(t, "alerts")
		if !strings.Contains(alerts, "firing") || !strings.Contains(alerts, "flaky") {
			t.Errorf("platform alerts:\n%s", alerts)
		}
	})

	t.Run("many crashes make one alert", func(t *testing.T) {
		eventuallyWithin(t, 60*time.Second, "40 crashes", func() bool {
			return strings.Count(s.must(t, "events", "-n", "acme", "--type", "instance.crashed", "--limit", "500"), "instance.crashed") >= 40
		})
		rc.settle(3 * time.Second)
		for _, ch := range healthy {
			if n := firing(ch); n != 1 {
				t.Errorf("%s: %d firing notifications after 40 crashes, want 1", ch, n)
			}
		}
		out := decode[[]map[string]any](t, s.must(t, "alerts", "-n", "acme", "-o", "json"))
		if len(out) != 1 {
			t.Errorf("platform alerts lists %d alerts, want the one crash loop: %v", len(out), out)
		}
	})

	outer := t
	t.Run("kill -9 while firing sends nothing twice", func(t *testing.T) {
		s.kill9()
		s = startServerEnv(outer, dir, env)
		rc.settle(8 * time.Second)
		for _, ch := range healthy {
			if n := firing(ch); n != 1 {
				t.Errorf("%s: %d firing notifications after a restart, want 1", ch, n)
			}
		}
		if !strings.Contains(s.must(t, "alerts"), "firing") {
			t.Errorf("the alert is not firing after the restart")
		}
	})

	t.Run("a failing channel is retried, then dead-lettered", func(t *testing.T) {
		eventuallyWithin(t, 60*time.Second, "the broken channel's notification dead", func() bool {
			return strings.Contains(s.must(t, "alerts", "history", "--channel", "broken"), "dead")
		})
		if n := rc.hitsOf("broken"); n != 3 {
			t.Errorf("the broken channel was tried %d times, want 3 (alerting.max_attempts)", n)
		}
		hist := s.must(t, "alerts", "history", "--channel", "broken")
		if !strings.Contains(hist, "500") {
			t.Errorf("history does not say why it failed:\n%s", hist)
		}
	})

	t.Run("the fix sends one resolved notification per channel", func(t *testing.T) {
		s.must(t, "deploy", flaky, "-n", "acme", "--name", "flaky", "--replicas", "1", "--size", "nano")
		eventuallyWithin(t, 60*time.Second, "a resolved notification on every channel", func() bool {
			for _, ch := range healthy {
				if len(rc.deliveries(ch, "resolved")) == 0 {
					return false
				}
			}
			return true
		})
		rc.settle(3 * time.Second)
		for _, ch := range healthy {
			if d := rc.deliveries(ch, "resolved"); len(d) != 1 {
				t.Errorf("%s got %d resolved notifications, want 1", ch, len(d))
			}
		}
		if d := rc.deliveries("pagerduty", ""); len(d) >= 2 && d[len(d)-1].Key != d[len(d)-2].Key {
			t.Errorf("PagerDuty's resolve has dedup key %q, the trigger %q", d[len(d)-1].Key, d[len(d)-2].Key)
		}
		if !strings.Contains(s.must(t, "alerts", "--state", "resolved"), "flaky") {
			t.Errorf("the alert is not resolved")
		}
	})

	t.Run("a silence mutes the next incident", func(t *testing.T) {
		s.must(t, "alerts", "silence", "--service", "flaky", "--for", "1h", "--comment", "maintenance")
		before := map[string]int{}
		for _, ch := range healthy {
			before[ch] = len(rc.deliveries(ch, ""))
		}
		s.must(t, "deploy", flaky, "-n", "acme", "--name", "flaky", "--replicas", "1", "--size", "nano", "--env", "CRASH_AFTER=2s")
		eventuallyWithin(t, 90*time.Second, "the alert firing again", func() bool {
			return strings.Contains(s.must(t, "alerts", "--state", "firing"), "flaky")
		})
		eventuallyWithin(t, 30*time.Second, "silenced notifications in the history", func() bool {
			return strings.Contains(s.must(t, "alerts", "history", "--status", "silenced"), "silenced")
		})
		rc.settle(3 * time.Second)
		for _, ch := range healthy {
			if n := len(rc.deliveries(ch, "")); n != before[ch] {
				t.Errorf("%s received %d notifications under the silence", ch, n-before[ch])
			}
		}
	})
}

// settle waits for d: time for a wrong extra notification to arrive.
func (r *receivers) settle(d time.Duration) { time.Sleep(d) }

// eventuallyWithin polls cond every half second until it holds, failing t after timeout.
func eventuallyWithin(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
