package notify

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/micro/platform"
)

const testRoutingKey = "R0123456789abcdefghijKLMNOPQRSTU"

// pdEvent is an Events API v2 event as PagerDuty reads it.
type pdEvent struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"`
	DedupKey    string `json:"dedup_key"`
	Payload     *struct {
		Summary       string            `json:"summary"`
		Source        string            `json:"source"`
		Severity      string            `json:"severity"`
		Timestamp     string            `json:"timestamp"`
		Component     string            `json:"component"`
		Group         string            `json:"group"`
		Class         string            `json:"class"`
		CustomDetails map[string]string `json:"custom_details"`
	} `json:"payload"`
	Links []struct {
		Href string `json:"href"`
	} `json:"links"`
}

// pagerDutyAPI stands in for events.pagerduty.com: it checks each event as the Events
// API v2 documents it (and rejects what PagerDuty would with 400) and records it.
func pagerDutyAPI(t *testing.T, events chan<- pdEvent) string {
	srv := provider(t, func(t *testing.T, r *http.Request, body []byte) (int, http.Header, string) {
		wantPost(t, r, "/v2/enqueue", "application/json")
		var e pdEvent
		if err := json.Unmarshal(body, &e); err != nil {
			return 400, nil, `{"status": "invalid event", "message": "Event object is invalid", "errors": ["not JSON"]}`
		}
		var problems []string
		if len(e.RoutingKey) != 32 {
			problems = append(problems, "Length of 'routing_key' is incorrect (should be 32 characters)")
		}
		switch e.EventAction {
		case "trigger":
			if e.Payload == nil || e.Payload.Summary == "" || e.Payload.Source == "" ||
				!strings.Contains("critical error warning info", e.Payload.Severity) {
				problems = append(problems, "'payload' is invalid or missing")
			} else if _, err := time.Parse(time.RFC3339, e.Payload.Timestamp); err != nil {
				problems = append(problems, "'payload.timestamp' is invalid")
			}
		case "resolve", "acknowledge":
			if e.DedupKey == "" {
				problems = append(problems, "'dedup_key' is required")
			}
		default:
			problems = append(problems, "'event_action' is invalid")
		}
		if len(problems) > 0 {
			b, _ := json.Marshal(map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": problems})
			return 400, nil, string(b)
		}
		events <- e
		return 202, nil, `{"status": "success", "message": "Event processed", "dedup_key": "` + e.DedupKey + `"}`
	})
	return srv.URL
}

func TestPagerDutyTriggerAndResolve(t *testing.T) {
	t.Parallel()
	events := make(chan pdEvent, 2)
	ch := Channel{Kind: platform.ChannelPagerDuty, Secret: testRoutingKey, Config: map[string]string{"base_url": pagerDutyAPI(t, events)}}
	for _, k := range []Kind{Firing, Resolved} {
		if err := send(t, testOptions(), ch, testMessage(k)); err != nil {
			t.Fatalf("Send %s: %v", k, err)
		}
	}
	trigger, resolve := <-events, <-events
	if trigger.EventAction != "trigger" || trigger.RoutingKey != testRoutingKey || trigger.DedupKey != "acme/crash loop/helloworld" {
		t.Errorf("trigger %+v", trigger)
	}
	p := trigger.Payload
	if p.Summary != "[FIRING] helloworld crash loop in acme: helloworld is crash-looping in local" ||
		p.Source != "acme/helloworld" || p.Severity != "critical" || p.Timestamp != "2025-03-04T05:06:07Z" ||
		p.Component != "helloworld" || p.Group != "acme" || p.Class != "crash loop" {
		t.Errorf("payload %+v", p)
	}
	if p.CustomDetails["reason"] == "" || p.CustomDetails["region"] != "local" || p.CustomDetails["notification_id"] != "ntf-firing-0001" {
		t.Errorf("custom_details %v", p.CustomDetails)
	}
	if len(trigger.Links) != 1 || trigger.Links[0].Href != "https://platform.example/acme/services/helloworld" {
		t.Errorf("links %+v", trigger.Links)
	}
	if resolve.EventAction != "resolve" || resolve.DedupKey != trigger.DedupKey || resolve.RoutingKey != testRoutingKey {
		t.Errorf("resolve %+v", resolve)
	}
}

func TestPagerDutyFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		permanent  bool
		retryAfter time.Duration
		want       string
	}{
		{
			name: "invalid event", status: 400, permanent: true,
			body: `{"status": "invalid event", "message": "Event object is invalid", "errors": ["'payload.severity' is invalid"]}`,
			want: "400 Bad Request: Event object is invalid ('payload.severity' is invalid)",
		},
		{name: "rate limited", status: 429, body: `{"status": "throttle event", "message": "Requests for this service are arriving too quickly."}`, want: "429 Too Many Requests"},
		{name: "rate limited with Retry-After", status: 429, header: http.Header{"Retry-After": {"12"}}, retryAfter: 12 * time.Second, want: "retry after 12s"},
		{name: "server error", status: 500, body: "oops", want: "500 Internal Server Error: oops"},
		{name: "bad gateway", status: 502, want: "502"},
		{name: "answer quotes the key", status: 400, permanent: true, body: `{"message": "unknown routing key ` + testRoutingKey + `"}`, want: "[redacted]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := provider(t, func(*testing.T, *http.Request, []byte) (int, http.Header, string) {
				return tt.status, tt.header, tt.body
			})
			ch := Channel{Kind: platform.ChannelPagerDuty, Secret: testRoutingKey, Config: map[string]string{"base_url": srv.URL}}
			err := send(t, testOptions(), ch, testMessage(Firing))
			wantClass(t, err, tt.permanent)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if d, ok := RetryAfter(err); ok != (tt.retryAfter != 0) || d != tt.retryAfter {
				t.Errorf("RetryAfter = %v, %v; want %v", d, ok, tt.retryAfter)
			}
			mustNotLeak(t, err, testRoutingKey)
		})
	}
}

func TestPagerDutySeverity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind     Kind
		severity string
		want     string
	}{
		{Firing, "critical", "critical"},
		{Firing, "warning", "warning"},
		{Firing, "info", "info"},
		{Firing, "error", "error"},
		{Repeat, "CRITICAL", "critical"},
		{Firing, "", "error"},
		{Firing, "bogus", "error"},
		{Test, "critical", "info"},
	}
	for _, tt := range tests {
		m := Message{Kind: tt.kind, Severity: tt.severity}
		if got := pagerDutySeverity(m); got != tt.want {
			t.Errorf("pagerDutySeverity(%s, %q) = %q, want %q", tt.kind, tt.severity, got, tt.want)
		}
	}
	long := strings.Repeat("k", 300)
	if d := dedupKey(long); len(d) != 64 || d != dedupKey(long) || dedupKey("short") != "short" {
		t.Errorf("dedupKey of a long key = %q", d)
	}
}
