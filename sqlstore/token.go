package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/micro/platform"
)

var _ platform.TokenStore = (*Store)(nil)

const tokenColumns = `id, name, hash, admin, namespaces, created_at, expires_at, kind, user_id, org, role, scopes, tools`

// tokenSelect reads a token with its owner's login, current role in the token's org and
// state, so that one lookup serves the authenticator.
var tokenSelect = `SELECT ` + prefixed("t.", tokenColumns) + `,
	COALESCE(u.login, ''), COALESCE(m.role, ''), u.id IS NULL OR u.disabled OR u.deleted_at IS NOT NULL OR m.role IS NULL
	FROM tokens t
	LEFT JOIN users u ON u.id = t.user_id
	LEFT JOIN memberships m ON m.org = t.org AND m.user_id = t.user_id`

// prefixed qualifies each of a comma-separated column list with prefix.
func prefixed(prefix, columns string) string {
	cols := strings.Split(columns, ", ")
	for i, c := range cols {
		cols[i] = prefix + c
	}
	return strings.Join(cols, ", ")
}

func tokenNotFound() error {
	return platform.Errorf(platform.ENOTFOUND, "token not found")
}

func scanToken(sc scanner) (*platform.Token, error) {
	var t platform.Token
	var namespaces, scopes, tools string
	var created int64
	var expires sql.NullInt64
	if err := sc.Scan(&t.ID, &t.Name, &t.Hash, &t.Admin, &namespaces, &created, &expires,
		&t.Kind, &t.UserID, &t.Org, &t.Role, &scopes, &tools, &t.User, &t.MemberRole, &t.UserInactive); err != nil {
		return nil, err
	}
	for _, col := range []struct {
		raw string
		dst *[]string
	}{{namespaces, &t.Namespaces}, {scopes, &t.Scopes}, {tools, &t.Tools}} {
		if err := unmarshalJSON(col.raw, col.dst); err != nil {
			return nil, err
		}
	}
	t.CreatedAt = fromMicros(created)
	t.ExpiresAt = timePtr(expires)
	if t.UserID == "" {
		// A token without a user (none is made any more) answers for itself.
		t.UserInactive = false
	}
	return &t, nil
}

func queryTokens(ctx context.Context, c conn, where string, args ...any) ([]*platform.Token, error) {
	rows, err := c.query(ctx, tokenSelect+` WHERE `+where+` ORDER BY t.created_at, t.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	list := []*platform.Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, t)
	}
	return list, rows.Err()
}

// CreateToken stores t with the hash of its secret (never the secret), setting CreatedAt
// when zero, Kind to api and Org to DefaultOrg when empty. Returns EINVALID without an ID
// or hash or with a bad role or kind, ENOTFOUND for an unknown user, ECONFLICT if the ID
// or hash exists.
//
// A token with Admin set and no user is the bootstrap form (what the server makes at
// first start): it is given to the default org's first active owner, with the owner role.
func (s *Store) CreateToken(ctx context.Context, t *platform.Token) error {
	var problems []string
	if t.ID == "" {
		problems = append(problems, "token has no ID")
	}
	if t.Hash == "" {
		problems = append(problems, "token has no hash")
	}
	if t.Role != "" && !t.Role.Valid() {
		problems = append(problems, "role "+string(t.Role)+": want viewer, developer, admin or owner")
	}
	if t.Kind != "" && t.Kind != platform.TokenAPI && t.Kind != platform.TokenSession && t.Kind != platform.TokenMesh {
		problems = append(problems, "kind "+string(t.Kind)+": want api, session or mesh")
	}
	if err := invalid(problems); err != nil {
		return err
	}
	namespaces, errN := marshalJSON(t.Namespaces, len(t.Namespaces) == 0)
	scopes, errS := marshalJSON(t.Scopes, len(t.Scopes) == 0)
	tools, errT := marshalJSON(t.Tools, len(t.Tools) == 0)
	if err := errors.Join(errN, errS, errT); err != nil {
		return wrap("create token", err)
	}
	c := *t
	if c.Kind == "" {
		c.Kind = platform.TokenAPI
	}
	if c.Org == "" {
		c.Org = platform.DefaultOrg
	}
	created := orNow(t.CreatedAt)
	err := s.inTx(ctx, func(tx conn) error {
		if c.UserID == "" && c.Admin {
			if err := tx.queryRow(ctx, `SELECT m.user_id FROM memberships m JOIN users u ON u.id = m.user_id
				WHERE m.org = ? AND m.role = 'owner' AND NOT u.disabled AND u.deleted_at IS NULL
				ORDER BY u.created_at, u.id LIMIT 1`, c.Org).Scan(&c.UserID); errors.Is(err, sql.ErrNoRows) {
				return platform.Errorf(platform.ECONFLICT, "organisation %q has no active owner to give the token to", c.Org)
			} else if err != nil {
				return err
			}
			if c.Role == "" {
				c.Role = platform.RoleOwner
			}
		}
		_, err := tx.exec(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.Name, c.Hash, c.Admin, namespaces, micros(created), nullMicros(c.ExpiresAt),
			string(c.Kind), c.UserID, c.Org, string(c.Role), scopes, tools)
		if isUniqueViolation(err) {
			// Whether the ID or the secret's hash collided is not said: the hash is a secret.
			return platform.Errorf(platform.ECONFLICT, "token %q already exists", c.ID)
		}
		return err
	})
	if err != nil {
		return wrap("create token", err)
	}
	t.CreatedAt, t.Kind, t.Org, t.UserID, t.Role = created, c.Kind, c.Org, c.UserID, c.Role
	return nil
}

// GetTokenByHash returns the token with its owner's login, current role and state, or
// ENOTFOUND for an unknown hash.
func (s *Store) GetTokenByHash(ctx context.Context, hash string) (*platform.Token, error) {
	t, err := scanToken(s.r.queryRow(ctx, tokenSelect+` WHERE t.hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tokenNotFound()
	}
	return t, wrap("get token", err)
}

// ListTokens returns all tokens ordered by creation.
func (s *Store) ListTokens(ctx context.Context) ([]*platform.Token, error) {
	list, err := queryTokens(ctx, s.r, `1 = 1`)
	return list, wrap("list tokens", err)
}

// DeleteToken returns ENOTFOUND if absent.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	err := s.w.execOne(ctx, platform.Errorf(platform.ENOTFOUND, "token %q not found", id),
		`DELETE FROM tokens WHERE id = ?`, id)
	return wrap("delete token", err)
}
