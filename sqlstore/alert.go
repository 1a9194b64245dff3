package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/micro/platform"
)

var _ platform.AlertStore = (*Store)(nil)

// The tables of migration 00014. Alerts are keyed by alert_key and written over their
// version (compare-and-set); notifications are the outbox, claimed with a lease by a
// conditional update that both engines run the same way.

func alertRuleNotFound(id string) error {
	return platform.Errorf(platform.ENOTFOUND, "alert rule %q not found", id)
}

func alertChannelNotFound(id string) error {
	return platform.Errorf(platform.ENOTFOUND, "alert channel %q not found", id)
}

func alertNotFound(what string) error {
	return platform.Errorf(platform.ENOTFOUND, "alert %q not found", what)
}

// needIDOrg returns the problems of a stored object without an ID or organisation.
func needIDOrg(what, id, org string) []string {
	var problems []string
	if id == "" {
		problems = append(problems, what+" needs an id")
	}
	if org == "" {
		problems = append(problems, what+" needs an org")
	}
	return problems
}

// joinInvalid merges the store's own problems with a Validate error.
func joinInvalid(problems []string, err error) error {
	if err != nil {
		problems = append(problems, platform.ErrorMessage(err))
	}
	return invalid(problems)
}

const alertRuleColumns = `id, org, namespace, name, kind, service, op, threshold, window_ns, for_ns, severity,
	repeat_ns, disabled, created_at`

func scanAlertRule(sc scanner) (*platform.AlertRule, error) {
	var r platform.AlertRule
	var kind, sev string
	var window, forNS, repeat, created int64
	err := sc.Scan(&r.ID, &r.Org, &r.Namespace, &r.Name, &kind, &r.Service, &r.Op, &r.Threshold, &window, &forNS,
		&sev, &repeat, &r.Disabled, &created)
	if err != nil {
		return nil, err
	}
	r.Kind, r.Severity = platform.AlertKind(kind), platform.Severity(sev)
	r.Window, r.For, r.RepeatInterval = time.Duration(window), time.Duration(forNS), time.Duration(repeat)
	r.CreatedAt = fromMicros(created)
	return &r, nil
}

// CreateAlertRule stores r, setting CreatedAt when zero. Returns EINVALID without ID or
// Org or when r.Validate fails, ECONFLICT if the ID is taken.
func (s *Store) CreateAlertRule(ctx context.Context, r *platform.AlertRule) error {
	if err := joinInvalid(needIDOrg("an alert rule", r.ID, r.Org), r.Validate()); err != nil {
		return err
	}
	created := orNow(r.CreatedAt)
	_, err := s.w.exec(ctx, `INSERT INTO alert_rules (`+alertRuleColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Org, r.Namespace, r.Name, string(r.Kind), r.Service, r.Op, r.Threshold, int64(r.Window), int64(r.For),
		string(r.Severity), int64(r.RepeatInterval), r.Disabled, micros(created))
	if isUniqueViolation(err) {
		return platform.Errorf(platform.ECONFLICT, "alert rule %q exists", r.ID)
	}
	if err != nil {
		return wrap("create alert rule", err)
	}
	r.CreatedAt = created
	return nil
}

