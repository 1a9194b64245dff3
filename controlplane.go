package platform

import (
	"context"
	"io"
	"net"
	"time"
)

// ControlPlane is what every entry point (HTTP API, CLI through it, dashboard) can ask of
// the platform. Each method authorises the caller from the token in ctx with Authorize,
// so no transport can forget the policy. Implemented by package control.
type ControlPlane interface {
	// CreateNamespace: EINVALID bad name or unknown region, ECONFLICT exists; admin
	// only. Regions, when given, are where its services run unless a deploy names its own.
	CreateNamespace(ctx context.Context, name string, regions ...string) (*Namespace, error)
	// SetNamespaceDev turns a namespace's dev mode (Namespace.Dev) on or off and returns
	// the namespace; admin only, as creating it. ENOTFOUND for an unknown namespace.
	SetNamespaceDev(ctx context.Context, name string, dev bool) (*Namespace, error)
	// ListNamespaces returns the namespaces the caller may access.
	ListNamespaces(ctx context.Context) ([]*Namespace, error)
	// DeleteNamespace stops every service in it and removes it; admin only.
	DeleteNamespace(ctx context.Context, name string) error

	// UploadSource stores a tar.gz source archive for a later Deploy and returns its
	// sha256 (Source.Archive). EINVALID for a bad archive (traversal, symlink out of the
	// tree, too large: the message says which entry and why).
	UploadSource(ctx context.Context, namespace string, archive io.Reader) (string, error)
	// Deploy records a new release and returns at once; the reconciler builds and rolls
	// it out. Follow progress with SubscribeEvents and BuildLog.
	Deploy(ctx context.Context, req DeployRequest) (*Release, error)
	ListServices(ctx context.Context, namespace string) ([]*ServiceView, error)
	GetService(ctx context.Context, namespace, name string) (*ServiceView, error)
	// ServiceMetrics returns a service's requests, errors and latencies per minute over
	// the last since (DefaultMetricsWindow when 0), with a point for every minute;
	// authorised as reading the service. EINVALID for a negative since or one over
	// MaxMetricsWindow, ENOTFOUND for an unknown service.
	ServiceMetrics(ctx context.Context, namespace, service string, since time.Duration) (*ServiceMetrics, error)
	// DeleteService marks the service deleted; the reconciler stops its instances.
	DeleteService(ctx context.Context, namespace, name string) error
	// Promote makes the service's canary (DeployRequest.Canary) its live release: the
	// regions serve the canary's running instances and drain and stop the old ones.
	// Authorised as a deploy. ENOTFOUND when there is no canary, EINVALID when it is
	// still rolling out.
	Promote(ctx context.Context, namespace, service string) (*Release, error)
	GetRelease(ctx context.Context, namespace, id string) (*Release, error)
	ListReleases(ctx context.Context, namespace, service string) ([]*Release, error)
	GetBuild(ctx context.Context, namespace, id string) (*Build, error)
	// BuildLog streams a build's output lines; with follow, until the build ends.
	BuildLog(ctx context.Context, namespace, id string, follow bool) (<-chan string, error)

	// Call makes one RPC into a namespace (see Mesh.Call), with the endpoint's declared
	// scopes enforced against the caller's token (Token.Scopes) and the token's tool
	// narrowing (Token.Tools).
	Call(ctx context.Context, req CallRequest) ([]byte, error)
	// ListTools returns the namespace's MCP tools: one per endpoint of every registered
	// service, with the descriptions, examples and scopes the services declare (or their
	// builds read from the source), authorised as reading the namespace's services. The
	// tools the caller's token may not call (Token.Tools) are left out.
	ListTools(ctx context.Context, namespace string) ([]Tool, error)
	// Logs streams a service's instance output.
	Logs(ctx context.Context, q LogQuery) (<-chan LogEntry, error)
	// Events lists stored events.
	Events(ctx context.Context, f EventFilter) ([]*Event, error)
	// SubscribeEvents sends stored events after f.AfterID, then live ones, until ctx ends.
	SubscribeEvents(ctx context.Context, f EventFilter) (<-chan *Event, error)

	// RegisterRegion creates or updates a region (what `platform infra apply` does for
	// each region it creates); admin only. EINVALID for a bad region.
	RegisterRegion(ctx context.Context, r *Region) (*Region, error)
	// ListRegions returns every region; any authenticated caller may list them.
	ListRegions(ctx context.Context) ([]*Region, error)
	// DeleteRegion unregisters a region; admin only. ENOTFOUND if absent.
	DeleteRegion(ctx context.Context, name string) error
	// IssueRegionToken returns a new secret for region name's agent (`platform agent
	// --token`), shown once, and revokes the previous one, closing its connection;
	// admin only. ENOTFOUND if there is no such region.
	IssueRegionToken(ctx context.Context, name string) (string, error)

	// CreateToken creates an API token for the caller and returns its secret, shown
	// once. The token's role is never above the caller's (EFORBIDDEN says so) and its
	// namespaces never outside the caller's; EINVALID for a bad request.
	CreateToken(ctx context.Context, req CreateTokenRequest) (*Token, string, error)
	// ListTokens returns the caller's own tokens, or every token of the org for admins.
	ListTokens(ctx context.Context) ([]*Token, error)
	// DeleteToken revokes a token at once: the calling token itself, another of its
	// user's, or another member's, as authz.CheckRevoke allows (never one of a higher
	// role or wider reach; EFORBIDDEN). ENOTFOUND if there is no such token in the org.
	DeleteToken(ctx context.Context, id string) error

	// Connect issues the caller a mesh credential for one namespace (a TokenMesh token,
	// audited as mesh.connect; authorised as mesh.connect: roles that may deploy there)
	// with the MICRO_* environment that puts a go-micro process into the namespace's mesh.
	// The secret is returned once. EINVALID for a bad TTL, EUNAVAILABLE when this
	// platform's mesh admits no developers.
	Connect(ctx context.Context, req ConnectRequest) (*MeshGrant, error)
	// ListConnections returns the namespace's mesh credentials the caller may see (their
	// own; every one for admins), each with the clients connected with it right now.
	ListConnections(ctx context.Context, namespace string) ([]*MeshConnection, error)
	// DialMesh opens a connection to the namespace's mesh server for a tunnel (the NATS
	// protocol travels inside; the client still presents a mesh credential), authorised
	// as mesh.connect.
	DialMesh(ctx context.Context, namespace string) (net.Conn, error)

	// Whoami returns the caller's token and user (nil for a token without one).
	Whoami(ctx context.Context) (*Whoami, error)
	// ListUsers returns the members of the caller's org.
	ListUsers(ctx context.Context) ([]*Member, error)
	// CreateUser creates a local user who is a member of the caller's org with a role no
	// higher than the caller's, and a first API token of theirs (every namespace, their
	// role), whose secret is returned once; owners only (member.manage). ECONFLICT login
	// taken.
	CreateUser(ctx context.Context, req CreateUserRequest) (*Member, string, error)
	// SetUserRole changes a member's role (owners only). Demoting the last owner is
	// ECONFLICT.
	SetUserRole(ctx context.Context, login string, role Role) (*Member, error)
	// SetUserDisabled disables (revoking every token and session at once) or enables a
	// user; owners only. Disabling oneself or the last owner is ECONFLICT.
	SetUserDisabled(ctx context.Context, login string, disabled bool) (*Member, error)
	// ListAudit lists the caller's org's audit log, newest first; admins only.
	ListAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, error)
	// Rollback deploys an earlier release of a service again without building: a new
	// release (the next version) with that release's artifact, size, replicas and
	// environment. version "" goes back to the release live before the current one.
	// ENOTFOUND for an unknown version, EINVALID when there is nothing to go back to.
	Rollback(ctx context.Context, namespace, service, version string) (*Release, error)
	// LinkRepo links a GitHub repository's branch to a namespace (admins of it) and
	// returns what GitHub needs, the webhook secret shown once. ECONFLICT if the
	// namespace links that repository and branch already.
	LinkRepo(ctx context.Context, req LinkRepoRequest) (*RepoLink, *LinkSetup, error)
	// ListRepoLinks returns the links of a namespace, or of every namespace the caller
	// reaches with namespace "".
	ListRepoLinks(ctx context.Context, namespace string) ([]*RepoLink, error)
	// UnlinkRepo deletes a link (and the webhook the platform installed for it).
	UnlinkRepo(ctx context.Context, namespace, id string) error
	// ExchangeActionsToken trades a GitHub Actions OIDC token (no platform token needed)
	// for a short-lived developer token narrowed to the namespace linked to the job's
	// repository and branch. EUNAUTHENTICATED, audited, for every refusal.
	ExchangeActionsToken(ctx context.Context, idToken string) (*ActionsToken, error)

	// Alerting: an organisation's rules, channels, silences, alerts and the history of
	// their notifications. Any member reads rules, silences, alerts and history (a token
	// narrowed to namespaces sees those of its namespaces and the organisation-wide
	// ones); channels, and every change, are admins' (alert.manage). Changes are audited.
	//
	// ListAlertRules returns the built-in rules (platform.BuiltinRule), then the
	// organisation's own, oldest first.
	ListAlertRules(ctx context.Context) ([]*AlertRule, error)
	// CreateAlertRule stores a rule (AlertRule.Validate; the ID, Org and CreatedAt are
	// set here). A rule of a built-in kind replaces the built-in where it applies; with
	// Disabled it turns it off there. EINVALID lists every problem; ENOTFOUND for a
	// namespace the organisation does not have.
	CreateAlertRule(ctx context.Context, r *AlertRule) (*AlertRule, error)
	// DeleteAlertRule deletes one of the organisation's rules, by ID or name; its firing
	// alerts resolve. ENOTFOUND if absent; EINVALID for a built-in rule (disable it with
	// a rule of its kind instead).
	DeleteAlertRule(ctx context.Context, id string) error
	// ListAlertChannels returns the organisation's channels, by name; secrets are never
	// returned.
	ListAlertChannels(ctx context.Context) ([]*AlertChannel, error)
	// CreateAlertChannel checks a channel's config and secret as its sender will
	// (EINVALID lists every problem; nothing is saved), seals the secret and stores it.
	// ECONFLICT if the name is taken.
	CreateAlertChannel(ctx context.Context, req CreateAlertChannelRequest) (*AlertChannel, error)
	// DeleteAlertChannel deletes a channel by ID or name; its undelivered notifications
	// end dead. ENOTFOUND if absent.
	DeleteAlertChannel(ctx context.Context, id string) error
	// TestAlertChannel sends a test notification to a channel (by ID or name) through
	// the outbox like any other and waits, up to about 20 s, for its first attempt: the
	// notification comes back sent, failed (LastError says why; it is retried) or dead,
	// or still pending when the wait ran out.
	TestAlertChannel(ctx context.Context, id string) (*Notification, error)
	// ListSilences returns the organisation's silences in force, by expiry.
	ListSilences(ctx context.Context) ([]*Silence, error)
	// CreateSilence mutes matching alerts' notifications until s.Until (or for
	// SilenceRequest.For). EINVALID for a silence without an expiry, one in the past or
	// further than MaxSilence away.
	CreateSilence(ctx context.Context, req SilenceRequest) (*Silence, error)
	// DeleteSilence ends a silence now. ENOTFOUND if absent.
	DeleteSilence(ctx context.Context, id string) error
	// ListAlerts returns the organisation's alerts, most recently started first
	// (f.Org is the caller's).
	ListAlerts(ctx context.Context, f AlertFilter) ([]*Alert, error)
	// AlertHistory returns the notifications sent, being sent, failed, dead or silenced,
	// newest first (f.Org is the caller's).
	AlertHistory(ctx context.Context, f NotificationFilter) ([]*Notification, error)

	// Metering and billing (docs/billing.md).
	//
	// Usage returns the caller's organisation's metered usage (never another's): of the
	// namespaces the caller's token reaches, in q's window (the current billing period
	// so far by default), summed per namespace, service, region and meter unless
	// q.Hourly. Any member may read it (namespace.read: a narrowed token sees its
	// namespaces'). EINVALID for From at or after To, an unknown meter or a window over
	// MaxUsageWindow; EFORBIDDEN for a namespace outside the token's; ENOTFOUND for a
	// namespace the organisation neither has nor used. Usage works whether or not
	// billing is enabled.
	Usage(ctx context.Context, q UsageQuery) ([]UsageRollup, error)
	// Plan returns the organisation's plan in force now and the plans of the catalog
	// (billing.read: any member, with a token for every namespace).
	Plan(ctx context.Context) (*PlanView, error)
	// SetPlan moves the organisation to the catalog's plan name from now on (billing.
	// manage: admins and owners), audited as billing.plan. The current period is
	// prorated between the plans. EINVALID for a plan not in the catalog (the hint
	// lists them).
	SetPlan(ctx context.Context, name string) (*PlanAssignment, error)
	// ListInvoices returns the organisation's invoices, newest period first: the
	// current period's draft (what accrues so far, computed now), then the final ones
	// (billing.read).
	ListInvoices(ctx context.Context) ([]*Invoice, error)
	// GetInvoice returns one of the organisation's invoices by ID; "draft" (or the
	// draft's own ID) is the current period's draft. ENOTFOUND for an unknown invoice
	// or another organisation's (billing.read).
	//
	// Plan, SetPlan, ListInvoices and GetInvoice are EUNAVAILABLE when billing is not
	// enabled on the platform.
	GetInvoice(ctx context.Context, id string) (*Invoice, error)

	// GitHubLinks returns the org's GitHub team links; admins may read them.
	GitHubLinks(ctx context.Context) ([]*GitHubLink, error)
	// SetGitHubLinks replaces the org's GitHub team links; owners only.
	SetGitHubLinks(ctx context.Context, links []*GitHubLink) ([]*GitHubLink, error)
}

