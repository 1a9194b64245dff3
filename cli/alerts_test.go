package cli

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
)

// TestAlertsGolden checks the text of `platform alerts` and its subcommands against
// testdata/*.golden.
func TestAlertsGolden(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	viewer := newFakeAPI(t)
	viewer.whoamiRole = platform.RoleViewer
	tests := []struct {
		name  string
		args  []string
		stdin string
		env   []string // added to the fake's server and token
		fake  *fakeAPI // f when nil
	}{
		{name: "alerts", args: []string{"alerts"}},
		{name: "alerts_all", args: []string{"alerts", "--state", "all"}},
		{name: "alerts_resolved_acme", args: []string{"alerts", "--state", "resolved", "-n", "acme"}},
		{name: "alerts_rules_create_builtin_replaced", args: []string{"alerts", "rules", "create", "--kind", "build_failed", "--severity", "info",
			"--repeat", "24h", "-n", "sandbox"}},
		{name: "alerts_none", args: []string{"alerts", "-n", "globex"}},
		{name: "alerts_bad_state", args: []string{"alerts", "--state", "open"}},
		{name: "alerts_rules", args: []string{"alerts", "rules"}},
		{name: "alerts_rules_create_when", args: []string{"alerts", "rules", "create", "--when", "error_rate > 5%", "--window", "10m", "--for", "2m",
			"-n", "acme", "--severity", "critical"}},
		{name: "alerts_rules_create_flags", args: []string{"alerts", "rules", "create", "api slow", "--kind", "p99_latency", "--op", ">",
			"--threshold", "1.5s", "-n", "acme", "--service", "api", "--repeat", "1h"}},
		{name: "alerts_rules_create_builtin_off", args: []string{"alerts", "rules", "create", "--kind", "crash_loop", "--disabled", "-n", "sandbox"}},
		{name: "alerts_rules_create_invalid", args: []string{"alerts", "rules", "create", "odd", "--kind", "error_rate", "--op", "=",
			"--threshold", "500", "--window", "90s", "--severity", "urgent"}},
		{name: "alerts_rules_create_bad_when", args: []string{"alerts", "rules", "create", "--when", "error_rate is high"}},
		{name: "alerts_rules_create_bad_threshold", args: []string{"alerts", "rules", "create", "--when", "p99_latency > 3 parsecs"}},
		{name: "alerts_rules_create_builtin_condition", args: []string{"alerts", "rules", "create", "--kind", "crash_loop", "--for", "5m"}},
		{name: "alerts_rules_create_no_kind", args: []string{"alerts", "rules", "create", "x"}},
		{name: "alerts_rules_delete_builtin", args: []string{"alerts", "rules", "delete", "builtin:crash_loop"}},
		{name: "alerts_rules_delete", args: []string{"alerts", "rules", "delete", "api errors"}},
		{name: "alerts_channels", args: []string{"alerts", "channels"}},
		{name: "alerts_channels_viewer", args: []string{"alerts", "channels"}, fake: viewer},
		{name: "alerts_channels_create_stdin", args: []string{"alerts", "channels", "create", "hook2", "--kind", "webhook",
			"--config", "url=https://hooks.example.com/b?x=1,2", "--namespace", "acme", "--min-severity", "warning", "--secret-stdin"},
			stdin: "hmac-key-0123\n"},
		{name: "alerts_channels_create_env", args: []string{"alerts", "channels", "create", "--name", "mail", "--kind", "email",
			"--config", "host=smtp.example.com", "--config", "from=alerts@example.com", "--config", "to=ops@example.com,dev@example.com",
			"--config", "username=alerts"}, env: []string{"PLATFORM_ALERT_SECRET=smtp-password"}},
		{name: "alerts_channels_create_no_secret", args: []string{"alerts", "channels", "create", "pager", "--kind", "pagerduty"}},
		{name: "alerts_channels_create_secret_in_flag", args: []string{"alerts", "channels", "create", "pager", "--kind", "pagerduty",
			"--config", "routing_key=0123456789abcdef0123456789abcdef"}},
		{name: "alerts_channels_create_bad_config", args: []string{"alerts", "channels", "create", "hook2", "--kind", "webhook", "--config", "url"}},
		{name: "alerts_channels_create_empty_stdin", args: []string{"alerts", "channels", "create", "hook2", "--kind", "webhook",
			"--config", "url=https://h.example.com", "--secret-stdin"}},
		{name: "alerts_channels_create_conflict", args: []string{"alerts", "channels", "create", "ops", "--kind", "slack"},
			env: []string{"PLATFORM_ALERT_SECRET=https://hooks.slack.com/services/T0/B0/x"}},
		{name: "alerts_channels_delete", args: []string{"alerts", "channels", "delete", "ops"}},
		{name: "alerts_test_sent", args: []string{"alerts", "test", "ops"}},
		{name: "alerts_test_failed", args: []string{"alerts", "test", "oncall"}},
		{name: "alerts_test_pending", args: []string{"alerts", "test", "hook"}},
		{name: "alerts_test_not_found", args: []string{"alerts", "test", "nope"}},
		{name: "alerts_silence_for", args: []string{"alerts", "silence", "-n", "acme", "--service", "hello", "--rule", "crash_loop", "--for", "2h",
			"--comment", "deploying a fix"}},
		{name: "alerts_silence_until", args: []string{"alerts", "silence", "--until", "2026-03-05T09:00:00+01:00"}},
		{name: "alerts_silence_no_end", args: []string{"alerts", "silence", "-n", "acme"}},
		{name: "alerts_silence_both", args: []string{"alerts", "silence", "--for", "1h", "--until", "2026-03-05T09:00:00Z"}},
		{name: "alerts_silence_bad_until", args: []string{"alerts", "silence", "--until", "tomorrow"}},
		{name: "alerts_silence_too_long", args: []string{"alerts", "silence", "--for", "2400h"}},
		{name: "alerts_silences", args: []string{"alerts", "silences"}},
		{name: "alerts_unsilence", args: []string{"alerts", "unsilence", "si-0a1b2c3d4e5f6a7b"}},
		{name: "alerts_unsilence_not_found", args: []string{"alerts", "unsilence", "si-nope"}},
		{name: "alerts_history", args: []string{"alerts", "history"}},
		{name: "alerts_history_channel", args: []string{"alerts", "history", "--channel", "ops", "--status", "sent", "--limit", "1"}},
		{name: "alerts_history_viewer", args: []string{"alerts", "history"}, fake: viewer},
		{name: "alerts_history_viewer_channel_name", args: []string{"alerts", "history", "--channel", "ops"}, fake: viewer},
		{name: "alerts_history_bad_status", args: []string{"alerts", "history", "--status", "delivered"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fk := tt.fake
			if fk == nil {
				fk = f
			}
			env := append([]string{"PLATFORM_SERVER=" + fk.URL, "PLATFORM_TOKEN=" + adminSecret}, tt.env...)
			r := runCLI(t, env, tt.stdin, tt.args...)
			checkGolden(t, tt.name, transcript(tt.args, r))
			for _, secret := range []string{"hmac-key-0123", "smtp-password", "hooks.slack.com"} {
				if strings.Contains(r.stdout+r.stderr, secret) {
					t.Errorf("the output shows the secret %q", secret)
				}
			}
		})
	}
}

