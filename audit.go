package platform

import (
	"context"
	"time"
)

// Audit outcomes.
const (
	// AuditOK records a change that was made.
	AuditOK = "ok"
	// AuditDenied records an attempt the policy refused (or a refused sign-in).
	AuditDenied = "denied"
	// AuditFailed records an action that was allowed but did not succeed (a tool call
	// the service answered with an error).
	AuditFailed = "failed"
)

// Audit actions written by the platform. Authorisation refusals use the policy action
// (e.g. "service.deploy") with Outcome AuditDenied.
const (
	AuditSignIn        = "auth.sign_in"
	AuditSignInRefused = "auth.sign_in_refused"
	// AuditTokenRefused records a token refused because its user is disabled, deleted
	// or no longer a member (once per cache refresh, not per request).
	AuditTokenRefused    = "auth.token_refused"
	AuditTokenCreate     = "token.create"
	AuditMeshConnect     = "mesh.connect"
	AuditTokenRevoke     = "token.revoke"
	AuditUserCreate      = "user.create"
	AuditUserDisable     = "user.disable"
	AuditUserEnable      = "user.enable"
	AuditUserDelete      = "user.delete"
	AuditRoleChange      = "member.role"
	AuditMemberRemove    = "member.remove"
	AuditNamespaceCreate = "namespace.create"
	AuditNamespaceDelete = "namespace.delete"
	AuditNamespaceDev    = "namespace.dev"
	AuditDeploy          = "service.deploy"
	AuditPromote         = "service.promote"
	AuditRollback        = "service.rollback"
	AuditRepoLink        = "repo.link"
	AuditRepoUnlink      = "repo.unlink"
	AuditActionsToken    = "token.github_actions"
	AuditServiceDelete   = "service.delete"
	AuditRegionRegister  = "region.register"
	AuditRegionDelete    = "region.delete"
	AuditRegionToken     = "region.token"
	AuditGitHubLinks     = "org.github_links"
	AuditSettingChange   = "setting.change"
	AuditAlertRule       = "alert.rule"
	AuditAlertChannel    = "alert.channel"
	AuditAlertSilence    = "alert.silence"
	AuditAlertTest       = "alert.test"
	// AuditBillingPlan records a change of an organisation's plan.
	AuditBillingPlan = "billing.plan"
	// AuditToolCall records an MCP tool call: the token, the tool, the outcome and how
	// long it took.
	AuditToolCall = "mcp.tool_call"
)

// AuditEntry is one line of an organisation's audit log: who did what to what, when,
// from where. Entries are only ever appended.
type AuditEntry struct {
	// ID increases with every entry; listing pages with it.
	ID  int64  `json:"id"`
	Org string `json:"org"`
	// Actor is the user's login ("" for the platform itself), ActorID their id.
	Actor   string `json:"actor"`
	ActorID string `json:"actor_id,omitempty"`
	// TokenID is the token the actor used.
	TokenID string `json:"token_id,omitempty"`
	Action  string `json:"action"`
	// Target is what was acted on, e.g. "namespace/acme", "service/acme/greeter",
	// "token/t-…", "user/alice".
	Target  string `json:"target"`
	Outcome string `json:"outcome"`
	// Source is the client's network address.
	Source string    `json:"source,omitempty"`
	Detail string    `json:"detail,omitempty"`
	Time   time.Time `json:"time"`
}

// AuditFilter selects audit entries, newest first.
type AuditFilter struct {
	Org    string
	Actor  string // login
	Action string // exact, or a prefix ending in "." ("token.")
	Since  time.Time
	// BeforeID pages backwards: only entries with a smaller ID (0: from the newest).
	BeforeID int64
	// Limit caps the entries returned (0: 100; at most 1000).
	Limit int
}

// AuditStore keeps the audit log. There is no update or delete.
type AuditStore interface {
	// AppendAudit stores e, setting its ID (and Time when zero): EINVALID without an
	// org or action.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// ListAudit returns the entries f selects, newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, error)
}

// AuditBatcher is an AuditStore that appends many entries at once (one transaction):
// writers of many entries (the MCP endpoint's tool calls) use it when the store has it.
type AuditBatcher interface {
	// AppendAudits stores the entries in order, as AppendAudit each; none when one is
	// invalid.
	AppendAudits(ctx context.Context, entries []*AuditEntry) error
}

type sourceKey struct{}

// NewContextWithSource returns ctx carrying the client's network address, for the audit
// log. The HTTP layer sets it.
func NewContextWithSource(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, sourceKey{}, addr)
}

// SourceFromContext returns the client's address, or "".
func SourceFromContext(ctx context.Context) string {
	s, _ := ctx.Value(sourceKey{}).(string)
	return s
}