// Whoami is who the caller is.
type Whoami struct {
	Token *Token `json:"token"`
	User  *User  `json:"user,omitempty"`
	Org   string `json:"org"`
	Role  Role   `json:"role"`
}

// CreateUserRequest describes a new local user.
type CreateUserRequest struct {
	Login string `json:"login"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	Role  Role   `json:"role"`
}

// CreateTokenRequest describes a new token.
type CreateTokenRequest struct {
	Name string `json:"name"`
	// Role of the token; "" means the caller's own role.
	Role Role `json:"role,omitempty"`
	// Admin is the legacy way to ask for a token with every namespace (and, when Role is
	// "", the caller's role).
	Admin      bool          `json:"admin"`
	Namespaces []string      `json:"namespaces,omitempty"`
	TTL        time.Duration `json:"ttl,omitempty"`
	// Scopes are the go-micro scopes the token holds (Token.Scopes).
	Scopes []string `json:"scopes,omitempty"`
	// Tools narrows the token to these tools (Token.Tools).
	Tools []string `json:"tools,omitempty"`
}

// PlanView is an organisation's plan as ControlPlane.Plan shows it.
type PlanView struct {
	Org string `json:"org"`
	// Plan is the plan in force now: as it was assigned, or the catalog's default.
	Plan Plan `json:"plan"`
	// Default is true when the organisation was never assigned a plan: it is on the
	// catalog's default plan since it was created.
	Default bool `json:"default,omitempty"`
	// Since is when Plan took effect (the organisation's creation for the default),
	// By who assigned it.
	Since time.Time `json:"since,omitzero"`
	By    string    `json:"by,omitempty"`
	// Catalog names the plans an organisation may move to, smallest first; DefaultPlan
	// is the one of organisations given none.
	Catalog     []string `json:"catalog"`
	DefaultPlan string   `json:"default_plan"`
}

// Authenticator resolves a bearer secret to its token: EUNAUTHENTICATED for an unknown,
// expired or revoked secret. Implementations cache, so gateway requests do not hit the
// store on the hot path.
type Authenticator interface {
	Authenticate(ctx context.Context, secret string) (*Token, error)
}

// CreateAlertChannelRequest describes a new alert channel: AlertChannel's fields with the
// secret in the clear (the SMTP password, Twilio auth token, Slack webhook URL or bot
// token, PagerDuty routing key or webhook HMAC key), sealed before it is stored.
type CreateAlertChannelRequest struct {
	Name        string            `json:"name"`
	Kind        string            `json:"kind"`
	Config      map[string]string `json:"config,omitempty"`
	Secret      string            `json:"secret,omitempty"`
	Namespaces  []string          `json:"namespaces,omitempty"`
	Services    []string          `json:"services,omitempty"`
	MinSeverity Severity          `json:"min_severity,omitempty"`
}

// SilenceRequest describes a new silence: what it matches (empty fields match
// everything; Rule is a rule's ID, name or kind) and until when — Until, or For from now.
type SilenceRequest struct {
	Namespace string        `json:"namespace,omitempty"`
	Service   string        `json:"service,omitempty"`
	Rule      string        `json:"rule,omitempty"`
	Until     time.Time     `json:"until,omitzero"`
	For       time.Duration `json:"for,omitempty"`
	Comment   string        `json:"comment,omitempty"`
}

// MaxSilence is how far ahead a silence may end.
const MaxSilence = 90 * 24 * time.Hour
