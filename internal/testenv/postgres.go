package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// DefaultPostgres is the server tests use when PLATFORM_TEST_POSTGRES is not set.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// PostgresAdmin returns the URL of a PostgreSQL server where tests may create databases
// (PLATFORM_TEST_POSTGRES, or DefaultPostgres), failing the test with what to do when none
// answers. Callers skip under -short themselves.
func PostgresAdmin(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("PLATFORM_TEST_POSTGRES")
	if dsn == "" {
		dsn = DefaultPostgres
	}
	db, err := sql.Open("pgx", dsn)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
		db.Close()
	}
	if err != nil {
		tb.Fatalf("PostgreSQL is not reachable at %s: %v\n"+
			"Run the tests with scripts/test (it starts a throwaway server), point PLATFORM_TEST_POSTGRES "+
			"at a server where the user may create databases, or run `go test -short` to skip these tests.", dsn, err)
	}
	return dsn
}

// PostgresDatabase creates a uniquely named database on admin, dropped when tb ends, and
// returns its URL.
func PostgresDatabase(tb testing.TB, admin string) string {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "platform_test_" + hex.EncodeToString(b[:])
	adminExec(tb, admin, "CREATE DATABASE "+name)
	tb.Cleanup(func() { adminExec(tb, admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatalf("parse %s: %v", admin, err)
	}
	u.Path = "/" + name
	return u.String()
}

func adminExec(tb testing.TB, admin, stmt string) {
	tb.Helper()
	db, err := sql.Open("pgx", admin)
	if err != nil {
		tb.Fatalf("open %s: %v", admin, err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		tb.Fatalf("%s: %v", stmt, err)
	}
}
