package platform

import "fmt"

// Role is what a member of an organisation may do there, from least to most: viewer,
// developer, admin, owner. The authz package maps each role to its actions.
type Role string

// Roles, in increasing order of power.
const (
	// RoleViewer reads: namespaces, services, events, regions.
	RoleViewer Role = "viewer"
	// RoleDeveloper also deploys, deletes services, calls them and reads their logs.
	RoleDeveloper Role = "developer"
	// RoleAdmin also manages namespaces, tokens, alert rules, billing settings and reads
	// the audit log.
	RoleAdmin Role = "admin"
	// RoleOwner also manages the organisation's members and GitHub links.
	RoleOwner Role = "owner"
)

// Roles lists every role from least to most powerful.
var Roles = []Role{RoleViewer, RoleDeveloper, RoleAdmin, RoleOwner}

// Rank orders roles: 0 for an unknown or empty role, then 1 (viewer) to 4 (owner).
func (r Role) Rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleDeveloper:
		return 2
	case RoleAdmin:
		return 3
	case RoleOwner:
		return 4
	}
	return 0
}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return r.Rank() > 0 }

// AtLeast reports whether r is as powerful as min or more. An unknown role is never
// at least anything.
func (r Role) AtLeast(min Role) bool { return r.Valid() && r.Rank() >= min.Rank() }

// MinRole returns the less powerful of a and b; an unknown role counts as the least.
func MinRole(a, b Role) Role {
	if a.Rank() <= b.Rank() {
		return a
	}
	return b
}

// MaxRole returns the more powerful of a and b.
func MaxRole(a, b Role) Role {
	if a.Rank() >= b.Rank() {
		return a
	}
	return b
}

// ParseRole returns the role named s: EINVALID, listing the roles, for anything else.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !r.Valid() {
		return "", Errorf(EINVALID, "role %q: want one of viewer, developer, admin, owner", s)
	}
	return r, nil
}

// String implements fmt.Stringer.
func (r Role) String() string { return string(r) }

var _ fmt.Stringer = Role("")
