package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/micro/platform"
)

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// conn runs statements written with '?' placeholders on either engine.
type conn struct {
	q      querier
	engine Engine
}

func (c conn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.q.ExecContext(ctx, c.rebind(query), args...)
}

func (c conn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.q.QueryContext(ctx, c.rebind(query), args...)
}

func (c conn) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return c.q.QueryRowContext(ctx, c.rebind(query), args...)
}

// prepare prepares a statement to run many times, as in a batch.
func (c conn) prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	return c.q.PrepareContext(ctx, c.rebind(query))
}

// execOne runs a statement that must change exactly one row, returning notFound when it
// changed none.
func (c conn) execOne(ctx context.Context, notFound error, query string, args ...any) error {
	res, err := c.exec(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound
	}
	return nil
}

// rebind rewrites '?' placeholders to PostgreSQL's $1, $2, ... It is the one place where
// the statements of the two engines differ. Quoted literals and identifiers are copied
// unchanged.
func (c conn) rebind(query string) string {
	if c.engine != Postgres || !strings.ContainsRune(query, '?') {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		ch := query[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"':
			quote = ch
		case ch == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(ch)
	}
	return b.String()
}

// isUniqueViolation reports whether err is a unique or primary key constraint violation.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// isForeignKeyViolation reports whether err is a foreign key constraint violation: the
// row a new row refers to does not exist.
func isForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23503"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	return false
}

// invalid returns one EINVALID error listing every problem, or nil when there is none.
func invalid(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return platform.Errorf(platform.EINVALID, "%s", strings.Join(problems, "; "))
}

// nameProblem returns the message of platform.ValidateName, or "" for a good name.
func nameProblem(kind, name string) string {
	if err := platform.ValidateName(kind, name); err != nil {
		return platform.ErrorMessage(err)
	}
	return ""
}

// micros is how times are stored: unix microseconds.
func micros(t time.Time) int64 { return t.UnixMicro() }

// fromMicros is the inverse of micros, in UTC.
func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// nullMicros stores an optional time: NULL for nil or the zero time.
func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil || t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(*t), Valid: true}
}

// timePtr is the inverse of nullMicros.
func timePtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// timeOrZero reads an optional time into a time.Time, zero when NULL.
func timeOrZero(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

// orNow returns t at the store's precision, or now when t is zero.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return now()
	}
	return t.UTC().Truncate(time.Microsecond)
}

// marshalJSON encodes v for a TEXT column; empty maps and slices are stored as "".
func marshalJSON[T any](v T, empty bool) (string, error) {
	if empty {
		return "", nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode json: %w", err)
	}
	return string(b), nil
}

// unmarshalJSON decodes a TEXT column written by marshalJSON into dst.
func unmarshalJSON(s string, dst any) error {
	if s == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(s), dst); err != nil {
		return fmt.Errorf("decode json: %w", err)
	}
	return nil
}

// limitClause returns " LIMIT n" for n > 0 and "" otherwise. n is an int formatted by
// the store, never user text.
func limitClause(n int) string {
	if n <= 0 {
		return ""
	}
	return " LIMIT " + strconv.Itoa(n)
}

// wrap adds op to an internal error and returns a *platform.Error as it is, so that its
// message reaches the user unchanged.
func wrap(op string, err error) error {
	var pe *platform.Error
	if err == nil || errors.As(err, &pe) {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}
