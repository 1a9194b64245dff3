package http

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	platform "github.com/micro/platform"
)

// alertRoutes serves alerting: rules, channels, silences, alerts and the history of
// their notifications (docs/alerting.md). Durations travel as Go duration strings
// ("5m", "1h30m"), as a token's ttl and the metrics' since do; times as RFC 3339.
func (s *Server) alertRoutes(r chi.Router) {
	r.Get("/alerts", s.handle(s.listAlerts))
	r.Get("/alerts/history", s.handle(s.alertHistory))
	r.Get("/alerts/rules", s.handle(s.listAlertRules))
	r.Post("/alerts/rules", s.handle(s.createAlertRule))
	r.Delete("/alerts/rules/{id}", s.handle(s.deleteAlertRule))
	r.Get("/alerts/channels", s.handle(s.listAlertChannels))
	r.Post("/alerts/channels", s.handle(s.createAlertChannel))
	r.Delete("/alerts/channels/{id}", s.handle(s.deleteAlertChannel))
	r.Post("/alerts/channels/{id}/test", s.handle(s.testAlertChannel))
	r.Get("/alerts/silences", s.handle(s.listSilences))
	r.Post("/alerts/silences", s.handle(s.createSilence))
	r.Delete("/alerts/silences/{id}", s.handle(s.deleteSilence))
}

// pathParam returns the path parameter name, unescaped: rules and channels are named by
// ID or name, and a name may hold a character a path escapes ("/" as %2F, which leaves
// chi matching, and returning, the escaped form).
func pathParam(r *http.Request, name string) (string, error) {
	v := chi.URLParam(r, name)
	if r.URL.RawPath == "" {
		return v, nil
	}
	u, err := url.PathUnescape(v)
	if err != nil {
		return "", platform.Errorf(platform.EINVALID, "path parameter %s=%q is not properly escaped", name, v)
	}
	return u, nil
}

// durations parses the duration fields of a request body, collecting every problem.
type durations struct{ problems []string }

// parse returns the field's duration, 0 when empty.
func (d *durations) parse(field, v string) time.Duration {
	if v == "" {
		return 0
	}
	out, err := time.ParseDuration(v)
	if err != nil {
		d.problems = append(d.problems, fmt.Sprintf("%s %q: use a Go duration such as \"5m\" or \"1h30m\"", field, v))
	}
	return out
}

func (d *durations) err() error {
	if len(d.problems) == 0 {
		return nil
	}
	return platform.Errorf(platform.EINVALID, "%s", strings.Join(d.problems, "; "))
}

// alertRuleRequest is the body of POST /v1/alerts/rules: what a user writes of a rule,
// with window, for and repeat_interval as Go duration strings.
type alertRuleRequest struct {
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

// alertRuleJSON is a rule as the API answers it: platform.AlertRule with its durations
// as strings (its own fields of the same JSON names are hidden by these).
type alertRuleJSON struct {
	platform.AlertRule
	Window         string `json:"window,omitempty"`
	For            string `json:"for,omitempty"`
	RepeatInterval string `json:"repeat_interval,omitempty"`
	// CreatedAt is left out for the built-in rules, which were never created.
	CreatedAt time.Time `json:"created_at,omitzero"`
}

func ruleJSON(r *platform.AlertRule) *alertRuleJSON {
	return &alertRuleJSON{AlertRule: *r, Window: platform.ShortDuration(r.Window), For: platform.ShortDuration(r.For),
		RepeatInterval: platform.ShortDuration(r.RepeatInterval), CreatedAt: r.CreatedAt}
}

// alertJSON is an alert as the API answers it: platform.Alert with its repeat interval
// as a string.
type alertJSON struct {
	platform.Alert
	RepeatInterval string `json:"repeat_interval,omitempty"`
}

func (s *Server) listAlertRules(w http.ResponseWriter, r *http.Request) error {
	list, err := s.cp.ListAlertRules(r.Context())
	if err != nil {
		return err
	}
	out := make([]*alertRuleJSON, 0, len(list))
	for _, rule := range list {
		out = append(out, ruleJSON(rule))
	}
	writeJSON(w, http.StatusOK, struct {
		Rules []*alertRuleJSON `json:"rules"`
	}{out})
	return nil
}

func (s *Server) createAlertRule(w http.ResponseWriter, r *http.Request) error {
	var body alertRuleRequest
	if err := decodeJSON(w, r, &body, s.opts.MaxBodyBytes); err != nil {
		return err
	}
	var d durations
	rule := &platform.AlertRule{
		Name: body.Name, Kind: body.Kind, Namespace: body.Namespace, Service: body.Service, Op: body.Op, Threshold: body.Threshold,
		Window: d.parse("window", body.Window), For: d.parse("for", body.For), Severity: body.Severity,
		RepeatInterval: d.parse("repeat_interval", body.RepeatInterval), Disabled: body.Disabled,
	}
	if err := d.err(); err != nil {
		return err
	}
	created, err := s.cp.CreateAlertRule(r.Context(), rule)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ruleJSON(created))
	return nil
}