// GetAlertRule returns ENOTFOUND if absent.
func (s *Store) GetAlertRule(ctx context.Context, id string) (*platform.AlertRule, error) {
	r, err := scanAlertRule(s.r.queryRow(ctx, `SELECT `+alertRuleColumns+` FROM alert_rules WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, alertRuleNotFound(id)
	}
	return r, wrap("get alert rule", err)
}

// ListAlertRules returns the rules of org ("" every org), oldest first.
func (s *Store) ListAlertRules(ctx context.Context, org string) ([]*platform.AlertRule, error) {
	q := `SELECT ` + alertRuleColumns + ` FROM alert_rules`
	var args []any
	if org != "" {
		q += ` WHERE org = ?`
		args = append(args, org)
	}
	return list(ctx, s.r, "list alert rules", q+` ORDER BY created_at, id`, args, scanAlertRule)
}

// UpdateAlertRule writes every field of r but ID, Org and CreatedAt. Returns EINVALID
// when r.Validate fails, ENOTFOUND if absent.
func (s *Store) UpdateAlertRule(ctx context.Context, r *platform.AlertRule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	err := s.w.execOne(ctx, alertRuleNotFound(r.ID), `UPDATE alert_rules SET namespace = ?, name = ?, kind = ?,
		service = ?, op = ?, threshold = ?, window_ns = ?, for_ns = ?, severity = ?, repeat_ns = ?, disabled = ?
		WHERE id = ?`,
		r.Namespace, r.Name, string(r.Kind), r.Service, r.Op, r.Threshold, int64(r.Window), int64(r.For),
		string(r.Severity), int64(r.RepeatInterval), r.Disabled, r.ID)
	return wrap("update alert rule", err)
}

// DeleteAlertRule returns ENOTFOUND if absent; the rule's alerts stay.
func (s *Store) DeleteAlertRule(ctx context.Context, id string) error {
	err := s.w.execOne(ctx, alertRuleNotFound(id), `DELETE FROM alert_rules WHERE id = ?`, id)
	return wrap("delete alert rule", err)
}

const alertChannelColumns = `id, org, name, kind, config, secret, namespaces, services, min_severity, created_at`

func scanAlertChannel(sc scanner) (*platform.AlertChannel, error) {
	var c platform.AlertChannel
	var config, namespaces, services, sev string
	var created int64
	err := sc.Scan(&c.ID, &c.Org, &c.Name, &c.Kind, &config, &c.Secret, &namespaces, &services, &sev, &created)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		s   string
		dst any
	}{{config, &c.Config}, {namespaces, &c.Namespaces}, {services, &c.Services}} {
		if err := unmarshalJSON(f.s, f.dst); err != nil {
			return nil, err
		}
	}
	c.MinSeverity = platform.Severity(sev)
	c.CreatedAt = fromMicros(created)
	return &c, nil
}

// channelJSON encodes a channel's config and routing lists.
func channelJSON(c *platform.AlertChannel) (config, namespaces, services string, err error) {
	if config, err = marshalJSON(c.Config, len(c.Config) == 0); err != nil {
		return
	}
	if namespaces, err = marshalJSON(c.Namespaces, len(c.Namespaces) == 0); err != nil {
		return
	}
	services, err = marshalJSON(c.Services, len(c.Services) == 0)
	return
}

// CreateAlertChannel stores c with its sealed Secret, setting CreatedAt when zero.
// Returns EINVALID without ID or Org or when c.Validate fails, ECONFLICT if the ID or
// the organisation's channel name is taken.
func (s *Store) CreateAlertChannel(ctx context.Context, c *platform.AlertChannel) error {
	if err := joinInvalid(needIDOrg("an alert channel", c.ID, c.Org), c.Validate()); err != nil {
		return err
	}
	config, namespaces, services, err := channelJSON(c)
	if err != nil {
		return wrap("create alert channel", err)
	}
	created := orNow(c.CreatedAt)
	_, err = s.w.exec(ctx, `INSERT INTO alert_channels (`+alertChannelColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Org, c.Name, c.Kind, config, c.Secret, namespaces, services, string(c.MinSeverity), micros(created))
	if isUniqueViolation(err) {
		return platform.Errorf(platform.ECONFLICT, "organisation %q has a channel named %q, or channel %q exists", c.Org, c.Name, c.ID)
	}
	if err != nil {
		return wrap("create alert channel", err)
	}
	c.CreatedAt = created
	return nil
}

// GetAlertChannel returns ENOTFOUND if absent.
func (s *Store) GetAlertChannel(ctx context.Context, id string) (*platform.AlertChannel, error) {
	c, err := scanAlertChannel(s.r.queryRow(ctx, `SELECT `+alertChannelColumns+` FROM alert_channels WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, alertChannelNotFound(id)
	}
	return c, wrap("get alert channel", err)
}

// ListAlertChannels returns the channels of org ("" every org) ordered by org and name.
func (s *Store) ListAlertChannels(ctx context.Context, org string) ([]*platform.AlertChannel, error) {
	q := `SELECT ` + alertChannelColumns + ` FROM alert_channels`
	var args []any
	if org != "" {
		q += ` WHERE org = ?`
		args = append(args, org)
	}
	return list(ctx, s.r, "list alert channels", q+` ORDER BY org, name`, args, scanAlertChannel)
}

// UpdateAlertChannel writes Name, Kind, Config, Secret and routing. Returns EINVALID
// when c.Validate fails, ENOTFOUND if absent, ECONFLICT if the name is taken.
func (s *Store) UpdateAlertChannel(ctx context.Context, c *platform.AlertChannel) error {
	if err := c.Validate(); err != nil {
		return err
	}
	config, namespaces, services, err := channelJSON(c)
	if err != nil {
		return wrap("update alert channel", err)
	}
	err = s.w.execOne(ctx, alertChannelNotFound(c.ID), `UPDATE alert_channels SET name = ?, kind = ?, config = ?,
		secret = ?, namespaces = ?, services = ?, min_severity = ? WHERE id = ?`,
		c.Name, c.Kind, config, c.Secret, namespaces, services, string(c.MinSeverity), c.ID)
	if isUniqueViolation(err) {
		return platform.Errorf(platform.ECONFLICT, "the organisation has a channel named %q", c.Name)
	}
	return wrap("update alert channel", err)
}

// DeleteAlertChannel returns ENOTFOUND if absent. Its notifications stay; the
// dispatcher ends those not yet delivered dead.
func (s *Store) DeleteAlertChannel(ctx context.Context, id string) error {
	err := s.w.execOne(ctx, alertChannelNotFound(id), `DELETE FROM alert_channels WHERE id = ?`, id)
	return wrap("delete alert channel", err)
}

const silenceColumns = `id, org, namespace, service, rule, until, comment, created_by, created_at`

func scanSilence(sc scanner) (*platform.Silence, error) {
	var x platform.Silence
	var until, created int64
	err := sc.Scan(&x.ID, &x.Org, &x.Namespace, &x.Service, &x.Rule, &until, &x.Comment, &x.CreatedBy, &created)
	if err != nil {
		return nil, err
	}
	x.Until, x.CreatedAt = fromMicros(until), fromMicros(created)
	return &x, nil
}

// CreateSilence stores x, setting CreatedAt when zero. Returns EINVALID without ID or
// Org or when x.Validate fails, ECONFLICT if the ID is taken.
func (s *Store) CreateSilence(ctx context.Context, x *platform.Silence) error {
	if err := joinInvalid(needIDOrg("a silence", x.ID, x.Org), x.Validate()); err != nil {
		return err
	}
	created := orNow(x.CreatedAt)
	until := x.Until.UTC().Truncate(time.Microsecond)
	_, err := s.w.exec(ctx, `INSERT INTO silences (`+silenceColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		x.ID, x.Org, x.Namespace, x.Service, x.Rule, micros(until), x.Comment, x.CreatedBy, micros(created))
	if isUniqueViolation(err) {
		return platform.Errorf(platform.ECONFLICT, "silence %q exists", x.ID)
	}
	if err != nil {
		return wrap("create silence", err)
	}
	x.Until, x.CreatedAt = until, created
	return nil
}

// ListSilences returns the silences of org ("" every org) in force at activeAt (zero:
// all of them), soonest expiry first.
func (s *Store) ListSilences(ctx context.Context, org string, activeAt time.Time) ([]*platform.Silence, error) {
	q := `SELECT ` + silenceColumns + ` FROM silences WHERE 1 = 1`
	var args []any
	if org != "" {
		q += ` AND org = ?`
		args = append(args, org)
	}
	if !activeAt.IsZero() {
		q += ` AND until > ?`
		args = append(args, micros(activeAt))
	}
	return list(ctx, s.r, "list silences", q+` ORDER BY until, id`, args, scanSilence)
}

// DeleteSilence returns ENOTFOUND if absent.
func (s *Store) DeleteSilence(ctx context.Context, id string) error {
	err := s.w.execOne(ctx, platform.Errorf(platform.ENOTFOUND, "silence %q not found", id),
		`DELETE FROM silences WHERE id = ?`, id)
	return wrap("delete silence", err)
}

const alertColumns = `id, org, alert_key, rule_id, rule, kind, severity, namespace, service, region, state, summary,
	reason, since, fired_at, resolved_at, last_notified_at, repeat_ns, clearing_since, version, updated_at`

func scanAlert(sc scanner) (*platform.Alert, error) {
	var a platform.Alert
	var kind, sev, state string
	var since, repeat, updated int64
	var fired, resolved, notified, clearing sql.NullInt64
	err := sc.Scan(&a.ID, &a.Org, &a.Key, &a.RuleID, &a.Rule, &kind, &sev, &a.Namespace, &a.Service, &a.Region,
		&state, &a.Summary, &a.Reason, &since, &fired, &resolved, &notified, &repeat, &clearing, &a.Version, &updated)
	if err != nil {
		return nil, err
	}
	a.Kind, a.Severity, a.State = platform.AlertKind(kind), platform.Severity(sev), platform.AlertState(state)
	a.Since, a.UpdatedAt = fromMicros(since), fromMicros(updated)
	a.FiredAt, a.ResolvedAt, a.LastNotifiedAt, a.ClearingSince = timePtr(fired), timePtr(resolved), timePtr(notified), timePtr(clearing)
	a.RepeatInterval = time.Duration(repeat)
	return &a, nil
}

// GetAlert returns ENOTFOUND if absent.
func (s *Store) GetAlert(ctx context.Context, id string) (*platform.Alert, error) {
	a, err := scanAlert(s.r.queryRow(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, alertNotFound(id)
	}
	return a, wrap("get alert", err)
}

// GetAlertByKey returns ENOTFOUND if no alert has the key.
func (s *Store) GetAlertByKey(ctx context.Context, key string) (*platform.Alert, error) {
	a, err := scanAlert(s.r.queryRow(ctx, `SELECT `+alertColumns+` FROM alerts WHERE alert_key = ?`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, alertNotFound(key)
	}
	return a, wrap("get alert", err)
}

// ListAlerts returns the alerts matching f, most recently started first.
func (s *Store) ListAlerts(ctx context.Context, f platform.AlertFilter) ([]*platform.Alert, error) {
	q := `SELECT ` + alertColumns + ` FROM alerts WHERE 1 = 1`
	var args []any
	for _, c := range []struct{ col, value string }{{"org", f.Org}, {"namespace", f.Namespace}, {"state", string(f.State)}} {
		if c.value != "" {
			q += ` AND ` + c.col + ` = ?`
			args = append(args, c.value)
		}
	}
	return list(ctx, s.r, "list alerts", q+` ORDER BY since DESC, id`+limitClause(f.Limit), args, scanAlert)
}

// CommitAlerts moves the cursor and writes every alert change with its notifications,
// all in one transaction: see platform.AlertStore. An alert is inserted when its Version
// is 0 (ON CONFLICT DO NOTHING: a key that exists is ECONFLICT, without aborting a
// PostgreSQL transaction halfway) and otherwise updated where the stored version is
// its Version, which then increases by one.
func (s *Store) CommitAlerts(ctx context.Context, c *platform.AlertCommit) error {
	var problems []string
	for _, ch := range c.Changes {
		if err := ch.Alert.Validate(); err != nil {
			problems = append(problems, platform.ErrorMessage(err))
		}
		for _, n := range ch.Notifications {
			problems = append(problems, notificationProblems(n)...)
		}
	}
	if err := invalid(problems); err != nil {
		return err
	}
	at := now()
	err := s.inTx(ctx, func(tx conn) error {
		if c.Cursor != "" {
			if err := moveCursor(ctx, tx, c.Cursor, c.From, c.To); err != nil {
				return err
			}
		}
		for _, ch := range c.Changes {
			if err := writeAlert(ctx, tx, ch.Alert, at); err != nil {
				return err
			}
			if err := insertNotifications(ctx, tx, ch.Notifications, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return wrap("commit alerts", err)
	}
	for _, ch := range c.Changes {
		ch.Alert.Version++
		ch.Alert.UpdatedAt = at
	}
	return nil
}

// moveCursor sets cursor name from from to to, or returns ErrAlertConflict.
func moveCursor(ctx context.Context, tx conn, name string, from, to int64) error {
	if from == 0 {
		// A cursor never written is at 0: written now, or still at 0.
		res, err := tx.exec(ctx, `INSERT INTO alert_cursors (name, position) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, to)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
	}
	res, err := tx.exec(ctx, `UPDATE alert_cursors SET position = ? WHERE name = ? AND position = ?`, to, name, from)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	return platform.ErrAlertConflict
}

// writeAlert inserts a (Version 0) or updates it over its Version. Its times are kept
// to the microsecond, in UTC, and written back so.
func writeAlert(ctx context.Context, tx conn, a *platform.Alert, at time.Time) error {
	a.Since = a.Since.UTC().Truncate(time.Microsecond)
	for _, p := range []**time.Time{&a.FiredAt, &a.ResolvedAt, &a.LastNotifiedAt, &a.ClearingSince} {
		if *p != nil {
			t := (*p).UTC().Truncate(time.Microsecond)
			*p = &t
		}
	}
	since := micros(a.Since)
	var res sql.Result
	var err error
	if a.Version == 0 {
		res, err = tx.exec(ctx, `INSERT INTO alerts (`+alertColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)
			ON CONFLICT (alert_key) DO NOTHING`,
			a.ID, a.Org, a.Key, a.RuleID, a.Rule, string(a.Kind), string(a.Severity), a.Namespace, a.Service, a.Region,
			string(a.State), a.Summary, a.Reason, since, nullMicros(a.FiredAt), nullMicros(a.ResolvedAt),
			nullMicros(a.LastNotifiedAt), int64(a.RepeatInterval), nullMicros(a.ClearingSince), micros(at))
	} else {
		res, err = tx.exec(ctx, `UPDATE alerts SET rule_id = ?, rule = ?, kind = ?, severity = ?, region = ?,
				state = ?, summary = ?, reason = ?, since = ?, fired_at = ?, resolved_at = ?, last_notified_at = ?,
				repeat_ns = ?, clearing_since = ?, version = version + 1, updated_at = ?
			WHERE alert_key = ? AND version = ?`,
			a.RuleID, a.Rule, string(a.Kind), string(a.Severity), a.Region, string(a.State), a.Summary, a.Reason,
			since, nullMicros(a.FiredAt), nullMicros(a.ResolvedAt), nullMicros(a.LastNotifiedAt),
			int64(a.RepeatInterval), nullMicros(a.ClearingSince), micros(at), a.Key, a.Version)
	}
	if isUniqueViolation(err) {
		return platform.ErrAlertConflict // the ID of another alert
	}
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return platform.ErrAlertConflict
	}
	return nil
}

// AlertCursor returns the cursor's position and whether it was ever written.
func (s *Store) AlertCursor(ctx context.Context, name string) (int64, bool, error) {
	var pos int64
	err := s.r.queryRow(ctx, `SELECT position FROM alert_cursors WHERE name = ?`, name).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, wrap("alert cursor", err)
	}
	return pos, true, nil
}

// ListEventsAfter returns the events of every namespace with an ID above afterID in
// ascending ID order, at most limit (0 means 100). Appends commit in ID order
// (AppendEvent), so a reader resuming after the last ID it saw misses none.
func (s *Store) ListEventsAfter(ctx context.Context, afterID int64, limit int) ([]*platform.Event, error) {
	if limit <= 0 {
		limit = defaultEventLimit
	}
	return list(ctx, s.r, "list events", `SELECT id, namespace, service, region, type, message, data, created_at
		FROM events WHERE id > ? ORDER BY id`+limitClause(limit), []any{afterID}, scanEvent)
}

func scanEvent(sc scanner) (*platform.Event, error) {
	var e platform.Event
	var data string
	var at int64
	if err := sc.Scan(&e.ID, &e.Namespace, &e.Service, &e.Region, &e.Type, &e.Message, &data, &at); err != nil {
		return nil, err
	}
	if err := unmarshalJSON(data, &e.Data); err != nil {
		return nil, err
	}
	e.Time = fromMicros(at)
	return &e, nil
}

const notificationColumns = `id, org, alert_id, channel_id, kind, alert_key, rule, severity, namespace, service, region,
	summary, reason, since, status, attempts, last_error, next_attempt_at, lease_owner, created_at, sent_at`

func scanNotification(sc scanner) (*platform.Notification, error) {
	var n platform.Notification
	var kind, sev, status string
	var since, next, created int64
	var sent sql.NullInt64
	err := sc.Scan(&n.ID, &n.Org, &n.AlertID, &n.ChannelID, &kind, &n.Key, &n.Rule, &sev, &n.Namespace, &n.Service,
		&n.Region, &n.Summary, &n.Reason, &since, &status, &n.Attempts, &n.LastError, &next, &n.Lease, &created, &sent)
	if err != nil {
		return nil, err
	}
	n.Kind, n.Severity, n.Status = platform.NotificationKind(kind), platform.Severity(sev), platform.NotificationStatus(status)
	n.Since, n.NextAttemptAt, n.CreatedAt, n.SentAt = fromMicros(since), fromMicros(next), fromMicros(created), timePtr(sent)
	return &n, nil
}

// notificationProblems lists what a notification to enqueue lacks.
func notificationProblems(n *platform.Notification) []string {
	var problems []string
	for _, f := range []struct{ name, value string }{{"id", n.ID}, {"org", n.Org}, {"channel", n.ChannelID}, {"kind", string(n.Kind)}} {
		if f.value == "" {
			problems = append(problems, "a notification needs a "+f.name)
		}
	}
	return problems
}

// insertNotifications enqueues ns (pending unless silenced), setting CreatedAt and
// NextAttemptAt to at when zero and writing them back.
func insertNotifications(ctx context.Context, tx conn, ns []*platform.Notification, at time.Time) error {
	for _, n := range ns {
		if n.Status == "" {
			n.Status = platform.NotificationPending
		}
		if n.CreatedAt.IsZero() {
			n.CreatedAt = at
		}
		if n.NextAttemptAt.IsZero() {
			n.NextAttemptAt = n.CreatedAt
		}
		n.CreatedAt = n.CreatedAt.UTC().Truncate(time.Microsecond)
		n.NextAttemptAt = n.NextAttemptAt.UTC().Truncate(time.Microsecond)
		n.Since = n.Since.UTC().Truncate(time.Microsecond)
		_, err := tx.exec(ctx, `INSERT INTO notifications (`+notificationColumns+`, lease_until)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, 0)`,
			n.ID, n.Org, n.AlertID, n.ChannelID, string(n.Kind), n.Key, n.Rule, string(n.Severity), n.Namespace, n.Service,
			n.Region, n.Summary, n.Reason, micros(n.Since), string(n.Status), n.Attempts, n.LastError,
			micros(n.NextAttemptAt), micros(n.CreatedAt), nullMicros(n.SentAt))
		if isUniqueViolation(err) {
			return platform.Errorf(platform.ECONFLICT, "notification %q exists", n.ID)
		}
		if err != nil {
			return err
		}
		n.Lease = ""
	}
	return nil
}

// EnqueueNotifications stores notifications of no alert change (tests of a channel) in
// one transaction. Returns EINVALID without ID, Org, ChannelID or Kind, ECONFLICT if an
// ID is taken.
func (s *Store) EnqueueNotifications(ctx context.Context, ns []*platform.Notification) error {
	var problems []string
	for _, n := range ns {
		problems = append(problems, notificationProblems(n)...)
	}
	if err := invalid(problems); err != nil {
		return err
	}
	at := now()
	err := s.inTx(ctx, func(tx conn) error { return insertNotifications(ctx, tx, ns, at) })
	return wrap("enqueue notifications", err)
}

// ListNotifications returns the notifications matching f, newest first.
func (s *Store) ListNotifications(ctx context.Context, f platform.NotificationFilter) ([]*platform.Notification, error) {
	q := `SELECT ` + notificationColumns + ` FROM notifications WHERE 1 = 1`
	var args []any
	for _, c := range []struct{ col, value string }{
		{"org", f.Org}, {"alert_id", f.AlertID}, {"channel_id", f.ChannelID}, {"status", string(f.Status)},
	} {
		if c.value != "" {
			q += ` AND ` + c.col + ` = ?`
			args = append(args, c.value)
		}
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	return list(ctx, s.r, "list notifications", q+` ORDER BY created_at DESC, id DESC`+limitClause(limit), args, scanNotification)
}

// PruneNotifications deletes done notifications created before before.
func (s *Store) PruneNotifications(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.w.exec(ctx, `DELETE FROM notifications WHERE created_at < ? AND status IN (?, ?, ?)`,
		micros(before), string(platform.NotificationSent), string(platform.NotificationDead), string(platform.NotificationSilenced))
	if err != nil {
		return 0, wrap("prune notifications", err)
	}
	n, err := res.RowsAffected()
	return n, wrap("prune notifications", err)
}

// ClaimNotifications leases due notifications to owner with one conditional UPDATE: the
// subquery picks candidates, and the outer WHERE checks again that each is still
// claimable. On PostgreSQL a concurrent claimer's UPDATE waits for the row lock and then
// re-evaluates that WHERE against the committed row, finding the new lease, so it skips
// the row; SQLite runs one writer at a time. Either way a notification has one holder.
func (s *Store) ClaimNotifications(ctx context.Context, owner string, at time.Time, lease time.Duration, limit int) ([]*platform.Notification, error) {
	if owner == "" || lease <= 0 {
		return nil, platform.Errorf(platform.EINVALID, "a claim needs an owner and a lease")
	}
	if limit <= 0 {
		limit = 100
	}
	t, until := micros(at), micros(at.Add(lease))
	claimable := `status IN ('pending', 'failed') AND next_attempt_at <= ? AND lease_until <= ?`
	claimed, err := list(ctx, s.w, "claim notifications", `UPDATE notifications SET lease_owner = ?, lease_until = ?
		WHERE id IN (SELECT id FROM notifications WHERE `+claimable+` ORDER BY next_attempt_at, created_at, id`+limitClause(limit)+`)
			AND `+claimable+`
		RETURNING `+notificationColumns, []any{owner, until, t, t, t, t}, scanNotification)
	if err != nil {
		return nil, err
	}
	// RETURNING gives no order of its own.
	slices.SortFunc(claimed, func(a, b *platform.Notification) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return claimed, nil
}

// UpdateNotification records an attempt's outcome and releases the lease, where n.Lease
// still holds it. Returns ECONFLICT when it does not, ENOTFOUND if absent.
func (s *Store) UpdateNotification(ctx context.Context, n *platform.Notification) error {
	res, err := s.w.exec(ctx, `UPDATE notifications SET status = ?, attempts = ?, last_error = ?, next_attempt_at = ?,
			sent_at = ?, lease_owner = '', lease_until = 0
		WHERE id = ? AND lease_owner = ?`,
		string(n.Status), n.Attempts, n.LastError, micros(n.NextAttemptAt), nullMicros(n.SentAt), n.ID, n.Lease)
	if err != nil {
		return wrap("update notification", err)
	}
	if c, err := res.RowsAffected(); err != nil || c == 1 {
		if err == nil {
			n.Lease = ""
		}
		return wrap("update notification", err)
	}
	var one int
	err = s.w.queryRow(ctx, `SELECT 1 FROM notifications WHERE id = ?`, n.ID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return platform.Errorf(platform.ENOTFOUND, "notification %q not found", n.ID)
	}
	if err != nil {
		return wrap("update notification", err)
	}
	return platform.Errorf(platform.ECONFLICT, "notification %q is no longer leased to this dispatcher", n.ID)
}

// list runs a query and scans every row with scan.
func list[T any](ctx context.Context, c conn, op, q string, args []any, scan func(scanner) (T, error)) ([]T, error) {
	rows, err := c.query(ctx, q, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, v)
	}
	return out, wrap(op, rows.Err())
}
