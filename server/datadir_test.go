//go:build unix

package server_test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDataDirIsTheOwners is issue 9's finding 5b: the data dir was 0755 and platform.db,
// -wal and -shm 0644. At start an existing data dir is brought to 0700 and the database
// files to 0600.
func TestDataDirIsTheOwners(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	startServer(t, dir)
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("data dir: %v, %v; want 0700", info.Mode(), err)
	}
	for _, name := range []string{"platform.db", "platform.db-wal", "platform.db-shm"} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != 0o600 {
			t.Errorf("%s: mode %v, want -rw-------", name, got)
		}
	}
}