func (s *Server) deleteAlertRule(w http.ResponseWriter, r *http.Request) error {
	id, err := pathParam(r, "id")
	if err != nil {
		return err
	}
	if err := s.cp.DeleteAlertRule(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listAlertChannels(w http.ResponseWriter, r *http.Request) error {
	list, err := s.cp.ListAlertChannels(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Channels []*platform.AlertChannel `json:"channels"`
	}{nonNil(list)})
	return nil
}

func (s *Server) createAlertChannel(w http.ResponseWriter, r *http.Request) error {
	var req platform.CreateAlertChannelRequest
	if err := decodeJSON(w, r, &req, s.opts.MaxBodyBytes); err != nil {
		return err
	}
	c, err := s.cp.CreateAlertChannel(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, c)
	return nil
}

func (s *Server) deleteAlertChannel(w http.ResponseWriter, r *http.Request) error {
	id, err := pathParam(r, "id")
	if err != nil {
		return err
	}
	if err := s.cp.DeleteAlertChannel(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// testAlertChannel sends a test notification and answers, once its first attempt is
// recorded or the control plane's wait (about 20 s) ran out, with the notification:
// status sent, failed (last_error says why), dead, or still pending.
func (s *Server) testAlertChannel(w http.ResponseWriter, r *http.Request) error {
	id, err := pathParam(r, "id")
	if err != nil {
		return err
	}
	n, err := s.cp.TestAlertChannel(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, n)
	return nil
}

// silenceRequest is the body of POST /v1/alerts/silences: until as an RFC 3339 time or
// for as a Go duration from now.
type silenceRequest struct {
	Namespace string `json:"namespace"`
	Service   string `json:"service"`
	Rule      string `json:"rule"`
	Until     string `json:"until"`
	For       string `json:"for"`
	Comment   string `json:"comment"`
}

func (s *Server) listSilences(w http.ResponseWriter, r *http.Request) error {
	list, err := s.cp.ListSilences(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Silences []*platform.Silence `json:"silences"`
	}{nonNil(list)})
	return nil
}

func (s *Server) createSilence(w http.ResponseWriter, r *http.Request) error {
	var body silenceRequest
	if err := decodeJSON(w, r, &body, s.opts.MaxBodyBytes); err != nil {
		return err
	}
	var d durations
	req := platform.SilenceRequest{Namespace: body.Namespace, Service: body.Service, Rule: body.Rule, Comment: body.Comment,
		For: d.parse("for", body.For)}
	if body.Until != "" {
		t, err := time.Parse(time.RFC3339, body.Until)
		if err != nil {
			d.problems = append(d.problems, fmt.Sprintf("until %q: use an RFC 3339 time such as \"2026-03-04T18:00:00Z\"", body.Until))
		}
		req.Until = t
	}
	if err := d.err(); err != nil {
		return err
	}
	sil, err := s.cp.CreateSilence(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, sil)
	return nil
}

func (s *Server) deleteSilence(w http.ResponseWriter, r *http.Request) error {
	id, err := pathParam(r, "id")
	if err != nil {
		return err
	}
	if err := s.cp.DeleteSilence(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// alertStates and notificationStatuses are what the list filters take.
var (
	alertStates          = []string{string(platform.AlertPending), string(platform.AlertFiring), string(platform.AlertResolved)}
	notificationStatuses = []string{string(platform.NotificationPending), string(platform.NotificationSent),
		string(platform.NotificationFailed), string(platform.NotificationDead), string(platform.NotificationSilenced)}
)

// oneOf records a problem in q when the parameter name is set and not one of values.
func (q *queryParams) oneOf(name string, values []string) string {
	v := q.values.Get(name)
	if v != "" && !slices.Contains(values, v) {
		q.problems = append(q.problems, fmt.Sprintf("query parameter %s=%q: use one of %s", name, v, strings.Join(values, ", ")))
	}
	return v
}

// limit returns the parameter limit, 1 to 1000, or 0 when absent.
func (q *queryParams) limit() int {
	v := q.values.Get("limit")
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		q.problems = append(q.problems, fmt.Sprintf("query parameter limit=%q: use 1 to 1000", v))
		return 0
	}
	return n
}

// listAlerts serves GET /v1/alerts?namespace=&state=&limit=: the organisation's alerts,
// most recently started first (every one without limit).
func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) error {
	q := newQueryParams(r)
	f := platform.AlertFilter{Namespace: q.String("namespace"), State: platform.AlertState(q.oneOf("state", alertStates)), Limit: q.limit()}
	if err := q.Err(); err != nil {
		return err
	}
	list, err := s.cp.ListAlerts(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]*alertJSON, 0, len(list))
	for _, a := range list {
		out = append(out, &alertJSON{Alert: *a, RepeatInterval: platform.ShortDuration(a.RepeatInterval)})
	}
	writeJSON(w, http.StatusOK, struct {
		Alerts []*alertJSON `json:"alerts"`
	}{out})
	return nil
}

// alertHistory serves GET /v1/alerts/history?alert=&channel=&status=&limit=: the
// notifications, newest first (100 without limit).
func (s *Server) alertHistory(w http.ResponseWriter, r *http.Request) error {
	q := newQueryParams(r)
	f := platform.NotificationFilter{AlertID: q.String("alert"), ChannelID: q.String("channel"),
		Status: platform.NotificationStatus(q.oneOf("status", notificationStatuses)), Limit: q.limit()}
	if err := q.Err(); err != nil {
		return err
	}
	list, err := s.cp.AlertHistory(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Notifications []*platform.Notification `json:"notifications"`
	}{nonNil(list)})
	return nil
}
