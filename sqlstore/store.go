package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	// The pgx database/sql driver, registered as "pgx".
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	// The pure Go SQLite driver, registered as "sqlite".
	_ "modernc.org/sqlite"

	"github.com/micro/platform"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// Engine names a database engine the store runs on.
type Engine string

// Engines.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// sqliteBusyTimeout is how long a SQLite connection waits for another process's write
// lock before failing with SQLITE_BUSY. Writers of this process queue on the single
// writer connection instead.
const sqliteBusyTimeout = 10 * time.Second

// Store is a platform.Store on SQLite or PostgreSQL. It is safe for concurrent use.
type Store struct {
	engine Engine
	// w runs writes and transactions; r runs single reads. They are the same pool on
	// PostgreSQL; on SQLite w has one connection and r several read-only ones.
	w, r      conn
	wdb, rdb  *sql.DB
	closeOnce sync.Once
	closeErr  error
}

var _ platform.Store = (*Store)(nil)

// Open connects to the database named by dsn and brings its schema up to date. A dsn
// starting with postgres:// or postgresql:// is a PostgreSQL connection string; anything
// else is a SQLite database file path, optionally written sqlite://path. An in-memory
// SQLite database is not supported: the store needs more than one connection to one
// database.
func Open(ctx context.Context, dsn string) (*Store, error) {
	engine, target, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if engine == Postgres {
		return openPostgres(ctx, target)
	}
	return openSQLite(ctx, target)
}

// parseDSN tells the engine of dsn and returns what that engine's driver takes.
func parseDSN(dsn string) (Engine, string, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return Postgres, dsn, nil
	}
	path := strings.TrimPrefix(dsn, "sqlite://")
	switch {
	case path == "":
		return "", "", platform.Errorf(platform.EINVALID, "empty database path")
	case path == ":memory:" || strings.Contains(path, "mode=memory"):
		return "", "", platform.Errorf(platform.EINVALID, "in-memory SQLite databases are not supported; give a file path")
	case strings.ContainsRune(path, '?'):
		return "", "", platform.Errorf(platform.EINVALID, "SQLite path %q must not contain '?': the store sets its own options", path)
	}
	return SQLite, path, nil
}

// openPostgres opens one pool for reads and writes and migrates under an advisory lock.
func openPostgres(ctx context.Context, dsn string) (*Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(10)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	if err := migrate(ctx, db, goose.DialectPostgres, "migrations/postgres", goose.WithSessionLocker(locker)); err != nil {
		db.Close()
		return nil, err
	}
	c := conn{q: db, engine: Postgres}
	return &Store{engine: Postgres, w: c, r: c, wdb: db, rdb: db}, nil
}

// FileMode is the mode of a SQLite database and its -wal and -shm files: the owner's
// only. They hold every namespace's state, token hashes and sealed secrets.
const FileMode os.FileMode = 0o600

// sqliteFiles are the files of the SQLite database at path.
func sqliteFiles(path string) []string {
	return []string{path, path + "-wal", path + "-shm"}
}

// tightenSQLite creates the database file at path with FileMode if it does not exist
// (SQLite gives its -wal and -shm files the database file's mode), and brings the
// database's existing files to FileMode.
func tightenSQLite(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, FileMode)
	if err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create sqlite %s: %w", path, err)
	}
	for _, name := range sqliteFiles(path) {
		info, err := os.Lstat(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlite %s: %w", name, err)
		}
		if info.Mode().IsRegular() && info.Mode().Perm() != FileMode {
			if err := os.Chmod(name, FileMode); err != nil {
				return fmt.Errorf("sqlite %s: %w", name, err)
			}
		}
	}
	return nil
}

// openSQLite opens the writer connection, migrates through it, then opens the readers.
// The database's files are the owner's only (FileMode), existing ones tightened.
func openSQLite(ctx context.Context, path string) (*Store, error) {
	if err := tightenSQLite(path); err != nil {
		return nil, err
	}
	common := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)",
		sqliteBusyTimeout.Milliseconds())
	wdb, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)&_txlock=immediate&"+common)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxIdleTime(0)
	if err := wdb.PingContext(ctx); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := migrate(ctx, wdb, goose.DialectSQLite3, "migrations/sqlite"); err != nil {
		wdb.Close()
		return nil, err
	}
	// The -wal and -shm files exist now; one left by an older version keeps its mode.
	if err := tightenSQLite(path); err != nil {
		wdb.Close()
		return nil, err
	}
	rdb, err := sql.Open("sqlite", path+"?_pragma=query_only(1)&"+common)
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	rdb.SetMaxOpenConns(readers)
	rdb.SetMaxIdleConns(readers)
	return &Store{
		engine: SQLite,
		w:      conn{q: wdb, engine: SQLite},
		r:      conn{q: rdb, engine: SQLite},
		wdb:    wdb,
		rdb:    rdb,
	}, nil
}

// migrate applies the embedded migrations under dir that db has not seen yet.
func migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, dir string, opts ...goose.ProviderOption) error {
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	opts = append(opts, goose.WithDisableGlobalRegistry(true))
	p, err := goose.NewProvider(dialect, db, fsys, opts...)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	return nil
}

// Engine reports which database engine s runs on.
func (s *Store) Engine() Engine { return s.engine }

// Close closes the database connections. Calling it again returns the first result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		errs := []error{s.wdb.Close()}
		if s.rdb != s.wdb {
			errs = append(errs, s.rdb.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// inTx runs fn in a transaction on the writer, committing when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx conn) error) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(conn{q: tx, engine: s.engine}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// now is the store's timestamp for rows it creates or updates, at the precision it keeps.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
