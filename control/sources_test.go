package control_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/control"
	"github.com/micro/platform/sqlstore"
)

// TestUploadsAreScopedToTheirNamespace is issue 9's finding 6a: archives were global, so
// a tenant who knew another namespace's upload digest could build its code. A namespace
// deploys only what it uploaded (not_found otherwise, as for a digest nobody uploaded);
// the same content uploaded by both is theirs both.
func TestUploadsAreScopedToTheirNamespace(t *testing.T) {
	t.Parallel()
	h := newAccounts(t)
	h.namespace("a", "b")
	dev := func(ns string) string {
		_, secret, err := h.plane.CreateToken(h.owner, platform.CreateTokenRequest{Name: "ci-" + ns, Role: platform.RoleDeveloper, Namespaces: []string{ns}})
		if err != nil {
			t.Fatal(err)
		}
		return secret
	}
	a, b := h.as(dev("a")), h.as(dev("b"))
	sum, err := h.plane.UploadSource(a, "a", strings.NewReader(digest("a5ec2e7")))
	if err != nil {
		t.Fatal(err)
	}
	deploy := func(ns string) error {
		ctx := a
		if ns == "b" {
			ctx = b
		}
		_, err := h.plane.Deploy(ctx, platform.DeployRequest{Namespace: ns, Service: "api", Source: platform.Source{Kind: platform.SourceArchive, Archive: sum}})
		return err
	}
	wantErr(t, deploy("b"), platform.ENOTFOUND, `was not uploaded to namespace "b"`)
	if svcs, err := h.plane.ListServices(b, "b"); err != nil || len(svcs) != 0 {
		t.Fatalf("b's services after the refusal = %v, %v; want none", svcs, err)
	}
	_, err = h.plane.Deploy(b, platform.DeployRequest{Namespace: "b", Service: "api", Source: platform.Source{Kind: platform.SourceArchive, Archive: digest("0b0d1e5")}})
	wantErr(t, err, platform.ENOTFOUND, `was not uploaded to namespace "b"`)
	if err := deploy("a"); err != nil {
		t.Fatalf("a deploys its own upload: %v", err)
	}
	if _, err := h.plane.UploadSource(b, "b", strings.NewReader(digest("a5ec2e7"))); err != nil {
		t.Fatal(err)
	}
	if err := deploy("b"); err != nil {
		t.Fatalf("b deploys the same content once it uploaded it: %v", err)
	}
	// Deleting a namespace forgets its uploads: a namespace of the same name starts with none.
	if err := h.plane.DeleteNamespace(h.owner, "a"); err != nil {
		t.Fatal(err)
	}
	h.namespace("a")
	_, err = h.plane.Deploy(h.owner, platform.DeployRequest{Namespace: "a", Service: "api", Source: platform.Source{Kind: platform.SourceArchive, Archive: sum}})
	wantErr(t, err, platform.ENOTFOUND, "was not uploaded")
}

// recordingBuilder is fakeBuilder that hands each git URL it is given to urls.
type recordingBuilder struct {
	fakeBuilder
	urls chan string
}

func (r recordingBuilder) Build(ctx context.Context, b *platform.Build, log platform.LogWriter) (string, string, error) {
	if b.Source.Kind == platform.SourceGit {
		r.urls <- b.Source.URL
	}
	return r.fakeBuilder.Build(ctx, b, log)
}

// TestGitCredentialsSealedAtRest is issue 9's finding 5a: a token in a git URL was stored
// in clear in builds.source_url. The store keeps the URL without it and the URL as given
// sealed; the builder still clones with the token, and the database files (platform.db
// and its -wal) never hold it.
func TestGitCredentialsSealedAtRest(t *testing.T) {
	t.Parallel()
	const token = "ghp_S3cretTok3nNeverAtRest"
	rec := recordingBuilder{urls: make(chan string, 4)}
	h := newAccounts(t, func(o *control.Options) { o.Builder = rec })
	h.namespace("acme")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.plane.Start(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)

	given := "https://x-access-token:" + token + "@example.com/acme/svc.git"
	r, err := h.plane.Deploy(h.owner, platform.DeployRequest{Namespace: "acme", Service: "svc",
		Source: platform.Source{Kind: platform.SourceGit, URL: given, Ref: "main"}})
	if err != nil {
		t.Fatal(err)
	}
	b := sealedBuild(t, h.store, rec, r.BuildID, given, token)
	shown, err := h.plane.GetBuild(h.owner, "acme", r.BuildID)
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := json.Marshal(shown); strings.Contains(string(out), token) || (b.Source.SealedURL != "" && strings.Contains(string(out), b.Source.SealedURL)) {
		t.Fatalf("the API shows %s", out)
	}
	stop()
	files, _ := filepath.Glob(filepath.Join(h.dir, "platform.db*"))
	if len(files) < 2 {
		t.Fatalf("database files %v, want platform.db and its -wal", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(token)) {
			t.Errorf("%s holds the git token", filepath.Base(f))
		}
		if !bytes.Contains(data, []byte("example.com/acme/svc.git")) && strings.HasSuffix(f, "-wal") {
			t.Errorf("%s does not hold the build: the test looked in the wrong place", filepath.Base(f))
		}
	}
}

// TestGitCredentialsStoredInClearSealedAtStart: a build recorded in clear by an older
// version is sealed when the plane starts, and a queued one still clones with its token.
func TestGitCredentialsStoredInClearSealedAtStart(t *testing.T) {
	t.Parallel()
	const token = "ghp_0ldTok3nStor3dInCl3ar"
	rec := recordingBuilder{urls: make(chan string, 4)}
	h := newAccounts(t, func(o *control.Options) { o.Builder = rec })
	h.namespace("acme")
	given := "https://" + token + "@example.com/acme/svc.git"
	b := &platform.Build{ID: platform.NewID("b"), Namespace: "acme", Service: "svc", Status: platform.BuildQueued,
		Source: platform.Source{Kind: platform.SourceGit, URL: given}, CreatedAt: time.Now()}
	r := &platform.Release{ID: platform.NewID("r"), Namespace: "acme", Service: "svc", BuildID: b.ID, Replicas: 1,
		Status: platform.ReleasePending, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := h.store.Deploy(t.Context(), b, r); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.plane.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	sealedBuild(t, h.store, rec, b.ID, given, token)
}

// sealedBuild waits until the builder clones the URL as given, and returns the stored
// build, whose source must hold only the public URL in the clear and the given one
// sealed.
func sealedBuild(t *testing.T, store *sqlstore.Store, rec recordingBuilder, id, given, token string) *platform.Build {
	t.Helper()
	select {
	case got := <-rec.urls:
		if got != given {
			t.Fatalf("the builder cloned %q, want the URL as given", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the build did not start")
	}
	b, err := store.GetBuild(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if b.Source.URL != "https://example.com/acme/svc.git" || b.Source.SealedURL == "" || strings.Contains(b.Source.SealedURL, token) {
		t.Fatalf("stored source = %+v, want the public URL and the sealed one", b.Source)
	}
	return b
}
