package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/micro/platform"
)

var _ platform.UserStore = (*Store)(nil)

const userColumns = `id, login, name, email, source, github_id, disabled, deleted_at, created_at, updated_at`

func scanUser(sc scanner) (*platform.User, error) {
	var u platform.User
	var githubID, deleted sql.NullInt64
	var created, updated int64
	if err := sc.Scan(&u.ID, &u.Login, &u.Name, &u.Email, &u.Source, &githubID, &u.Disabled, &deleted, &created, &updated); err != nil {
		return nil, err
	}
	u.GitHubID = githubID.Int64
	u.DeletedAt = timePtr(deleted)
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &u, nil
}

func nullGitHubID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

func userProblems(u *platform.User) []string {
	var problems []string
	if u.ID == "" {
		problems = append(problems, "user has no ID")
	}
	if u.Login == "" || len(u.Login) > 64 {
		problems = append(problems, "login: 1 to 64 characters")
	}
	switch u.Source {
	case platform.UserLocal:
	case platform.UserGitHub:
		if u.GitHubID == 0 {
			problems = append(problems, "a GitHub user needs a GitHub id")
		}
	default:
		problems = append(problems, fmt.Sprintf("source %q: want local or github", u.Source))
	}
	return problems
}

// CreateUser stores u, setting CreatedAt and UpdatedAt when zero: EINVALID without ID or
// login or with a bad source, ECONFLICT if the ID, login or GitHub id exists.
func (s *Store) CreateUser(ctx context.Context, u *platform.User) error {
	if err := invalid(userProblems(u)); err != nil {
		return err
	}
	created := orNow(u.CreatedAt)
	updated := orNow(u.UpdatedAt)
	_, err := s.w.exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Login, u.Name, u.Email, string(u.Source), nullGitHubID(u.GitHubID), u.Disabled, nullMicros(u.DeletedAt),
		micros(created), micros(updated))
	if isUniqueViolation(err) {
		return platform.Errorf(platform.ECONFLICT, "user %q already exists", u.Login)
	}
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.Login, err)
	}
	u.CreatedAt, u.UpdatedAt = created, updated
	return nil
}