// TestAlertsRequests checks what the commands send: durations as the API takes them,
// thresholds in the kind's unit, config and secret of a channel, a silence's end.
func TestAlertsRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		stdin string
		env   []string
		key   string // the request recorded
		want  map[string]any
	}{
		{name: "rule from --when", args: []string{"alerts", "rules", "create", "--when", "error_rate>2.5", "--window", "5m", "--for", "90s", "-n", "acme"},
			key: "POST /v1/alerts/rules",
			want: map[string]any{"name": "error_rate > 2.5 in acme", "kind": "error_rate", "namespace": "acme", "op": ">", "threshold": 2.5,
				"window": "5m", "for": "1m30s", "severity": "warning"}},
		{name: "latency in seconds", args: []string{"alerts", "rules", "create", "slow", "--when", "p99_latency > 1.5s", "--repeat", "30m", "--service", "api"},
			key: "POST /v1/alerts/rules",
			want: map[string]any{"name": "slow", "kind": "p99_latency", "service": "api", "op": ">", "threshold": 1500.0, "repeat_interval": "30m",
				"severity": "warning"}},
		{name: "memory in MiB", args: []string{"alerts", "rules", "create", "--kind", "memory", "--op", ">", "--threshold", "512Mi", "--name", "big"},
			key:  "POST /v1/alerts/rules",
			want: map[string]any{"name": "big", "kind": "memory", "op": ">", "threshold": 536870912.0, "severity": "warning"}},
		{name: "cpu in millicores", args: []string{"alerts", "rules", "create", "--when", "cpu < 250m", "--severity", "info"},
			key:  "POST /v1/alerts/rules",
			want: map[string]any{"name": "cpu < 250m", "kind": "cpu", "op": "<", "threshold": 0.25, "severity": "info"}},
		{name: "a built-in turned off keeps its severity", args: []string{"alerts", "rules", "create", "--kind", "service_down", "--disabled", "--service", "batch"},
			key:  "POST /v1/alerts/rules",
			want: map[string]any{"name": "service_down off in */batch", "kind": "service_down", "service": "batch", "severity": "critical", "disabled": true}},
		{name: "channel with its secret from stdin", args: []string{"alerts", "channels", "create", "hook", "--kind", "webhook",
			"--config", "url=https://h.example.com/x?a=1,2", "--service", "api,web", "--secret-stdin"}, stdin: "k3y\r\n",
			key: "POST /v1/alerts/channels",
			want: map[string]any{"name": "hook", "kind": "webhook", "config": map[string]any{"url": "https://h.example.com/x?a=1,2"}, "secret": "k3y",
				"services": []any{"api", "web"}}},
		{name: "channel with its secret from the environment", args: []string{"alerts", "channels", "create", "sms", "--kind", "sms",
			"--config", "account_sid=AC0123456789abcdef0123456789abcdef", "--config", "from=+14155550100", "--config", "to=+14155550101,+14155550102",
			"--namespace", "acme", "--namespace", "globex", "--min-severity", "critical"}, env: []string{"PLATFORM_ALERT_SECRET=tw-token"},
			key: "POST /v1/alerts/channels",
			want: map[string]any{"name": "sms", "kind": "sms", "config": map[string]any{"account_sid": "AC0123456789abcdef0123456789abcdef",
				"from": "+14155550100", "to": "+14155550101,+14155550102"}, "secret": "tw-token", "namespaces": []any{"acme", "globex"},
				"min_severity": "critical"}},
		{name: "stdin wins over the environment", args: []string{"alerts", "channels", "create", "ops2", "--kind", "slack", "--secret-stdin"},
			stdin: "https://hooks.slack.com/services/T/B/stdin", env: []string{"PLATFORM_ALERT_SECRET=https://hooks.slack.com/services/T/B/env"},
			key:  "POST /v1/alerts/channels",
			want: map[string]any{"name": "ops2", "kind": "slack", "secret": "https://hooks.slack.com/services/T/B/stdin"}},
		{name: "email without a password", args: []string{"alerts", "channels", "create", "relay", "--kind", "email", "--config", "host=127.0.0.1",
			"--config", "port=2525", "--config", "tls=none", "--config", "from=a@example.com", "--config", "to=b@example.com"},
			key: "POST /v1/alerts/channels",
			want: map[string]any{"name": "relay", "kind": "email", "config": map[string]any{"host": "127.0.0.1", "port": "2525", "tls": "none",
				"from": "a@example.com", "to": "b@example.com"}}},
		{name: "silence for", args: []string{"alerts", "silence", "--rule", "api errors", "--for", "90m"},
			key: "POST /v1/alerts/silences", want: map[string]any{"rule": "api errors", "for": "1h30m"}},
		{name: "silence until", args: []string{"alerts", "silence", "-n", "acme", "--until", "2026-03-05T09:00:00+01:00", "--comment", "night"},
			key: "POST /v1/alerts/silences", want: map[string]any{"namespace": "acme", "until": "2026-03-05T09:00:00+01:00", "comment": "night"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			r := runCLI(t, append([]string{"PLATFORM_SERVER=" + f.URL, "PLATFORM_TOKEN=" + adminSecret}, tt.env...), tt.stdin, tt.args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			var got map[string]any
			if err := json.Unmarshal(f.recorded(tt.key), &got); err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("request %s (%v)\nwant %v", f.recorded(tt.key), err, tt.want)
			}
		})
	}
}

