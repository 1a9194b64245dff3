package github

import (
	"context"
	"time"
)

// Directory is what this package needs from the platform's accounts: users keyed by
// their GitHub account, memberships of organisations with a role, tokens, and the audit
// log. The accounts core implements it; every method returns platform error codes.
type Directory interface {
	// UpsertGitHubUser returns the platform user ID of the GitHub account id.ID, creating
	// the user the first time and updating the login (and name and email, when not
	// empty) afterwards.
	UpsertGitHubUser(ctx context.Context, id Identity) (userID string, err error)
	// GitHubMembers returns the members of platform organisation org whose membership
	// was granted through GitHub (not local accounts). ENOTFOUND if org does not exist.
	GitHubMembers(ctx context.Context, org string) ([]Member, error)
	// SetMembership makes the user a member of org with role, creating or updating the
	// membership, which is recorded as granted through GitHub.
	SetMembership(ctx context.Context, org, userID string, role Role) error
	// RemoveMembership removes the user's membership of org; no error if there is none.
	RemoveMembership(ctx context.Context, org, userID string) error
	// RevokeUser revokes, with immediate effect, the user's sessions and API tokens that
	// give access to org.
	RevokeUser(ctx context.Context, org, userID string) error
	// IssueToken issues a credential for the user: a browser session (KindSession) or
	// an API token for the CLI (KindAPI). The secret is returned once.
	IssueToken(ctx context.Context, userID string, kind TokenKind) (Issued, error)
	// Audit appends an entry to the audit log.
	Audit(ctx context.Context, e AuditEntry) error
}

// Identity is a GitHub account.
type Identity struct {
	// ID is GitHub's numeric user ID, which survives renames; Login may change.
	ID    int64
	Login string
	Name  string
	Email string
}

// Member is a membership granted through GitHub, as the Directory reports it.
type Member struct {
	UserID   string
	GitHubID int64
	Login    string
	Role     Role
}

// TokenKind says which credential IssueToken issues.
type TokenKind string

// Token kinds.
const (
	// KindSession is a browser session, carried in a cookie.
	KindSession TokenKind = "session"
	// KindAPI is an API token for the CLI, stored in its config file.
	KindAPI TokenKind = "api"
)

// Issued is a freshly issued credential. Secret is shown once and never logged.
type Issued struct {
	Secret    string
	ExpiresAt time.Time
}

// Audit actions this package records.
const (
	ActionSignIn           = "auth.github.sign_in"
	ActionSignInRefused    = "auth.github.sign_in_refused"
	ActionStateRejected    = "auth.github.state_rejected"
	ActionCodeRejected     = "auth.github.code_rejected"
	ActionTokenRejected    = "auth.github.token_rejected"
	ActionWebhookRejected  = "webhook.github.signature_rejected"
	ActionMemberAdded      = "member.added"
	ActionMemberRoleChange = "member.role_changed"
	ActionMemberRemoved    = "member.removed"
)

// AuditEntry is one audit record. Org is "" for events that concern no organisation
// yet (a forged state or a bad webhook signature, before anyone is known).
type AuditEntry struct {
	Org string
	// Actor is who acted: "github:LOGIN" for a person, "github-sync" for the sync,
	// "anonymous" for an unauthenticated request.
	Actor string
	// Action is one of the Action constants.
	Action string
	// Target is what was acted on, e.g. "user:ID" or "webhook".
	Target string
	// Source is the remote address of the request, "" for the periodic sync.
	Source string
	// Detail says why, for people; it never holds a secret.
	Detail string
	Time   time.Time
}
