package platform

import (
	"context"
	"slices"
	"time"
)

// Token is an API credential. Only the SHA-256 hash of its secret is stored; the secret
// is shown once, when the token is created.
type Token struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Hash is the hex SHA-256 of the secret. Never serialised.
	Hash string `json:"-"`
	// Admin tokens may do everything, in every namespace.
	Admin bool `json:"admin"`
	// Namespaces a non-admin token may use.
	Namespaces []string   `json:"namespaces,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
}

// CanAccess reports whether t may act in namespace ns.
func (t *Token) CanAccess(ns string) bool {
	return t != nil && (t.Admin || slices.Contains(t.Namespaces, ns))
}

// Expired reports whether t is past its expiry at now.
func (t *Token) Expired(now time.Time) bool {
	return t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)
}

// TokenStore keeps tokens.
type TokenStore interface {
	// CreateToken stores t. ECONFLICT if the ID or hash exists.
	CreateToken(ctx context.Context, t *Token) error
	// GetTokenByHash returns ENOTFOUND for an unknown hash.
	GetTokenByHash(ctx context.Context, hash string) (*Token, error)
	// ListTokens returns all tokens ordered by creation.
	ListTokens(ctx context.Context) ([]*Token, error)
	// DeleteToken returns ENOTFOUND if absent.
	DeleteToken(ctx context.Context, id string) error
}

type tokenKey struct{}

// NewContextWithToken returns ctx carrying the caller's token.
func NewContextWithToken(ctx context.Context, t *Token) context.Context {
	return context.WithValue(ctx, tokenKey{}, t)
}

// TokenFromContext returns the caller's token, or nil.
func TokenFromContext(ctx context.Context) *Token {
	t, _ := ctx.Value(tokenKey{}).(*Token)
	return t
}

// Authorize is the one policy check of every entry point: it returns EUNAUTHENTICATED
// without a token, EFORBIDDEN when the token may not act in namespace ns ("" means a
// platform-wide action, which needs an admin token).
func Authorize(ctx context.Context, ns string) error {
	t := TokenFromContext(ctx)
	if t == nil {
		return Errorf(EUNAUTHENTICATED, "no valid token").WithHint("log in with `platform login --token TOKEN` or set PLATFORM_TOKEN")
	}
	if ns == "" {
		if !t.Admin {
			return Errorf(EFORBIDDEN, "this action needs an admin token")
		}
		return nil
	}
	if !t.CanAccess(ns) {
		return Errorf(EFORBIDDEN, "token %q may not access namespace %q", t.Name, ns)
	}
	return nil
}
