package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/micro/platform"
	"github.com/micro/platform/internal/testenv"
	"github.com/micro/platform/sqlstore"
	"github.com/micro/platform/storetest"
)

func TestSQLite(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) (platform.Store, storetest.Reopen) {
		return openSQLite(t, filepath.Join(t.TempDir(), "platform.db"))
	})
}

func TestPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("PostgreSQL tests skipped under -short")
	}
	t.Parallel()
	admin := testenv.PostgresAdmin(t)
	storetest.Run(t, func(t *testing.T) (platform.Store, storetest.Reopen) {
		return openPostgres(t, admin)
	})
}

// openSQLite opens a store on the SQLite file path.
func openSQLite(t testing.TB, path string) (platform.Store, storetest.Reopen) {
	open := func(t *testing.T) platform.Store { return mustOpen(t, path) }
	return mustOpen(t, path), open
}

func mustOpen(t testing.TB, dsn string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open(%q): %v", dsn, err)
	}
	return s
}

// openPostgres creates a uniquely named database, dropped when t ends, and opens a store
// on it.
func openPostgres(t *testing.T, admin string) (platform.Store, storetest.Reopen) {
	t.Helper()
	dsn := testenv.PostgresDatabase(t, admin)
	open := func(t *testing.T) platform.Store { return mustOpen(t, dsn) }
	return mustOpen(t, dsn), open
}

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, dsn string
	}{
		{"empty", ""},
		{"empty sqlite path", "sqlite://"},
		{"in memory", ":memory:"},
		{"in-memory URI", "file:x?mode=memory"},
		{"options in the path", "/tmp/x.db?_pragma=foo"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sqlstore.Open(t.Context(), tc.dsn)
			if platform.ErrorCode(err) != platform.EINVALID {
				t.Fatalf("Open(%q) = %v, want an invalid error", tc.dsn, err)
			}
		})
	}
}

func TestOpenSQLiteForms(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name, dsn, file string
	}{
		{"plain path", filepath.Join(dir, "a.db"), "a.db"},
		{"sqlite URL", "sqlite://" + filepath.Join(dir, "b.db"), "b.db"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t, tc.dsn)
			defer s.Close()
			if s.Engine() != sqlstore.SQLite {
				t.Fatalf("Engine = %s, want sqlite", s.Engine())
			}
			if _, err := os.Stat(filepath.Join(dir, tc.file)); err != nil {
				t.Fatalf("database file: %v", err)
			}
			// Opening again runs no migration twice.
			mustOpen(t, tc.dsn).Close()
		})
	}
}

func TestOpenPostgresUnreachable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// Port 1 on loopback refuses connections at once.
	_, err := sqlstore.Open(ctx, "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2")
	if err == nil {
		t.Fatal("Open of an unreachable server succeeded")
	}
}

func TestCloseTwice(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, filepath.Join(t.TempDir(), "c.db"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func BenchmarkAppendEvent(b *testing.B) {
	s := mustOpen(b, filepath.Join(b.TempDir(), "bench.db"))
	defer s.Close()
	ctx := b.Context()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := &platform.Event{Namespace: "acme", Service: "api", Type: platform.EventInstanceStarted,
				Message: "instance started", Data: map[string]string{"instance": "i-1"}}
			if err := s.AppendEvent(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAddRequestUsage(b *testing.B) {
	for _, batch := range []int{1, 50} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := mustOpen(b, filepath.Join(b.TempDir(), "bench.db"))
			defer s.Close()
			ctx := b.Context()
			minute := time.Now().UTC().Truncate(time.Minute)
			records := make([]*platform.RequestUsage, batch)
			for i := range records {
				records[i] = &platform.RequestUsage{Namespace: "acme", Service: fmt.Sprintf("svc%d", i%10),
					Minute: minute, Requests: 10, LatencyMicros: 5000, MaxLatencyMicros: 900}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := s.AddRequestUsage(ctx, records); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