// TestAlertsJSON checks -o json of the alerting commands: API objects, durations as
// strings, no secret.
func TestAlertsJSON(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		check    func(t *testing.T, v any)
	}{
		{name: "alerts, firing and pending", args: []string{"alerts"}, check: func(t *testing.T, v any) {
			l, _ := v.([]any)
			first, _ := l[0].(map[string]any)
			if len(l) != 2 || first["id"] != "al-2" || first["repeat_interval"] != "1h" {
				t.Errorf("got %v, want al-2 and al-1, repeat_interval as a duration", v)
			}
		}},
		{name: "alerts, all", args: []string{"alerts", "--state", "all"}, check: wantLen(3)},
		{name: "alerts, limited", args: []string{"alerts", "--limit", "1"}, check: wantLen(1)},
		{name: "rules", args: []string{"alerts", "rules"}, check: func(t *testing.T, v any) {
			l, _ := v.([]any)
			builtin, _ := l[0].(map[string]any)
			metric, _ := l[len(platform.BuiltinAlertKinds)].(map[string]any)
			if _, ok := builtin["created_at"]; len(l) != len(platform.BuiltinAlertKinds)+3 || ok || builtin["repeat_interval"] != "4h" {
				t.Errorf("built-in %v: want no created_at and repeat_interval 4h", builtin)
			}
			if metric["window"] != "5m" || metric["for"] != "2m" || metric["threshold"] != 5.0 {
				t.Errorf("metric rule %v: want window 5m, for 2m", metric)
			}
		}},
		{name: "rules create", args: []string{"alerts", "rules", "create", "--when", "request_rate < 1/s", "--window", "15m"}, check: func(t *testing.T, v any) {
			m, _ := v.(map[string]any)
			if m["id"] != "ar-4" || m["window"] != "15m" || m["threshold"] != 1.0 || m["op"] != "<" {
				t.Errorf("got %v", v)
			}
		}},
		{name: "channels", args: []string{"alerts", "channels"}, check: wantLen(3)},
		{name: "channels create", args: []string{"alerts", "channels", "create", "relay", "--kind", "email", "--config", "host=127.0.0.1"},
			check: wantField("id", "ch-aabbccddeeff0011")},
		{name: "test, sent", args: []string{"alerts", "test", "ops"}, check: wantField("status", "sent")},
		{name: "test, failed", args: []string{"alerts", "test", "oncall"}, wantCode: 1, check: wantField("last_error", "pagerduty: 400 Bad Request: Invalid routing key")},
		{name: "silence", args: []string{"alerts", "silence", "--for", "2h"}, check: wantField("until", "2026-03-04T12:22:00Z")},
		{name: "silences", args: []string{"alerts", "silences"}, check: wantLen(2)},
		{name: "unsilence", args: []string{"alerts", "unsilence", "si-0a1b2c3d4e5f6a7b"}, check: wantField("status", "ended")},
		{name: "history", args: []string{"alerts", "history", "--status", "failed"}, check: wantLen(1)},
		{name: "rules delete", args: []string{"alerts", "rules", "delete", "ar-1"}, check: wantField("status", "deleted")},
		{name: "channels delete", args: []string{"alerts", "channels", "delete", "hook"}, check: wantField("status", "deleted")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := f.run(t, append(tt.args, "-o", "json")...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", r.code, tt.wantCode, r.stderr)
			}
			if tt.wantCode != 0 {
				var e struct {
					Error struct{ Code, Message string }
				}
				if err := json.Unmarshal([]byte(r.stderr), &e); err != nil || e.Error.Code == "" {
					t.Errorf("stderr %q: want the error as JSON", r.stderr)
				}
			}
			var v any
			if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, r.stdout)
			}
			tt.check(t, v)
		})
	}
}

