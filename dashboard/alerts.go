package dashboard

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
)

// alertsData is the alerts page's data.
type alertsData struct {
	// Open are the firing and pending alerts; Recent the resolved ones, newest first.
	Open, Recent []*platform.Alert
	Rules        []*platform.AlertRule
	// Channels are the organisation's channels (admins only; nil otherwise), and
	// ChannelNames their names by ID for the history.
	Channels     []*platform.AlertChannel
	ChannelNames map[string]string
	Silences     []*platform.Silence
	History      []*platform.Notification
	// What the forms offer.
	RuleKinds    []platform.AlertKind
	ChannelKinds []string
	Severities   []platform.Severity
}

// recentResolved is how many resolved alerts the page shows.
const recentResolved = 20

func (d *Dashboard) alerts(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	ctx := r.Context()
	all, err := d.cp.ListAlerts(ctx, platform.AlertFilter{Limit: 200})
	if err != nil {
		return "", err
	}
	ad := alertsData{
		RuleKinds:    append(append([]platform.AlertKind{}, platform.MetricAlertKinds...), platform.BuiltinAlertKinds...),
		ChannelKinds: platform.ChannelKinds,
		Severities:   []platform.Severity{platform.SeverityInfo, platform.SeverityWarning, platform.SeverityCritical},
	}
	for _, a := range all {
		switch {
		case a.State != platform.AlertResolved:
			ad.Open = append(ad.Open, a)
		case len(ad.Recent) < recentResolved:
			ad.Recent = append(ad.Recent, a)
		}
	}
	if ad.Rules, err = d.cp.ListAlertRules(ctx); err != nil {
		return "", err
	}
	if ad.Silences, err = d.cp.ListSilences(ctx); err != nil {
		return "", err
	}
	if ad.History, err = d.cp.AlertHistory(ctx, platform.NotificationFilter{Limit: 50}); err != nil {
		return "", err
	}
	if v.Can(string(authz.AlertManage)) {
		if ad.Channels, err = d.cp.ListAlertChannels(ctx); err != nil {
			return "", err
		}
		ad.ChannelNames = make(map[string]string, len(ad.Channels))
		for _, c := range ad.Channels {
			ad.ChannelNames[c.ID] = c.Name
		}
	}
	v.Title, v.Section, v.Data = "Alerts", "alerts", ad
	return "alerts", nil
}

// createAlertRule takes the rule form: a metric rule's condition, or a built-in kind
// with its severity (or turned off).
func (d *Dashboard) createAlertRule(r *http.Request) (string, string, error) {
	f := r.PostForm
	rule := &platform.AlertRule{
		Name: strings.TrimSpace(f.Get("name")), Kind: platform.AlertKind(f.Get("kind")),
		Namespace: strings.TrimSpace(f.Get("namespace")), Service: strings.TrimSpace(f.Get("service")),
		Severity: platform.Severity(f.Get("severity")), Disabled: f.Get("disabled") != "",
	}
	var problems []string
	if rule.Kind.Metric() {
		rule.Op = f.Get("op")
		if s := strings.TrimSpace(f.Get("threshold")); s != "" {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				problems = append(problems, fmt.Sprintf("threshold %q is not a number", s))
			}
			rule.Threshold = v
		} else {
			problems = append(problems, fmt.Sprintf("a %s rule needs a threshold (in %s)", rule.Kind, rule.Kind.Unit()))
		}
		for _, dur := range []struct {
			field string
			into  *time.Duration
		}{{"window", &rule.Window}, {"for", &rule.For}} {
			if s := strings.TrimSpace(f.Get(dur.field)); s != "" {
				v, err := time.ParseDuration(s)
				if err != nil {
					problems = append(problems, fmt.Sprintf("%s %q is not a duration (write it like 5m)", dur.field, s))
				}
				*dur.into = v
			}
		}
	}
	if len(problems) > 0 {
		return "", "", platform.Errorf(platform.EINVALID, "invalid rule: %s", strings.Join(problems, "; "))
	}
	created, err := d.cp.CreateAlertRule(r.Context(), rule)
	if err != nil {
		return "", "", err
	}
	return Prefix + "/alerts#rules", fmt.Sprintf("Rule %s created.", created.Name), nil
}

