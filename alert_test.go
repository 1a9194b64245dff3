package platform

import (
	"strings"
	"testing"
	"time"
)

func TestAlertRuleValidate(t *testing.T) {
	t.Parallel()
	metric := func(edit func(r *AlertRule)) *AlertRule {
		r := &AlertRule{Name: "errors", Kind: AlertErrorRate, Op: ">", Threshold: 5, Window: 5 * time.Minute,
			For: time.Minute, Severity: SeverityWarning}
		edit(r)
		return r
	}
	tests := []struct {
		name string
		rule *AlertRule
		want []string // substrings of the message; none: valid
	}{
		{"metric rule", metric(func(*AlertRule) {}), nil},
		{"builtin override", &AlertRule{Name: "quiet builds", Kind: AlertBuildFailed, Severity: SeverityInfo, Disabled: true}, nil},
		{"everything wrong at once", &AlertRule{ID: "builtin:x", Kind: "vibes", Severity: "loud", Namespace: "A",
			RepeatInterval: time.Second}, []string{"prefix", "name", "kind", "severity", "namespace", "repeat interval"}},
		{"builtin with a condition", &AlertRule{Name: "x", Kind: AlertCrashLoop, Severity: SeverityCritical, Op: ">"},
			[]string{"fires on events"}},
		{"spend limit of a namespace", &AlertRule{Name: "spend", Kind: AlertSpendLimit, Severity: SeverityCritical, Namespace: "acme"}, nil},
		{"spend limit of a service", &AlertRule{Name: "spend", Kind: AlertSpendLimit, Severity: SeverityCritical, Service: "api"},
			[]string{"takes no service"}},
		{"bad condition", metric(func(r *AlertRule) { r.Op, r.Threshold, r.Window, r.For = "=", 101, 30*time.Second, -1 }),
			[]string{"op", "percentage", "window", "for"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.rule.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if ErrorCode(err) != EINVALID {
				t.Fatalf("Validate = %v, want EINVALID", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(ErrorMessage(err), w) {
					t.Errorf("message %q does not mention %q", ErrorMessage(err), w)
				}
			}
		})
	}
}

func TestAlertRouting(t *testing.T) {
	t.Parallel()
	a := &Alert{Org: "o", Namespace: "acme", Service: "api", RuleID: "builtin:crash_loop", Kind: AlertCrashLoop, Severity: SeverityWarning}
	channels := []struct {
		name string
		ch   AlertChannel
		want bool
	}{
		{"everything", AlertChannel{}, true},
		{"its namespace", AlertChannel{Namespaces: []string{"other", "acme"}}, true},
		{"another namespace", AlertChannel{Namespaces: []string{"other"}}, false},
		{"another service", AlertChannel{Services: []string{"web"}}, false},
		{"severity met", AlertChannel{MinSeverity: SeverityWarning}, true},
		{"severity too low", AlertChannel{MinSeverity: SeverityCritical}, false},
	}
	for _, tc := range channels {
		t.Run("channel "+tc.name, func(t *testing.T) {
			if got := tc.ch.Routes(a); got != tc.want {
				t.Fatalf("Routes = %v, want %v", got, tc.want)
			}
		})
	}
	silences := []struct {
		name string
		s    Silence
		want bool
	}{
		{"org-wide", Silence{Org: "o"}, true},
		{"by rule kind", Silence{Org: "o", Rule: "crash_loop"}, true},
		{"by rule id", Silence{Org: "o", Rule: "builtin:crash_loop", Service: "api"}, true},
		{"another rule", Silence{Org: "o", Rule: "build_failed"}, false},
		{"another org", Silence{Org: "x"}, false},
		{"another namespace", Silence{Org: "o", Namespace: "web"}, false},
	}
	for _, tc := range silences {
		t.Run("silence "+tc.name, func(t *testing.T) {
			if got := tc.s.Matches(a); got != tc.want {
				t.Fatalf("Matches = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestChannelAndSilenceValidate(t *testing.T) {
	t.Parallel()
	ch := &AlertChannel{Kind: "fax", Namespaces: []string{"Bad"}, Services: []string{"-x"}, MinSeverity: "meh"}
	err := ch.Validate()
	for _, w := range []string{"name", "kind", "namespace", "service", "severity"} {
		if !strings.Contains(ErrorMessage(err), w) {
			t.Errorf("channel message %q does not mention %q", ErrorMessage(err), w)
		}
	}
	if err := (&AlertChannel{Name: "ops", Kind: ChannelSlack}).Validate(); err != nil {
		t.Fatalf("valid channel: %v", err)
	}
	err = (&Silence{Namespace: "Bad"}).Validate()
	for _, w := range []string{"until", "namespace"} {
		if !strings.Contains(ErrorMessage(err), w) {
			t.Errorf("silence message %q does not mention %q", ErrorMessage(err), w)
		}
	}
}
