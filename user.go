package platform

import (
	"context"
	"time"
)

// UserSource says where a user's identity comes from.
type UserSource string

// User sources.
const (
	// UserLocal users are created with `platform users create` (or at first start) and
	// authenticate with tokens only.
	UserLocal UserSource = "local"
	// UserGitHub users sign in with GitHub; GitHubID is their stable GitHub user id.
	UserGitHub UserSource = "github"
)

// User is a person (or a robot) who acts on the platform through tokens. A disabled or
// deleted user's tokens are refused.
type User struct {
	ID     string     `json:"id"`
	Login  string     `json:"login"`
	Name   string     `json:"name,omitempty"`
	Email  string     `json:"email,omitempty"`
	Source UserSource `json:"source"`
	// GitHubID is the GitHub user id for a UserGitHub user (logins can be renamed).
	GitHubID  int64      `json:"github_id,omitempty"`
	Disabled  bool       `json:"disabled,omitempty"`
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// Active reports whether u may act: it exists, is not disabled and not deleted.
func (u *User) Active() bool { return u != nil && !u.Disabled && u.DeletedAt == nil }

// MembershipSource says what grants a membership.
type MembershipSource string

// Membership sources.
const (
	// MemberLocal memberships are set by an owner (`platform users set-role`).
	MemberLocal MembershipSource = "local"
	// MemberGitHubTeam memberships follow GitHub team membership; sync overwrites them.
	MemberGitHubTeam MembershipSource = "github_team"
)

// Membership gives a user a role in an organisation.
type Membership struct {
	Org    string           `json:"org"`
	UserID string           `json:"user_id"`
	Login  string           `json:"login,omitempty"` // filled on listing
	Role   Role             `json:"role"`
	Source MembershipSource `json:"source"`
	// Teams are the linked GitHub teams ("github-org/team") that grant a github_team
	// membership.
	Teams     []string  `json:"teams,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Member is a user with their membership of one org, as listed by `platform users`.
type Member struct {
	User
	Role       Role             `json:"role"`
	RoleSource MembershipSource `json:"role_source"`
	Teams      []string         `json:"teams,omitempty"`
}

// UserStore keeps users and their memberships.
type UserStore interface {
	// CreateUser stores u: EINVALID without ID or login or with a bad source, ECONFLICT
	// if the ID, login or GitHub id exists.
	CreateUser(ctx context.Context, u *User) error
	// GetUser returns ENOTFOUND for an unknown id. Deleted users are returned.
	GetUser(ctx context.Context, id string) (*User, error)
	// GetUserByLogin returns ENOTFOUND for an unknown login.
	GetUserByLogin(ctx context.Context, login string) (*User, error)
	// GetUserByGitHubID returns ENOTFOUND if no user has that GitHub id.
	GetUserByGitHubID(ctx context.Context, githubID int64) (*User, error)
	// UpdateUser replaces the user's login, name, email, disabled and deleted fields:
	// ENOTFOUND if absent, ECONFLICT if the new login is taken.
	UpdateUser(ctx context.Context, u *User) error
	// ListUsers returns every user ordered by login.
	ListUsers(ctx context.Context) ([]*User, error)

	// PutMembership creates or replaces the user's membership of m.Org: ENOTFOUND
	// unknown user or org, EINVALID bad role or source.
	PutMembership(ctx context.Context, m *Membership) error
	// GetMembership returns ENOTFOUND if the user is not a member of org.
	GetMembership(ctx context.Context, org, userID string) (*Membership, error)
	// DeleteMembership removes it: ENOTFOUND if absent.
	DeleteMembership(ctx context.Context, org, userID string) error
	// ListMembers returns the org's members with their users, ordered by login.
	ListMembers(ctx context.Context, org string) ([]*Member, error)
	// ListMemberships returns the user's memberships ordered by org.
	ListMemberships(ctx context.Context, userID string) ([]*Membership, error)
	// DeleteUserTokens removes the user's tokens (sessions and API tokens) in org, or in
	// every org for org "", and returns the removed tokens so caches can forget them.
	DeleteUserTokens(ctx context.Context, userID, org string) ([]*Token, error)
}
