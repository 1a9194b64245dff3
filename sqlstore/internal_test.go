package sqlstore

import (
	"io/fs"
	"slices"
	"testing"
)

func TestRebind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, sqlite, postgres string
	}{
		{"no placeholders", "SELECT 1", "SELECT 1", "SELECT 1"},
		{"numbered in order", "a = ? AND b IN (?, ?)", "a = ? AND b IN (?, ?)", "a = $1 AND b IN ($2, $3)"},
		{"quoted text kept", "x LIKE 'v?%' AND \"we?ird\" = ?", "x LIKE 'v?%' AND \"we?ird\" = ?", "x LIKE 'v?%' AND \"we?ird\" = $1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := (conn{engine: SQLite}).rebind(tc.in); got != tc.sqlite {
				t.Errorf("sqlite: %q, want %q", got, tc.sqlite)
			}
			if got := (conn{engine: Postgres}).rebind(tc.in); got != tc.postgres {
				t.Errorf("postgres: %q, want %q", got, tc.postgres)
			}
		})
	}
}

// TestMigrationsParallel checks that both dialect directories have the same migration
// files, so that a schema change is never made for one engine only.
func TestMigrationsParallel(t *testing.T) {
	t.Parallel()
	names := func(dir string) []string {
		entries, err := fs.ReadDir(migrations, dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	sqlite, postgres := names("migrations/sqlite"), names("migrations/postgres")
	if len(sqlite) == 0 || !slices.Equal(sqlite, postgres) {
		t.Fatalf("migrations differ: sqlite %v, postgres %v", sqlite, postgres)
	}
}
