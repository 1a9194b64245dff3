package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/micro/platform"
)

var _ platform.TokenStore = (*Store)(nil)

const tokenColumns = `id, name, hash, admin, namespaces, created_at, expires_at`

func tokenNotFound() error {
	return platform.Errorf(platform.ENOTFOUND, "token not found")
}

func scanToken(sc scanner) (*platform.Token, error) {
	var t platform.Token
	var namespaces string
	var created int64
	var expires sql.NullInt64
	if err := sc.Scan(&t.ID, &t.Name, &t.Hash, &t.Admin, &namespaces, &created, &expires); err != nil {
		return nil, err
	}
	if err := unmarshalJSON(namespaces, &t.Namespaces); err != nil {
		return nil, err
	}
	t.CreatedAt = fromMicros(created)
	t.ExpiresAt = timePtr(expires)
	return &t, nil
}

// CreateToken stores t with the hash of its secret (never the secret), setting CreatedAt
// when zero. Returns EINVALID without an ID or hash, ECONFLICT if the ID or hash exists.
func (s *Store) CreateToken(ctx context.Context, t *platform.Token) error {
	var problems []string
	if t.ID == "" {
		problems = append(problems, "token has no ID")
	}
	if t.Hash == "" {
		problems = append(problems, "token has no hash")
	}
	if err := invalid(problems); err != nil {
		return err
	}
	namespaces, err := marshalJSON(t.Namespaces, len(t.Namespaces) == 0)
	if err != nil {
		return wrap("create token", err)
	}
	created := orNow(t.CreatedAt)
	_, err = s.w.exec(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Name, t.Hash, t.Admin, namespaces, micros(created), nullMicros(t.ExpiresAt))
	if isUniqueViolation(err) {
		// Whether the ID or the secret's hash collided is not said: the hash is a secret.
		return platform.Errorf(platform.ECONFLICT, "token %q already exists", t.ID)
	}
	if err != nil {
		return wrap("create token", err)
	}
	t.CreatedAt = created
	return nil
}

// GetTokenByHash returns ENOTFOUND for an unknown hash.
func (s *Store) GetTokenByHash(ctx context.Context, hash string) (*platform.Token, error) {
	t, err := scanToken(s.r.queryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tokenNotFound()
	}
	return t, wrap("get token", err)
}

// ListTokens returns all tokens ordered by creation.
func (s *Store) ListTokens(ctx context.Context) ([]*platform.Token, error) {
	rows, err := s.r.query(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("list tokens", err)
	}
	defer rows.Close()
	list := []*platform.Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, wrap("list tokens", err)
		}
		list = append(list, t)
	}
	return list, wrap("list tokens", rows.Err())
}

// DeleteToken returns ENOTFOUND if absent.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	err := s.w.execOne(ctx, platform.Errorf(platform.ENOTFOUND, "token %q not found", id),
		`DELETE FROM tokens WHERE id = ?`, id)
	return wrap("delete token", err)
}