func (s *Store) getUser(ctx context.Context, notFound error, where string, arg any) (*platform.User, error) {
	u, err := scanUser(s.r.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE `+where+` = ?`, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound
	}
	return u, wrap("get user", err)
}

// GetUser returns ENOTFOUND for an unknown id. Deleted users are returned.
func (s *Store) GetUser(ctx context.Context, id string) (*platform.User, error) {
	return s.getUser(ctx, platform.Errorf(platform.ENOTFOUND, "user %q not found", id), "id", id)
}

// GetUserByLogin returns ENOTFOUND for an unknown login.
func (s *Store) GetUserByLogin(ctx context.Context, login string) (*platform.User, error) {
	return s.getUser(ctx, platform.Errorf(platform.ENOTFOUND, "user %q not found", login).
		WithHint("list users with `platform users list`"), "login", login)
}

// GetUserByGitHubID returns ENOTFOUND if no user has that GitHub id.
func (s *Store) GetUserByGitHubID(ctx context.Context, githubID int64) (*platform.User, error) {
	if githubID == 0 {
		return nil, platform.Errorf(platform.ENOTFOUND, "no user with GitHub id 0")
	}
	return s.getUser(ctx, platform.Errorf(platform.ENOTFOUND, "no user with GitHub id %d", githubID), "github_id", githubID)
}

// UpdateUser replaces the user's login, name, email, GitHub id, disabled and deleted
// fields and sets UpdatedAt: ENOTFOUND if absent, ECONFLICT if the login is taken.
func (s *Store) UpdateUser(ctx context.Context, u *platform.User) error {
	if err := invalid(userProblems(u)); err != nil {
		return err
	}
	updated := now()
	err := s.w.execOne(ctx, platform.Errorf(platform.ENOTFOUND, "user %q not found", u.ID),
		`UPDATE users SET login = ?, name = ?, email = ?, github_id = ?, disabled = ?, deleted_at = ?, updated_at = ? WHERE id = ?`,
		u.Login, u.Name, u.Email, nullGitHubID(u.GitHubID), u.Disabled, nullMicros(u.DeletedAt), micros(updated), u.ID)
	if isUniqueViolation(err) {
		return platform.Errorf(platform.ECONFLICT, "login %q is taken", u.Login)
	}
	if err != nil {
		return wrap("update user", err)
	}
	u.UpdatedAt = updated
	return nil
}

// ListUsers returns every user ordered by login.
func (s *Store) ListUsers(ctx context.Context) ([]*platform.User, error) {
	rows, err := s.r.query(ctx, `SELECT `+userColumns+` FROM users ORDER BY login`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	list := []*platform.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		list = append(list, u)
	}
	return list, wrap("list users", rows.Err())
}

// PutMembership creates or replaces the user's membership of m.Org and sets UpdatedAt:
// ENOTFOUND unknown user or org, EINVALID bad role or source.
func (s *Store) PutMembership(ctx context.Context, m *platform.Membership) error {
	var problems []string
	if !m.Role.Valid() {
		problems = append(problems, fmt.Sprintf("role %q: want viewer, developer, admin or owner", m.Role))
	}
	if m.Source != platform.MemberLocal && m.Source != platform.MemberGitHubTeam {
		problems = append(problems, fmt.Sprintf("membership source %q: want local or github_team", m.Source))
	}
	if err := invalid(problems); err != nil {
		return err
	}
	teams, err := marshalJSON(m.Teams, len(m.Teams) == 0)
	if err != nil {
		return wrap("put membership", err)
	}
	updated := now()
	err = s.inTx(ctx, func(tx conn) error {
		if err := orgExists(ctx, tx, m.Org); err != nil {
			return err
		}
		var n int
		if err := tx.queryRow(ctx, `SELECT 1 FROM users WHERE id = ?`, m.UserID).Scan(&n); errors.Is(err, sql.ErrNoRows) {
			return platform.Errorf(platform.ENOTFOUND, "user %q not found", m.UserID)
		} else if err != nil {
			return err
		}
		_, err := tx.exec(ctx, `INSERT INTO memberships (org, user_id, role, source, teams, updated_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (org, user_id) DO UPDATE SET role = excluded.role, source = excluded.source,
			teams = excluded.teams, updated_at = excluded.updated_at`,
			m.Org, m.UserID, string(m.Role), string(m.Source), teams, micros(updated))
		return err
	})
	if err != nil {
		return wrap("put membership", err)
	}
	m.UpdatedAt = updated
	return nil
}

const membershipColumns = `m.org, m.user_id, u.login, m.role, m.source, m.teams, m.updated_at`

func scanMembership(sc scanner) (*platform.Membership, error) {
	var m platform.Membership
	var teams string
	var updated int64
	if err := sc.Scan(&m.Org, &m.UserID, &m.Login, &m.Role, &m.Source, &teams, &updated); err != nil {
		return nil, err
	}
	if err := unmarshalJSON(teams, &m.Teams); err != nil {
		return nil, err
	}
	m.UpdatedAt = fromMicros(updated)
	return &m, nil
}

// GetMembership returns ENOTFOUND if the user is not a member of org.
func (s *Store) GetMembership(ctx context.Context, org, userID string) (*platform.Membership, error) {
	m, err := scanMembership(s.r.queryRow(ctx, `SELECT `+membershipColumns+`
		FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org = ? AND m.user_id = ?`, org, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, platform.Errorf(platform.ENOTFOUND, "user %q is not a member of organisation %q", userID, org)
	}
	return m, wrap("get membership", err)
}

// DeleteMembership removes it: ENOTFOUND if absent.
func (s *Store) DeleteMembership(ctx context.Context, org, userID string) error {
	err := s.w.execOne(ctx, platform.Errorf(platform.ENOTFOUND, "user %q is not a member of organisation %q", userID, org),
		`DELETE FROM memberships WHERE org = ? AND user_id = ?`, org, userID)
	return wrap("delete membership", err)
}

// ListMembers returns the org's members with their users, ordered by login.
func (s *Store) ListMembers(ctx context.Context, org string) ([]*platform.Member, error) {
	rows, err := s.r.query(ctx, `SELECT `+prefixed("u.", userColumns)+`, m.role, m.source, m.teams
		FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org = ? ORDER BY u.login`, org)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	defer rows.Close()
	list := []*platform.Member{}
	for rows.Next() {
		var mb platform.Member
		var githubID, deleted sql.NullInt64
		var created, updated int64
		var teams string
		u := &mb.User
		if err := rows.Scan(&u.ID, &u.Login, &u.Name, &u.Email, &u.Source, &githubID, &u.Disabled, &deleted, &created, &updated,
			&mb.Role, &mb.RoleSource, &teams); err != nil {
			return nil, fmt.Errorf("list members: %w", err)
		}
		u.GitHubID, u.DeletedAt = githubID.Int64, timePtr(deleted)
		u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
		if err := unmarshalJSON(teams, &mb.Teams); err != nil {
			return nil, fmt.Errorf("list members: %w", err)
		}
		list = append(list, &mb)
	}
	return list, wrap("list members", rows.Err())
}

// ListMemberships returns the user's memberships ordered by org.
func (s *Store) ListMemberships(ctx context.Context, userID string) ([]*platform.Membership, error) {
	rows, err := s.r.query(ctx, `SELECT `+membershipColumns+`
		FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.user_id = ? ORDER BY m.org`, userID)
	if err != nil {
		return nil, fmt.Errorf("list memberships: %w", err)
	}
	defer rows.Close()
	list := []*platform.Membership{}
	for rows.Next() {
		m, err := scanMembership(rows)
		if err != nil {
			return nil, fmt.Errorf("list memberships: %w", err)
		}
		list = append(list, m)
	}
	return list, wrap("list memberships", rows.Err())
}

// DeleteUserTokens removes the user's tokens in org (every org for "") in one
// transaction and returns them.
func (s *Store) DeleteUserTokens(ctx context.Context, userID, org string) ([]*platform.Token, error) {
	where, args := `t.user_id = ?`, []any{userID}
	if org != "" {
		where, args = where+` AND t.org = ?`, append(args, org)
	}
	var removed []*platform.Token
	err := s.inTx(ctx, func(tx conn) error {
		var err error
		if removed, err = queryTokens(ctx, tx, where, args...); err != nil {
			return err
		}
		for _, t := range removed {
			if _, err := tx.exec(ctx, `DELETE FROM tokens WHERE id = ?`, t.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return removed, wrap("delete user tokens", err)
}
