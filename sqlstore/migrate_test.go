package sqlstore

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/micro/platform"
)

// TestMigrateAccounts migrates a database written before accounts (schema 3) and checks
// that its namespaces belong to the default org and its tokens to the first owner, with
// the powers they had: admin tokens as owners of every namespace, namespace tokens as
// developers of theirs.
func TestMigrateAccounts(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path, db := sqliteAtVersion(t, 3)
	for _, q := range []string{
		`INSERT INTO namespaces (name, created_at) VALUES ('acme', 1)`,
		`INSERT INTO tokens (id, name, hash, admin, namespaces, created_at) VALUES ('t-admin', 'admin', 'h-admin', TRUE, '', 1)`,
		`INSERT INTO tokens (id, name, hash, admin, namespaces, created_at) VALUES ('t-ci', 'ci', 'h-ci', FALSE, '["acme"]', 2)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ns, err := s.GetNamespace(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if ns.Org != platform.DefaultOrg {
		t.Fatalf("namespace org = %q, want default", ns.Org)
	}
	tests := []struct {
		hash     string
		role     platform.Role
		all      bool
		inAcme   bool
		inGlobex bool
	}{
		{"h-admin", platform.RoleOwner, true, true, true},
		{"h-ci", platform.RoleDeveloper, false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.hash, func(t *testing.T) {
			tok, err := s.GetTokenByHash(ctx, tt.hash)
			if err != nil {
				t.Fatal(err)
			}
			if tok.UserID != "u-admin" || tok.User != "admin" || tok.Org != platform.DefaultOrg || tok.UserInactive ||
				tok.EffectiveRole() != tt.role || tok.AllNamespaces() != tt.all || tok.InScope("acme") != tt.inAcme || tok.InScope("globex") != tt.inGlobex {
				t.Fatalf("migrated token = %+v (role %s)", tok, tok.EffectiveRole())
			}
		})
	}
}

// TestMigrateReleaseSize migrates a database written before sizes (schema 4) and checks
// that its releases come back with the empty size, which runs as the default one.
func TestMigrateReleaseSize(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path, db := sqliteAtVersion(t, 4)
	for _, q := range []string{
		`INSERT INTO namespaces (name, created_at) VALUES ('acme', 1)`,
		`INSERT INTO services (namespace, name, desired_release, status, created_at, updated_at) VALUES ('acme', 'api', 'r-old', 'deploying', 1, 1)`,
		`INSERT INTO builds (id, namespace, service, seq, source_kind, status, created_at) VALUES ('b-old', 'acme', 'api', 1, 'archive', 'queued', 1)`,
		`INSERT INTO releases (id, namespace, service, seq, version, build_id, replicas, status, created_at, updated_at)
			VALUES ('r-old', 'acme', 'api', 1, 'v1', 'b-old', 1, 'pending', 1, 1)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.GetRelease(ctx, "r-old")
	if err != nil {
		t.Fatal(err)
	}
	if r.Size != "" || r.Size.OrDefault() != platform.DefaultSize {
		t.Fatalf("migrated release size = %q, want empty (the default)", r.Size)
	}
}

// TestMigrateNamespaceNames migrates a database written before namespace names were
// recorded (schema 5) and checks that its namespaces' names stay with their
// organisations: another organisation cannot take one, even after it is deleted.
func TestMigrateNamespaceNames(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path, db := sqliteAtVersion(t, 5)
	for _, q := range []string{
		`INSERT INTO orgs (name, created_at) VALUES ('globex', 1)`,
		`INSERT INTO namespaces (name, org, created_at) VALUES ('staging', 'globex', 1)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.DeleteNamespace(ctx, "staging"); err != nil {
		t.Fatal(err)
	}
	err = s.CreateNamespace(ctx, &platform.Namespace{Name: "staging", Org: platform.DefaultOrg})
	if platform.ErrorCode(err) != platform.ECONFLICT {
		t.Fatalf("another org creates a migrated namespace's name: %v, want conflict", err)
	}
	if err := s.CreateNamespace(ctx, &platform.Namespace{Name: "staging", Org: "globex"}); err != nil {
		t.Fatalf("its own org recreates it: %v", err)
	}
}

// TestMigrateSourceUploads migrates a database written before uploads were recorded per
// namespace (schema 6): the archives a namespace already built from count as its uploads,
// and no other namespace's.
func TestMigrateSourceUploads(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path, db := sqliteAtVersion(t, 6)
	digest := strings.Repeat("ab", 32)
	for _, q := range []string{
		`INSERT INTO namespaces (name, org, created_at) VALUES ('a', 'default', 1), ('b', 'default', 1)`,
		`INSERT INTO services (namespace, name, status, created_at, updated_at) VALUES ('a', 'api', 'live', 1, 1)`,
		`INSERT INTO builds (id, namespace, service, seq, source_kind, source_archive, status, created_at)
		 VALUES ('b-1', 'a', 'api', 1, 'archive', '` + digest + `', 'succeeded', 1), ('b-2', 'a', 'api', 2, 'archive', '` + digest + `', 'succeeded', 2)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for ns, want := range map[string]bool{"a": true, "b": false} {
		if got, err := s.HasUpload(ctx, ns, digest); err != nil || got != want {
			t.Errorf("HasUpload(%s) = %v, %v; want %v", ns, got, err, want)
		}
	}
}

// TestMigrateRegions migrates a database written before regions were placed (schema 8):
// its instances ran in the local region, and its namespaces, services, releases, events
// and regions come back with no placement, region or token.
func TestMigrateRegions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path, db := sqliteAtVersion(t, 8)
	for _, q := range []string{
		`INSERT INTO namespaces (name, org, created_at) VALUES ('acme', 'default', 1)`,
		`INSERT INTO services (namespace, name, desired_release, status, created_at, updated_at) VALUES ('acme', 'api', 'r-old', 'running', 1, 1)`,
		`INSERT INTO builds (id, namespace, service, seq, source_kind, status, created_at) VALUES ('b-old', 'acme', 'api', 1, 'archive', 'succeeded', 1)`,
		`INSERT INTO releases (id, namespace, service, seq, version, build_id, replicas, status, created_at, updated_at)
			VALUES ('r-old', 'acme', 'api', 1, 'v1', 'b-old', 1, 'live', 1, 1)`,
		`INSERT INTO instances (namespace, service, id, state) VALUES ('acme', 'api', 'i-old', 'running')`,
		`INSERT INTO events (namespace, service, type, created_at) VALUES ('acme', 'api', 'release.created', 1)`,
		`INSERT INTO regions (name, provider, created_at, updated_at) VALUES ('local', 'local', 1, 1)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	instances, err := s.ListInstances(ctx, "acme", "api")
	if err != nil {
		t.Fatal(err)
	}
	if len(instances) != 1 || instances[0].Region != "local" {
		t.Fatalf("migrated instances = %+v, want i-old in local", instances)
	}
	// The agent of the local region reports the instance again: it is replaced, not kept
	// beside its new report.
	if err := s.ReplaceInstances(ctx, "acme", "api", "local", []*platform.Instance{{ID: "i-old", State: platform.InstanceRunning}}); err != nil {
		t.Fatal(err)
	}
	ns, err := s.GetNamespace(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := s.GetService(ctx, "acme", "api")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.GetRelease(ctx, "r-old")
	if err != nil {
		t.Fatal(err)
	}
	if ns.Regions != nil || svc.Regions != nil || r.Regions != nil {
		t.Fatalf("migrated placement: namespace %q, service %q, release %q; want none", ns.Regions, svc.Regions, r.Regions)
	}
	events, err := s.ListEvents(ctx, platform.EventFilter{Namespace: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Region != "" {
		t.Fatalf("migrated events = %+v, want one with no region", events)
	}
	region, err := s.GetRegion(ctx, "local")
	if err != nil {
		t.Fatal(err)
	}
	if region.TokenHash != "" || region.LastSeen != nil || region.AgentVersion != "" {
		t.Fatalf("migrated region = %+v, want no token, never seen", region)
	}
}

// sqliteAtVersion creates a SQLite database migrated up to version only, as an older
// platform left it, and returns its path and an open handle for writing its rows.
func sqliteAtVersion(t *testing.T, version int64) (string, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := fs.Sub(migrations, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(t.Context(), version); err != nil {
		t.Fatal(err)
	}
	return path, db
}
