//go:build unix

package sqlstore_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/micro/platform"
	"github.com/micro/platform/sqlstore"
)

// TestSQLiteFilesAreTheOwners is issue 9's finding 5b: platform.db and its -wal and -shm
// files were 0644. A new database's files are 0600 whatever the umask, and an existing
// database's files are brought to 0600 when it is opened.
func TestSQLiteFilesAreTheOwners(t *testing.T) {
	old := syscall.Umask(0o022) // the usual umask, which left the files world-readable
	t.Cleanup(func() { syscall.Umask(old) })
	check := func(t *testing.T, path string) {
		t.Helper()
		for _, name := range []string{path, path + "-wal", path + "-shm"} {
			info, err := os.Stat(name)
			if err != nil {
				t.Fatal(err)
			}
			if got := info.Mode().Perm(); got != os.FileMode(0o600) {
				t.Errorf("%s: mode %v, want %v", filepath.Base(name), got, os.FileMode(0o600))
			}
		}
	}
	write := func(t *testing.T, s *sqlstore.Store) {
		t.Helper()
		if err := s.CreateNamespace(t.Context(), &platform.Namespace{Name: "acme"}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("new", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "platform.db")
		s, err := sqlstore.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		write(t, s)
		check(t, path)
	})
	t.Run("existing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "platform.db")
		s, err := sqlstore.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		write(t, s)
		s.Close()
		for _, name := range []string{path, path + "-wal", path + "-shm"} {
			f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY, 0o644) // as an older version left them
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			if err := os.Chmod(name, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s, err = sqlstore.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		check(t, path)
		if _, err := s.GetNamespace(t.Context(), "acme"); err != nil {
			t.Fatalf("the data is gone: %v", err)
		}
	})
}