func (d *Dashboard) deleteAlertRule(r *http.Request) (string, string, error) {
	id := chi.URLParam(r, "id")
	if err := d.cp.DeleteAlertRule(r.Context(), id); err != nil {
		return "", "", err
	}
	return Prefix + "/alerts#rules", "Rule deleted: its firing alerts resolve.", nil
}

// createAlertChannel takes the channel form; its config is "key=value" lines and its
// secret a password field, never shown back.
func (d *Dashboard) createAlertChannel(r *http.Request) (string, string, error) {
	f := r.PostForm
	req := platform.CreateAlertChannelRequest{
		Name: strings.TrimSpace(f.Get("name")), Kind: f.Get("kind"), Secret: f.Get("secret"),
		Namespaces: splitNames(f.Get("namespaces")), Services: splitNames(f.Get("services")),
		MinSeverity: platform.Severity(f.Get("min_severity")),
	}
	for i, line := range strings.Split(f.Get("config"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, val, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return "", "", platform.Errorf(platform.EINVALID, "settings line %d: write it as key=value", i+1)
		}
		if req.Config == nil {
			req.Config = map[string]string{}
		}
		req.Config[strings.TrimSpace(k)] = strings.TrimSpace(val)
	}
	c, err := d.cp.CreateAlertChannel(r.Context(), req)
	if err != nil {
		return "", "", err
	}
	return Prefix + "/alerts#channels", fmt.Sprintf("Channel %s created. Send it a test notification to check it.", c.Name), nil
}

func (d *Dashboard) deleteAlertChannel(r *http.Request) (string, string, error) {
	if err := d.cp.DeleteAlertChannel(r.Context(), chi.URLParam(r, "id")); err != nil {
		return "", "", err
	}
	return Prefix + "/alerts#channels", "Channel deleted.", nil
}

// testAlertChannel sends a test notification and says how its first attempt went.
func (d *Dashboard) testAlertChannel(r *http.Request) (string, string, error) {
	n, err := d.cp.TestAlertChannel(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return "", "", err
	}
	var msg string
	switch n.Status {
	case platform.NotificationSent:
		msg = "Test notification sent."
	case platform.NotificationPending:
		msg = "The test notification is queued: it was not attempted yet. The history below shows when it is."
	default:
		msg = fmt.Sprintf("The test notification %s: %s", n.Status, n.LastError)
	}
	return Prefix + "/alerts#channels", msg, nil
}

func (d *Dashboard) createSilence(r *http.Request) (string, string, error) {
	f := r.PostForm
	req := platform.SilenceRequest{
		Namespace: strings.TrimSpace(f.Get("namespace")), Service: strings.TrimSpace(f.Get("service")),
		Rule: strings.TrimSpace(f.Get("rule")), Comment: strings.TrimSpace(f.Get("comment")),
	}
	s := strings.TrimSpace(f.Get("for"))
	dur, err := time.ParseDuration(s)
	if err != nil {
		return "", "", platform.Errorf(platform.EINVALID, "for %q is not a duration", s).WithHint("write it like 2h or 30m")
	}
	req.For = dur
	si, err := d.cp.CreateSilence(r.Context(), req)
	if err != nil {
		return "", "", err
	}
	return Prefix + "/alerts#silences", fmt.Sprintf("Silenced until %s UTC.", si.Until.UTC().Format("2006-01-02 15:04")), nil
}

func (d *Dashboard) deleteSilence(r *http.Request) (string, string, error) {
	if err := d.cp.DeleteSilence(r.Context(), chi.URLParam(r, "id")); err != nil {
		return "", "", err
	}
	return Prefix + "/alerts#silences", "Silence ended.", nil
}

// splitNames splits a comma- or space-separated list of names.
func splitNames(s string) []string {
	return strings.FieldsFunc(s, func(c rune) bool { return c == ',' || c == ' ' || c == '\n' })
}
