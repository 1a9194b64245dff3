package notify

import (
	"strings"
	"time"
)

// The words every channel uses for a message, so that an alert reads the same in a
// mail, a text and a Slack post.

// tag is the bracketed word that starts a subject: FIRING (repeats too, so a repeat
// threads with its alert), RESOLVED or TEST.
func tag(k Kind) string {
	switch k {
	case Resolved:
		return "RESOLVED"
	case Test:
		return "TEST"
	}
	return "FIRING"
}

// title names the alert, the same for every notification of one Key: "helloworld
// crash loop in acme" (service, rule, namespace; each when set).
func title(m Message) string {
	var parts []string
	if s := oneLine(m.Service, 100); s != "" {
		parts = append(parts, s)
	}
	rule := oneLine(m.Rule, 100)
	if rule == "" {
		rule = oneLine(m.Summary, 100)
	}
	if rule == "" {
		rule = "alert"
	}
	parts = append(parts, rule)
	if ns := oneLine(m.Namespace, 100); ns != "" {
		parts = append(parts, "in", ns)
	}
	return strings.Join(parts, " ")
}

// subject is "[FIRING] helloworld crash loop in acme".
func subject(m Message) string {
	return "[" + tag(m.Kind) + "] " + title(m)
}

// where says where the alert is: "namespace acme, service helloworld, region local".
func where(m Message) string {
	var parts []string
	org := m.Org
	if org == m.Namespace {
		org = "" // an org's default namespace bears its name: say it once
	}
	for _, p := range []struct{ name, value string }{
		{"org", org}, {"namespace", m.Namespace}, {"service", m.Service}, {"region", m.Region},
	} {
		if v := oneLine(p.value, 100); v != "" {
			parts = append(parts, p.name+" "+v)
		}
	}
	return strings.Join(parts, ", ")
}

// timeFormat writes times in UTC, unambiguous for a team across zones.
const timeFormat = "2006-01-02 15:04:05 UTC"

// since says since when the alert fires, or fired; "" when Since is unknown.
func since(m Message) string {
	if m.Since.IsZero() {
		return ""
	}
	t := m.Since.UTC().Format(timeFormat)
	switch m.Kind {
	case Resolved:
		return "resolved; it had been firing since " + t
	case Test:
		return "a test notification, sent " + t
	}
	return "firing since " + t
}

// severity is the message's severity, or "unknown".
func severity(m Message) string {
	if s := oneLine(m.Severity, 20); s != "" {
		return s
	}
	return "unknown"
}

// utc formats a time for machines (RFC 3339, UTC), "" for the zero time.
func utc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
