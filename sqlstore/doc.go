// Package sqlstore implements platform.Store on SQL databases: SQLite, the embedded
// default, and PostgreSQL, for a control plane that runs more than one server or wants a
// managed database.
//
// # Engines
//
// SQLite comes from modernc.org/sqlite, a pure Go translation, so the platform binary
// stays a single static file with no cgo. It runs in WAL mode with a busy timeout and
// foreign keys on, behind two connection pools: one writer connection, so that concurrent
// writers queue in Go instead of failing with SQLITE_BUSY, and a pool of read-only
// connections that WAL lets run while the writer works. Transactions begin IMMEDIATE, so
// a transaction never has to upgrade a read lock to a write lock halfway through.
//
// PostgreSQL is reached through pgx's database/sql driver (github.com/jackc/pgx/v5/stdlib).
// Both engines run the same data manipulation statements: they are written once with '?'
// placeholders and rebound to PostgreSQL's $n form in one place (see rebind). Both accept
// INSERT ... ON CONFLICT ... DO UPDATE and INSERT ... RETURNING, which the store relies on.
//
// # Schema and migrations
//
// Migrations are goose v3 SQL files embedded in the binary and applied by Open through
// goose's Provider API (no global goose state), with goose's dialect for the engine and,
// on PostgreSQL, a session advisory lock so that servers starting together migrate once.
// The layout is one directory per dialect with the same version numbers:
//
//	migrations/sqlite/00001_init.sql
//	migrations/postgres/00001_init.sql
//
// The two differ only where the engines' DDL must: the event ID column is
// INTEGER PRIMARY KEY AUTOINCREMENT on SQLite and an identity column on PostgreSQL.
// Everything else is portable: TEXT identifiers, BIGINT unix microseconds for times
// (NULL for an absent optional time), BOOLEAN flags and TEXT columns holding JSON for
// maps and lists. A new migration is added to both directories under the same version.
//
// # Errors
//
// Missing rows are *platform.Error with platform.ENOTFOUND, duplicates platform.ECONFLICT
// and bad input platform.EINVALID. Constraint violations are recognised by the drivers'
// error codes (PostgreSQL SQLSTATE 23505/23503, SQLite extended result codes), never by
// parsing error text.
package sqlstore
