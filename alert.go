package platform

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// AlertKind is what an alert rule watches. Built-in kinds fire on events (see package
// alerting for which event fires and which resolves each); metric kinds compare a
// service's traffic or resources over a window with a threshold.
type AlertKind string

// Built-in kinds: on by default in every namespace, as implicit rules with the IDs of
// BuiltinRuleID.
const (
	AlertBuildFailed   AlertKind = "build_failed"
	AlertReleaseFailed AlertKind = "release_failed"
	AlertCrashLoop     AlertKind = "crash_loop"
	AlertServiceDown   AlertKind = "service_down"
	AlertRegionLost    AlertKind = "region_lost"
	// AlertSpendLimit fires on billing.spend_threshold: the organisation's spend of the
	// period reached 75, 90 or 100 % of its plan's spend limit.
	AlertSpendLimit AlertKind = "spend_limit"
)

// Metric kinds, with the unit of their Threshold.
const (
	AlertErrorRate   AlertKind = "error_rate"   // percent of requests answered with status >= 500
	AlertP99Latency  AlertKind = "p99_latency"  // milliseconds, at the gateway
	AlertRequestRate AlertKind = "request_rate" // requests per second
	AlertCPU         AlertKind = "cpu"          // cores, the mean of the window's samples
	AlertMemory      AlertKind = "memory"       // bytes, the peak of the window's samples
)

// BuiltinAlertKinds are the built-in kinds, in the order they are listed.
var BuiltinAlertKinds = []AlertKind{AlertBuildFailed, AlertReleaseFailed, AlertCrashLoop, AlertServiceDown, AlertRegionLost, AlertSpendLimit}

// MetricAlertKinds are the metric kinds, in the order they are listed.
var MetricAlertKinds = []AlertKind{AlertErrorRate, AlertP99Latency, AlertRequestRate, AlertCPU, AlertMemory}

// Builtin reports whether k is a built-in (event) kind.
func (k AlertKind) Builtin() bool { return slices.Contains(BuiltinAlertKinds, k) }

// Metric reports whether k is a metric kind.
func (k AlertKind) Metric() bool { return slices.Contains(MetricAlertKinds, k) }

// Unit is the unit of a metric kind's Threshold, "" for a built-in kind.
func (k AlertKind) Unit() string {
	switch k {
	case AlertErrorRate:
		return "%"
	case AlertP99Latency:
		return "ms"
	case AlertRequestRate:
		return "req/s"
	case AlertCPU:
		return "cores"
	case AlertMemory:
		return "bytes"
	}
	return ""
}

// Severity says how urgent an alert is; channels route on a minimum severity.
type Severity string

// Severities, least urgent first.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Rank orders severities: 1 for info, 2 warning, 3 critical, 0 for anything else.
func (s Severity) Rank() int {
	switch s {
	case SeverityInfo:
		return 1
	case SeverityWarning:
		return 2
	case SeverityCritical:
		return 3
	}
	return 0
}

// Bounds of alert rules.
const (
	// DefaultRepeatInterval is how often a firing alert is notified again when its rule
	// sets no RepeatInterval.
	DefaultRepeatInterval = 4 * time.Hour
	// MinRepeatInterval and MaxRepeatInterval bound a rule's RepeatInterval.
	MinRepeatInterval = time.Minute
	MaxRepeatInterval = 7 * 24 * time.Hour
	// DefaultAlertWindow is a metric rule's window when it sets none.
	DefaultAlertWindow = 5 * time.Minute
	// MaxAlertWindow bounds Window and For: usage is kept per minute.
	MaxAlertWindow = 24 * time.Hour
	// builtinPrefix starts the IDs of the implicit built-in rules.
	builtinPrefix = "builtin:"
)

// BuiltinRuleID is the fixed ID of the implicit rule of a built-in kind, e.g.
// "builtin:crash_loop".
func BuiltinRuleID(k AlertKind) string { return builtinPrefix + string(k) }