func TestParseThreshold(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		kind platform.AlertKind
		in   string
		want float64
		bad  bool
	}{
		{platform.AlertErrorRate, "5", 5, false},
		{platform.AlertErrorRate, "0.5%", 0.5, false},
		{platform.AlertErrorRate, "5ms", 0, true},
		{platform.AlertP99Latency, "300", 300, false},
		{platform.AlertP99Latency, "250ms", 250, false},
		{platform.AlertP99Latency, "1.5s", 1500, false},
		{platform.AlertP99Latency, "500us", 0.5, false},
		{platform.AlertP99Latency, "3 parsecs", 0, true},
		{platform.AlertRequestRate, "10/s", 10, false},
		{platform.AlertRequestRate, "10 rps", 10, false},
		{platform.AlertCPU, "1.5cores", 1.5, false},
		{platform.AlertCPU, "250m", 0.25, false},
		{platform.AlertMemory, "512Mi", 512 << 20, false},
		{platform.AlertMemory, "1Gi", 1 << 30, false},
		{platform.AlertMemory, "1.5GB", 1.5e9, false},
		{platform.AlertMemory, "1024", 1024, false},
		{platform.AlertMemory, "1TB", 0, true},
		{platform.AlertCrashLoop, "5%", 0, true},
		{platform.AlertErrorRate, "-5", 0, true},
		{platform.AlertErrorRate, "five", 0, true},
	} {
		got, err := parseThreshold(tt.kind, tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("parseThreshold(%s, %q) = %v, %v; want %v (error %v)", tt.kind, tt.in, got, err, tt.want, tt.bad)
		}
	}
	for d, want := range map[time.Duration]string{0: "", 5 * time.Minute: "5m", 90 * time.Minute: "1h30m", 4 * time.Hour: "4h", 90 * time.Second: "1m30s",
		26 * time.Hour: "26h", time.Hour + 30*time.Second: "1h0m30s", 1500 * time.Millisecond: "1.5s"} {
		if got := platform.ShortDuration(d); got != want {
			t.Errorf("platform.ShortDuration(%s) = %q, want %q", d, got, want)
		}
	}
	for v, want := range map[float64]string{512 << 20: "512Mi", 1 << 30: "1Gi", 1000: "1000 bytes", 3 << 29: "1536Mi"} {
		if got := fmtThreshold(platform.AlertMemory, v); got != want {
			t.Errorf("fmtThreshold(memory, %v) = %q, want %q", v, got, want)
		}
	}
}

// TestAlertsEndToEnd manages alerting through the CLI against a real server: a rule, a
// webhook channel whose secret comes from stdin, a test notification the receiver
// checks the signature of as docs/alerting.md says, the history, a silence; a viewer
// reads alerts and rules but may not change them or see the channels.
func TestAlertsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole platform")
	}
	t.Parallel()
	const key = "whsec-e2e-0123456789abcdef"
	type delivery struct {
		header http.Header
		body   []byte
	}
	got := make(chan delivery, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header.Clone(), b}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)

	// The receiver is on loopback, which channels reach only when the operator allows it.
	s := startServer(t, "PLATFORM_ALERTING_ALLOW_PRIVATE_NETWORKS=true")
	owner := s.owner
	s.must(t, owner, "Created namespace acme.", "namespaces", "create", "acme")
	s.must(t, owner, `Created rule "error_rate > 5% in acme"`, "alerts", "rules", "create", "--when", "error_rate > 5%", "--window", "5m",
		"--for", "2m", "-n", "acme", "--severity", "critical")
	rules := s.must(t, owner, "builtin:crash_loop", "alerts", "rules")
	if !strings.Contains(rules.stdout, "> 5% over 5m for 2m") {
		t.Errorf("rules:\n%s", rules.stdout)
	}
	s.refused(t, owner, `window 1m30s: use whole minutes`, "alerts", "rules", "create", "--when", "cpu > 2", "--window", "90s")

	r := runCLI(t, []string{"PLATFORM_SERVER=http://" + s.addr, "PLATFORM_TOKEN=" + owner}, key+"\n",
		"alerts", "channels", "create", "hook", "--kind", "webhook", "--config", "url="+recv.URL+"/alerts", "--secret-stdin")
	if r.code != 0 || !strings.Contains(r.stdout, "Created webhook channel hook") {
		t.Fatalf("channels create: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if chs := s.must(t, owner, "hook", "alerts", "channels", "-o", "json"); strings.Contains(chs.stdout, key) {
		t.Errorf("the channel list shows the secret:\n%s", chs.stdout)
	}

	s.must(t, owner, "Sent a test notification to hook", "alerts", "test", "hook")
	select {
	case d := <-got:
		mac := hmac.New(sha256.New, []byte(key))
		mac.Write(d.body)
		if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); d.header.Get("X-Platform-Signature") != want {
			t.Errorf("X-Platform-Signature %q, want %q", d.header.Get("X-Platform-Signature"), want)
		}
		var p struct{ ID, Kind string }
		if err := json.Unmarshal(d.body, &p); err != nil || p.Kind != "test" || d.header.Get("X-Platform-Event") != "test" ||
			d.header.Get("X-Platform-Delivery") != p.ID {
			t.Errorf("delivery %v %s, want a test notification", d.header, d.body)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the receiver got no test notification")
	}
	hist := s.must(t, owner, "sent", "alerts", "history", "--channel", "hook")
	if !regexp.MustCompile(`sent\s+test\s+hook\s+info`).MatchString(hist.stdout) {
		t.Errorf("history:\n%s", hist.stdout)
	}

	sil := s.must(t, owner, "Silenced alerts of namespace acme until", "alerts", "silence", "-n", "acme", "--for", "2h", "--comment", "e2e")
	id := regexp.MustCompile(`\((si-[0-9a-f]+)\)`).FindStringSubmatch(sil.stdout)
	if id == nil {
		t.Fatalf("no silence ID in %q", sil.stdout)
	}
	s.must(t, owner, id[1], "alerts", "silences")

	vic := secretIn(t, s.must(t, owner, "Created user vic", "users", "create", "vic", "--role", "viewer").stdout)
	s.must(t, vic, "No alerts firing or pending.", "alerts")
	s.must(t, vic, id[1], "alerts", "silences")
	s.must(t, vic, "error_rate > 5% in acme", "alerts", "rules")
	s.refused(t, vic, "alert.manage needs the admin role", "alerts", "channels")
	s.refused(t, vic, "alert.manage needs the admin role", "alerts", "rules", "create", "--kind", "crash_loop", "--disabled")
	s.refused(t, vic, "alert.manage needs the admin role", "alerts", "unsilence", id[1])
	// Test notifications name channels, which a viewer may not list: its history has
	// none of them.
	s.must(t, vic, "No notifications.", "alerts", "history")

	s.must(t, owner, "Ended silence "+id[1], "alerts", "unsilence", id[1])
	s.must(t, owner, "No silences in force.", "alerts", "silences")
	s.must(t, owner, "Deleted rule error_rate > 5% in acme.", "alerts", "rules", "delete", "error_rate > 5% in acme")
	s.must(t, owner, "Deleted channel hook.", "alerts", "channels", "delete", "hook")
	if strings.Contains(s.logs.String()+s.errs.String(), key) {
		t.Error("the server's log holds the channel's secret")
	}
	// Every change is audited, and the viewer's refusals; its reads asked nothing refused.
	audit := s.must(t, owner, "alert.channel", "audit", "--action", "alert.")
	for _, want := range []string{"alert.rule", "alert.test", "alert.silence"} {
		if !strings.Contains(audit.stdout, want) {
			t.Errorf("audit has no %s:\n%s", want, audit.stdout)
		}
	}
	if denied := s.must(t, owner, "", "audit", "--actor", "vic").stdout; strings.Count(denied, "denied") != 3 {
		t.Errorf("vic's audit entries, want the three refusals:\n%s", denied)
	}
}