// AlertRule says when an alert fires. An organisation's rules are user rules; the
// built-in kinds also run as implicit rules (BuiltinRule) in every namespace where no
// rule of the organisation of that kind applies: a rule of a built-in kind replaces the
// built-in for its namespace and service (with its own severity and repeat interval), and
// with Disabled set turns it off there.
type AlertRule struct {
	ID  string `json:"id"`
	Org string `json:"org"`
	// Namespace narrows the rule to one namespace; "" is every namespace of Org.
	Namespace string    `json:"namespace,omitempty"`
	Name      string    `json:"name"`
	Kind      AlertKind `json:"kind"`
	// Service narrows the rule to one service; "" is every service.
	Service string `json:"service,omitempty"`
	// Op and Threshold are the condition of a metric rule: the value over Window is
	// above (">") or below ("<") Threshold, in the kind's Unit.
	Op        string  `json:"op,omitempty"`
	Threshold float64 `json:"threshold,omitempty"`
	// Window is how much of the past a metric rule looks at (whole minutes; default
	// DefaultAlertWindow).
	Window time.Duration `json:"window,omitempty"`
	// For is how long the condition must hold before the alert fires (pending until
	// then); 0 fires at the first evaluation that sees it.
	For      time.Duration `json:"for,omitempty"`
	Severity Severity      `json:"severity"`
	// RepeatInterval is how often a firing alert is notified again; 0 means
	// DefaultRepeatInterval.
	RepeatInterval time.Duration `json:"repeat_interval,omitempty"`
	// Disabled turns the rule off; a disabled rule of a built-in kind turns that
	// built-in off where it applies.
	Disabled  bool      `json:"disabled,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// BuiltinRule returns the implicit rule of a built-in kind for org, or nil for a kind
// that is not built in.
func BuiltinRule(org string, k AlertKind) *AlertRule {
	var name string
	sev := SeverityCritical
	switch k {
	case AlertBuildFailed:
		name, sev = "build failed", SeverityWarning
	case AlertReleaseFailed:
		name, sev = "release failed", SeverityWarning
	case AlertCrashLoop:
		name = "crash loop"
	case AlertServiceDown:
		name = "service down"
	case AlertRegionLost:
		name = "region lost"
	case AlertSpendLimit:
		// Warning at 75 and 90 %; the alert is raised to critical at 100 % (see
		// package alerting).
		name, sev = "spend limit", SeverityWarning
	default:
		return nil
	}
	return &AlertRule{ID: BuiltinRuleID(k), Org: org, Name: name, Kind: k, Severity: sev, RepeatInterval: DefaultRepeatInterval}
}

// Builtin reports whether r is an implicit built-in rule.
func (r *AlertRule) Builtin() bool { return strings.HasPrefix(r.ID, builtinPrefix) }

// Repeat is the rule's repeat interval with the default applied.
func (r *AlertRule) Repeat() time.Duration {
	if r.RepeatInterval <= 0 {
		return DefaultRepeatInterval
	}
	return r.RepeatInterval
}

// EvalWindow is the rule's window with the default applied.
func (r *AlertRule) EvalWindow() time.Duration {
	if r.Window <= 0 {
		return DefaultAlertWindow
	}
	return r.Window
}

// Applies reports whether r covers namespace ns and service svc.
func (r *AlertRule) Applies(ns, svc string) bool {
	return (r.Namespace == "" || r.Namespace == ns) && (r.Service == "" || r.Service == svc)
}

// Holds reports whether value meets the rule's condition.
func (r *AlertRule) Holds(value float64) bool {
	switch r.Op {
	case ">":
		return value > r.Threshold
	case "<":
		return value < r.Threshold
	}
	return false
}

// Validate returns EINVALID listing every problem of the rule as a user wrote it: its
// name, kind, scope, condition, severity and intervals. It does not check ID or Org,
// which the control plane sets, except that an ID must not take the built-ins' prefix.
func (r *AlertRule) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if strings.HasPrefix(r.ID, builtinPrefix) {
		add("rule id %q: the prefix %q is the built-in rules'", r.ID, builtinPrefix)
	}
	if strings.TrimSpace(r.Name) == "" {
		add("a rule needs a name")
	} else if len(r.Name) > 100 {
		add("rule name is longer than 100 characters")
	}
	problems = append(problems, scopeProblems(r.Namespace, r.Service)...)
	switch {
	case r.Kind.Builtin():
		if r.Op != "" || r.Threshold != 0 || r.Window != 0 || r.For != 0 {
			add("a %s rule fires on events: it takes no op, threshold, window or for", r.Kind)
		}
		if r.Kind == AlertSpendLimit && r.Service != "" {
			add("a spend_limit rule is about the organisation's spend: it takes no service")
		}
	case r.Kind.Metric():
		if r.Op != ">" && r.Op != "<" {
			add("op %q: use > or <", r.Op)
		}
		if r.Threshold < 0 {
			add("threshold %g is negative", r.Threshold)
		}
		if r.Kind == AlertErrorRate && r.Threshold > 100 {
			add("an error rate threshold is a percentage: %g is more than 100", r.Threshold)
		}
		if r.Window < 0 || r.Window > MaxAlertWindow || r.Window%time.Minute != 0 {
			add("window %s: use whole minutes up to %s", r.Window, MaxAlertWindow)
		}
		if r.For < 0 || r.For > MaxAlertWindow {
			add("for %s: use 0 to %s", r.For, MaxAlertWindow)
		}
	default:
		add("kind %q: use one of %s", r.Kind, kindList())
	}
	if r.Severity.Rank() == 0 {
		add("severity %q: use info, warning or critical", r.Severity)
	}
	if r.RepeatInterval != 0 && (r.RepeatInterval < MinRepeatInterval || r.RepeatInterval > MaxRepeatInterval) {
		add("repeat interval %s: use %s to %s (0 is %s)", r.RepeatInterval, MinRepeatInterval, MaxRepeatInterval, DefaultRepeatInterval)
	}
	return invalidProblems(problems)
}

// kindList names every kind, for messages.
func kindList() string {
	var names []string
	for _, k := range slices.Concat(BuiltinAlertKinds, MetricAlertKinds) {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}

// scopeProblems checks an optional namespace and service name.
func scopeProblems(ns, svc string) []string {
	var problems []string
	if ns != "" {
		if err := ValidateName("namespace", ns); err != nil {
			problems = append(problems, ErrorMessage(err))
		}
	}
	if svc != "" {
		if err := ValidateName("service", svc); err != nil {
			problems = append(problems, ErrorMessage(err))
		}
	}
	return problems
}

// invalidProblems returns one EINVALID error listing every problem, or nil.
func invalidProblems(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return Errorf(EINVALID, "%s", strings.Join(problems, "; "))
}

// Channel kinds: the senders of package alerting/notify.
const (
	ChannelEmail     = "email"
	ChannelSMS       = "sms"
	ChannelSlack     = "slack"
	ChannelPagerDuty = "pagerduty"
	ChannelWebhook   = "webhook"
)

// ChannelKinds are the kinds of AlertChannel.
var ChannelKinds = []string{ChannelEmail, ChannelSMS, ChannelSlack, ChannelPagerDuty, ChannelWebhook}

// AlertChannel is where an organisation's notifications go, and which of its alerts go
// there (routing: Namespaces, Services, MinSeverity; empty means all).
type AlertChannel struct {
	ID   string `json:"id"`
	Org  string `json:"org"`
	Name string `json:"name"`
	// Kind is one of ChannelKinds.
	Kind string `json:"kind"`
	// Config is the kind's settings that are not secret (addresses, phone numbers, the
	// webhook URL); each sender documents its keys.
	Config map[string]string `json:"config,omitempty"`
	// Secret is the kind's secret (SMTP password, auth token, Slack URL, routing key,
	// HMAC key) sealed by the control plane (internal/seal); never serialised or shown.
	Secret string `json:"-"`
	// Namespaces and Services narrow what the channel receives; empty is all.
	Namespaces []string `json:"namespaces,omitempty"`
	Services   []string `json:"services,omitempty"`
	// MinSeverity is the least severity sent; "" is every severity.
	MinSeverity Severity  `json:"min_severity,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// Validate returns EINVALID listing every problem of the channel's name, kind and
// routing. The kind's Config is its sender's to check.
func (c *AlertChannel) Validate() error {
	var problems []string
	if strings.TrimSpace(c.Name) == "" {
		problems = append(problems, "a channel needs a name")
	} else if len(c.Name) > 100 {
		problems = append(problems, "channel name is longer than 100 characters")
	}
	if !slices.Contains(ChannelKinds, c.Kind) {
		problems = append(problems, fmt.Sprintf("channel kind %q: use one of %s", c.Kind, strings.Join(ChannelKinds, ", ")))
	}
	for _, ns := range c.Namespaces {
		problems = append(problems, scopeProblems(ns, "")...)
	}
	for _, svc := range c.Services {
		problems = append(problems, scopeProblems("", svc)...)
	}
	if c.MinSeverity != "" && c.MinSeverity.Rank() == 0 {
		problems = append(problems, fmt.Sprintf("minimum severity %q: use info, warning or critical", c.MinSeverity))
	}
	return invalidProblems(problems)
}

// Routes reports whether the channel receives notifications of alert a.
func (c *AlertChannel) Routes(a *Alert) bool {
	if len(c.Namespaces) > 0 && !slices.Contains(c.Namespaces, a.Namespace) {
		return false
	}
	if len(c.Services) > 0 && !slices.Contains(c.Services, a.Service) {
		return false
	}
	return c.MinSeverity == "" || a.Severity.Rank() >= c.MinSeverity.Rank()
}

// Silence mutes the notifications of an organisation's alerts that match it until it
// expires: alerts still change state, and the notifications they would have sent are
// recorded as silenced. Empty fields match everything.
type Silence struct {
	ID  string `json:"id"`
	Org string `json:"org"`
	// Namespace, Service and Rule narrow the silence; Rule matches a rule's ID
	// ("builtin:crash_loop" for the built-in) or its kind ("crash_loop").
	Namespace string    `json:"namespace,omitempty"`
	Service   string    `json:"service,omitempty"`
	Rule      string    `json:"rule,omitempty"`
	Until     time.Time `json:"until"`
	Comment   string    `json:"comment,omitempty"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Validate returns EINVALID listing every problem: an expiry is needed, names must be
// names and the comment short.
func (s *Silence) Validate() error {
	problems := scopeProblems(s.Namespace, s.Service)
	if s.Until.IsZero() {
		problems = append(problems, "a silence needs an expiry (until)")
	}
	if len(s.Comment) > 500 {
		problems = append(problems, "silence comment is longer than 500 characters")
	}
	if len(s.Rule) > 100 {
		problems = append(problems, "silence rule is longer than 100 characters")
	}
	return invalidProblems(problems)
}

// Active reports whether the silence is in force at t.
func (s *Silence) Active(t time.Time) bool { return t.Before(s.Until) }

// Matches reports whether the silence covers alert a (whatever its expiry).
func (s *Silence) Matches(a *Alert) bool {
	return s.Org == a.Org &&
		(s.Namespace == "" || s.Namespace == a.Namespace) &&
		(s.Service == "" || s.Service == a.Service) &&
		(s.Rule == "" || s.Rule == a.RuleID || s.Rule == string(a.Kind))
}

// AlertState is where an alert is in its life:
//
//	(none) ──► pending ──► firing ──► resolved
//	   │          │                      │
//	   │          └──────► resolved      │   (the condition stopped holding before For)
//	   └─────────────────► firing        │   (built-in rules, and For = 0)
//	                 pending/firing ◄────┘   (it starts again: the same alert, a new Since)
type AlertState string

// Alert states.
const (
	AlertPending  AlertState = "pending"
	AlertFiring   AlertState = "firing"
	AlertResolved AlertState = "resolved"
)

// AlertKey is the key grouping alerts: one alert per namespace, rule and subject,
// where the subject is the service ("" for a namespace-wide one), or for region_lost
// the region.
func AlertKey(namespace, ruleID, subject string) string {
	return namespace + "/" + ruleID + "/" + subject
}

// Alert is the one alert of a key: a rule's condition in a namespace for a service,
// kept across its incidents (a new incident reuses it with a new Since).
type Alert struct {
	ID  string `json:"id"`
	Org string `json:"org"`
	// Key groups the alert's occurrences (AlertKey); unique.
	Key    string `json:"key"`
	RuleID string `json:"rule_id"`
	// Rule, Kind and Severity are the rule's when the alert last started, so that the
	// alert reads the same if the rule changes or goes.
	Rule      string    `json:"rule"`
	Kind      AlertKind `json:"kind"`
	Severity  Severity  `json:"severity"`
	Namespace string    `json:"namespace"`
	Service   string    `json:"service,omitempty"`
	// Region is where it happened, when a region reported it.
	Region string     `json:"region,omitempty"`
	State  AlertState `json:"state"`
	// Summary is one line ("api is crash-looping in fra1"), Reason the details (the
	// event's message, the measured value).
	Summary string `json:"summary"`
	Reason  string `json:"reason,omitempty"`
	// Since is when the condition started (the failing event's time, or the first
	// evaluation that saw it); FiredAt when the alert fired; ResolvedAt when it cleared.
	Since      time.Time  `json:"since"`
	FiredAt    *time.Time `json:"fired_at,omitempty"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	// LastNotifiedAt is when notifications (firing or repeat) were last enqueued; the
	// next repeat is due RepeatInterval after it.
	LastNotifiedAt *time.Time `json:"last_notified_at,omitempty"`
	// RepeatInterval is the rule's, with the default applied.
	RepeatInterval time.Duration `json:"repeat_interval,omitempty"`
	// ClearingSince is when a recovery was seen for a rule that resolves only once the
	// recovery lasts (crash_loop): the alert resolves when nothing failed again for the
	// engine's settle time after it. nil otherwise.
	ClearingSince *time.Time `json:"clearing_since,omitempty"`
	// Version increases with every write: AlertStore.CommitAlerts writes an alert only
	// over the version it was read at (0: no alert with its key yet).
	Version   int64     `json:"-"`
	UpdatedAt time.Time `json:"updated_at"`
}

// NotificationKind is what a notification says about its alert: firing, repeat,
// resolved or test (the values of notify.Kind).
type NotificationKind string

// Notification kinds.
const (
	NotifyFiring   NotificationKind = "firing"
	NotifyRepeat   NotificationKind = "repeat"
	NotifyResolved NotificationKind = "resolved"
	NotifyTest     NotificationKind = "test"
)

// NotificationStatus is where a notification's delivery is:
//
//	pending ──► sent
//	   │ ▲
//	   ▼ │ (retried at NextAttemptAt)
//	  failed ──► dead   (a permanent error, or MaxAttempts attempts)
//	silenced            (a silence matched; never sent)
type NotificationStatus string

// Notification statuses.
const (
	NotificationPending  NotificationStatus = "pending"
	NotificationSent     NotificationStatus = "sent"
	NotificationFailed   NotificationStatus = "failed"
	NotificationDead     NotificationStatus = "dead"
	NotificationSilenced NotificationStatus = "silenced"
)

// Notification is one message of an alert to one channel, kept as the outbox the
// dispatcher delivers from and as the history users read. It holds what it says, as it
// was when enqueued.
type Notification struct {
	// ID is the receivers' idempotency key: a notification delivered twice (after a
	// crash between sending and recording it) carries the same ID both times.
	ID        string           `json:"id"`
	Org       string           `json:"org"`
	AlertID   string           `json:"alert_id,omitempty"` // "" for a test notification
	ChannelID string           `json:"channel_id"`
	Kind      NotificationKind `json:"kind"`
	// What it says: the alert's key, rule, severity, place, summary and reason.
	Key       string    `json:"key,omitempty"`
	Rule      string    `json:"rule,omitempty"`
	Severity  Severity  `json:"severity,omitempty"`
	Namespace string    `json:"namespace,omitempty"`
	Service   string    `json:"service,omitempty"`
	Region    string    `json:"region,omitempty"`
	Summary   string    `json:"summary"`
	Reason    string    `json:"reason,omitempty"`
	Since     time.Time `json:"since"`

	Status   NotificationStatus `json:"status"`
	Attempts int                `json:"attempts"`
	// LastError is the last failed attempt's error, as the sender reported it.
	LastError string `json:"last_error,omitempty"`
	// NextAttemptAt is when the notification is due (again).
	NextAttemptAt time.Time  `json:"next_attempt_at"`
	CreatedAt     time.Time  `json:"created_at"`
	SentAt        *time.Time `json:"sent_at,omitempty"`
	// Lease is the claim a dispatcher holds on it (ClaimNotifications); only the
	// holder may record its outcome.
	Lease string `json:"-"`
}

// AlertFilter selects alerts.
type AlertFilter struct {
	Org       string     // "" every organisation
	Namespace string     // optional
	State     AlertState // optional
	Limit     int        // 0: all
}

// NotificationFilter selects notifications, newest first.
type NotificationFilter struct {
	Org       string             // "" every organisation
	AlertID   string             // optional
	ChannelID string             // optional
	Status    NotificationStatus // optional
	Limit     int                // 0 means 100
}

// AlertChange is one alert written by CommitAlerts with the notifications it enqueues.
type AlertChange struct {
	// Alert is written by its Key over Alert.Version (0: it must not exist yet); on
	// success its Version and UpdatedAt are those written.
	Alert *Alert
	// Notifications are enqueued with the change.
	Notifications []*Notification
}

// AlertCommit is what CommitAlerts writes in one transaction.
type AlertCommit struct {
	// Cursor, when set, names a cursor moved from From to To (compare-and-set: ECONFLICT
	// when it is not at From; a cursor never written is at 0).
	Cursor   string
	From, To int64
	Changes  []AlertChange
}

// ErrAlertConflict is the ECONFLICT CommitAlerts returns when an alert or the cursor
// moved since it was read.
var ErrAlertConflict = Errorf(ECONFLICT, "alert state changed concurrently")

// IsConflict reports whether err carries ECONFLICT.
func IsConflict(err error) bool { return ErrorCode(err) == ECONFLICT }

// AlertStore keeps alerting's configuration (rules, channels, silences), its state
// (alerts and the cursor of the events it has read) and its outbox (notifications).
type AlertStore interface {
	// CreateAlertRule stores r, setting CreatedAt when zero. EINVALID without ID or Org
	// or when Validate fails; ECONFLICT if the ID is taken.
	CreateAlertRule(ctx context.Context, r *AlertRule) error
	// GetAlertRule returns ENOTFOUND if absent.
	GetAlertRule(ctx context.Context, id string) (*AlertRule, error)
	// ListAlertRules returns the rules of org ("" every org), oldest first.
	ListAlertRules(ctx context.Context, org string) ([]*AlertRule, error)
	// UpdateAlertRule writes every field but ID, Org and CreatedAt. EINVALID as
	// CreateAlertRule; ENOTFOUND if absent.
	UpdateAlertRule(ctx context.Context, r *AlertRule) error
	// DeleteAlertRule returns ENOTFOUND if absent. Its alerts stay (the engine
	// resolves them).
	DeleteAlertRule(ctx context.Context, id string) error

	// CreateAlertChannel stores c (Secret as given: sealed). EINVALID without ID or Org
	// or when Validate fails; ECONFLICT if the ID or the org's channel name is taken.
	CreateAlertChannel(ctx context.Context, c *AlertChannel) error
	// GetAlertChannel returns ENOTFOUND if absent.
	GetAlertChannel(ctx context.Context, id string) (*AlertChannel, error)
	// ListAlertChannels returns the channels of org ("" every org) ordered by name.
	ListAlertChannels(ctx context.Context, org string) ([]*AlertChannel, error)
	// UpdateAlertChannel writes Name, Config, Secret and routing. EINVALID as
	// CreateAlertChannel; ENOTFOUND if absent; ECONFLICT if the name is taken.
	UpdateAlertChannel(ctx context.Context, c *AlertChannel) error
	// DeleteAlertChannel returns ENOTFOUND if absent. Its notifications stay in the
	// history; those not yet delivered end dead.
	DeleteAlertChannel(ctx context.Context, id string) error

	// CreateSilence stores s, setting CreatedAt when zero. EINVALID without ID or Org
	// or when Validate fails; ECONFLICT if the ID is taken.
	CreateSilence(ctx context.Context, s *Silence) error
	// ListSilences returns the silences of org ("" every org) in force at activeAt
	// (zero: all, expired too), by expiry.
	ListSilences(ctx context.Context, org string, activeAt time.Time) ([]*Silence, error)
	// DeleteSilence ends a silence; ENOTFOUND if absent.
	DeleteSilence(ctx context.Context, id string) error

	// GetAlert returns ENOTFOUND if absent.
	GetAlert(ctx context.Context, id string) (*Alert, error)
	// GetAlertByKey returns the alert of a key; ENOTFOUND if none.
	GetAlertByKey(ctx context.Context, key string) (*Alert, error)
	// ListAlerts returns matching alerts, most recently started first.
	ListAlerts(ctx context.Context, f AlertFilter) ([]*Alert, error)
	// CommitAlerts writes, in one transaction, the cursor move and every alert change
	// with its notifications (Status pending or silenced; the store sets CreatedAt and
	// NextAttemptAt when zero). Each alert is written over the version it was read at,
	// inserted when that is 0: a write against a moved alert or cursor, or a second
	// insert of a key, returns ECONFLICT and writes nothing. EINVALID for an alert
	// without ID, Org, Key or State.
	CommitAlerts(ctx context.Context, c *AlertCommit) error
	// AlertCursor returns a cursor's position and whether it was ever written (a
	// commit from 0 to 0 writes it).
	AlertCursor(ctx context.Context, name string) (pos int64, ok bool, err error)
	// ListEventsAfter returns the events of every namespace with an ID above afterID,
	// in ascending ID order, at most limit (0 means 100): the alert engine's tail.
	ListEventsAfter(ctx context.Context, afterID int64, limit int) ([]*Event, error)

	// EnqueueNotifications stores notifications that belong to no alert change (test
	// notifications). EINVALID without ID, Org or ChannelID.
	EnqueueNotifications(ctx context.Context, ns []*Notification) error
	// ListNotifications returns matching notifications, newest first: the history.
	ListNotifications(ctx context.Context, f NotificationFilter) ([]*Notification, error)
	// ClaimNotifications leases to owner, until now+lease, at most limit pending or
	// failed notifications due at now whose lease (if any) has expired, oldest due
	// first, and returns them with Lease set. Two claimers never hold the same
	// notification: a claim is taken by a conditional update.
	ClaimNotifications(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*Notification, error)
	// PruneNotifications deletes the notifications created before before that are done
	// (sent, dead or silenced) and returns how many: the history's retention. Pending
	// and failed ones stay, whatever their age.
	PruneNotifications(ctx context.Context, before time.Time) (int64, error)
	// UpdateNotification records the outcome of an attempt: Status, Attempts,
	// LastError, NextAttemptAt and SentAt, and releases the lease. ECONFLICT when
	// n.Lease no longer holds it (the lease expired and another took it); ENOTFOUND if
	// absent.
	UpdateNotification(ctx context.Context, n *Notification) error
}

// Validate returns EINVALID listing what a stored alert lacks: ID, Org, Key,
// Namespace, State.
func (a *Alert) Validate() error {
	var problems []string
	for _, f := range []struct{ name, value string }{
		{"id", a.ID}, {"org", a.Org}, {"key", a.Key}, {"namespace", a.Namespace}, {"state", string(a.State)},
	} {
		if f.value == "" {
			problems = append(problems, "an alert needs a "+f.name)
		}
	}
	return invalidProblems(problems)
}
