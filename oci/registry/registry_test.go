package registry_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	platform "github.com/micro/platform"
	"github.com/micro/platform/oci/registry"
)

var (
	secret   = []byte("test-secret-0123456789")
	push     = registry.PushCredential(secret)
	pushAuth = remote.WithAuth(basic(push))
)

func basic(c registry.Credential) authn.Authenticator {
	return &authn.Basic{Username: c.Username, Password: c.Password}
}

// start runs a registry on dir at addr ("127.0.0.1:0" for any port) until the returned
// stop is called, and returns its host:port.
func start(t *testing.T, dir, addr string, requirePull bool) (hostport string, stop func()) {
	t.Helper()
	reg, err := registry.New(registry.Options{Dir: dir, Addr: addr, Secret: secret, RequirePullAuth: requirePull})
	if err != nil {
		t.Fatal(err)
	}
	a, err := reg.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- reg.Start(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Start returned %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("registry did not stop within 30s")
		}
	}
	t.Cleanup(stop)
	return a.String(), stop
}

func TestNewRefusesMissingOptions(t *testing.T) {
	tests := []struct {
		name string
		opts registry.Options
		want string
	}{
		{"no dir", registry.Options{Secret: secret}, "Dir is required"},
		{"no secret", registry.Options{Dir: t.TempDir()}, "Secret of at least 16 bytes"},
		{"short secret", registry.Options{Dir: t.TempDir(), Secret: []byte("short")}, "Secret of at least 16 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := registry.New(tt.opts)
			if platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(platform.ErrorMessage(err), tt.want) {
				t.Fatalf("New: %v, want invalid %q", err, tt.want)
			}
		})
	}
}

func TestCredentials(t *testing.T) {
	other := []byte("another-secret-0123456789")
	creds := []registry.Credential{
		registry.PushCredential(secret), registry.PushCredential(other),
		registry.PullCredential(secret, "acme"), registry.PullCredential(secret, "globex"), registry.PullCredential(other, "acme"),
	}
	seen := map[string]bool{}
	for _, c := range creds {
		if len(c.Password) != 64 || seen[c.Password] {
			t.Fatalf("password %q: want 64 hex characters, distinct per secret, role and namespace", c.Password)
		}
		seen[c.Password] = true
	}
	if registry.PushCredential(secret) != creds[0] || registry.PullCredential(secret, "acme") != creds[2] {
		t.Fatal("credentials are not stable for the same secret")
	}
	if creds[0].Username != "platform" || creds[2].Username != "pull-acme" {
		t.Fatalf("user names %q, %q", creds[0].Username, creds[2].Username)
	}
}

// TestAuth checks who may do what, over real HTTP for loopback clients and with a
// forged remote address for the others.
func TestAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("serves a registry over HTTP")
	}
	for _, requirePull := range []bool{false, true} {
		name := "pulls open on loopback"
		if requirePull {
			name = "pulls need the credential"
		}
		t.Run(name, func(t *testing.T) {
			host, _ := start(t, t.TempDir(), "127.0.0.1:0", requirePull)
			ref, _ := nameRef(t, host+"/acme/api:v1")
			img, err := random.Image(1024, 1)
			if err != nil {
				t.Fatal(err)
			}
			pushes := []struct {
				name string
				auth authn.Authenticator
			}{
				{"anonymous", authn.Anonymous},
				{"wrong password", &authn.Basic{Username: registry.PushUsername, Password: "guess"}},
				{"wrong user", &authn.Basic{Username: "admin", Password: push.Password}},
				{"the namespace's pull credential", basic(registry.PullCredential(secret, "acme"))},
				{"a credential from another secret", basic(registry.PushCredential([]byte("another-secret-0123456789")))},
			}
			for _, p := range pushes {
				err := remote.Write(ref, img, remote.WithAuth(p.auth))
				if status(err) != http.StatusUnauthorized {
					t.Errorf("push %s: %v, want 401", p.name, err)
				}
			}
			if err := remote.Write(ref, img, pushAuth); err != nil {
				t.Fatalf("push with the credential: %v", err)
			}
			_, err = remote.Image(ref)
			switch {
			case requirePull && status(err) != http.StatusUnauthorized:
				t.Errorf("anonymous pull: %v, want 401", err)
			case !requirePull && err != nil:
				t.Errorf("anonymous pull from loopback: %v", err)
			}
			if _, err := remote.Image(ref, pushAuth); err != nil {
				t.Errorf("pull with the credential: %v", err)
			}
			if _, err := remote.Image(ref, remote.WithAuth(&authn.Basic{Username: registry.PushUsername, Password: "guess"})); status(err) != http.StatusUnauthorized {
				t.Errorf("pull with a wrong credential: %v, want 401", err)
			}
			if _, err := remote.Image(ref, remote.WithAuth(basic(registry.PullCredential(secret, "acme")))); err != nil {
				t.Errorf("pull with the namespace's pull credential: %v", err)
			}
			for _, other := range []string{"globex", "acm"} {
				if _, err := remote.Image(ref, remote.WithAuth(basic(registry.PullCredential(secret, other)))); status(err) != http.StatusUnauthorized {
					t.Errorf("pull of acme's image with %s's pull credential: %v, want 401", other, err)
				}
			}
			if _, err := remote.Catalog(context.Background(), ref.Context().Registry, remote.WithAuth(basic(registry.PullCredential(secret, "acme")))); status(err) != http.StatusUnauthorized {
				t.Errorf("catalog with a pull credential: %v, want 401", err)
			}
		})
	}
}

func TestNonLoopbackPullNeedsCredential(t *testing.T) {
	reg, err := registry.New(registry.Options{Dir: t.TempDir(), Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	acme := registry.PullCredential(secret, "acme")
	tests := []struct {
		name, remote, method, path string
		cred                       *registry.Credential
		want                       int
	}{
		{"ping from the network", "192.0.2.7:40000", http.MethodGet, "/v2/", nil, http.StatusUnauthorized},
		{"ping from the network with push credential", "192.0.2.7:40000", http.MethodGet, "/v2/", &push, http.StatusOK},
		{"ping from the network with pull credential", "192.0.2.7:40000", http.MethodGet, "/v2/", &acme, http.StatusOK},
		{"pull own namespace", "192.0.2.7:40000", http.MethodHead, "/v2/reg/acme/api/manifests/v1", &acme, http.StatusNotFound},
		{"pull other namespace", "192.0.2.7:40000", http.MethodHead, "/v2/reg/globex/api/manifests/v1", &acme, http.StatusUnauthorized},
		{"upload with pull credential", "192.0.2.7:40000", http.MethodPost, "/v2/reg/acme/api/blobs/uploads/", &acme, http.StatusUnauthorized},
		{"pull anonymously", "192.0.2.7:40000", http.MethodHead, "/v2/reg/acme/api/manifests/v1", nil, http.StatusUnauthorized},
		{"pull from loopback", "127.0.0.1:40000", http.MethodGet, "/v2/", nil, http.StatusOK},
		{"pull from ipv6 loopback", "[::1]:40000", http.MethodHead, "/v2/", nil, http.StatusOK},
		{"upload from loopback", "127.0.0.1:40000", http.MethodPost, "/v2/reg/acme/api/blobs/uploads/", nil, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			req.RemoteAddr = tt.remote
			if tt.cred != nil {
				req.SetBasicAuth(tt.cred.Username, tt.cred.Password)
			}
			rec := httptest.NewRecorder()
			reg.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("%s %s from %s: %d, want %d", tt.method, tt.path, tt.remote, rec.Code, tt.want)
			}
			if tt.want == http.StatusUnauthorized && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Basic ") {
				t.Fatalf("401 without a Basic challenge: %q", rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

// TestRestartKeepsManifests pushes an image, a second tag and an index, restarts the
// registry on the same directory and address, and pulls all of them back.
func TestRestartKeepsManifests(t *testing.T) {
	if testing.Short() {
		t.Skip("serves a registry over HTTP")
	}
	dir := t.TempDir()
	host, stop := start(t, dir, "127.0.0.1:0", false)
	img, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := random.Index(512, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	imgRef, _ := nameRef(t, host+"/acme/api:v1")
	idxRef, _ := nameRef(t, host+"/acme/multi:latest")
	if err := remote.Write(imgRef, img, pushAuth); err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(imgRef.Context().Tag("v2"), img, pushAuth); err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(idxRef, idx, pushAuth); err != nil {
		t.Fatal(err)
	}
	imgDigest, _ := img.Digest()
	idxDigest, _ := idx.Digest()
	deleted, _ := nameRef(t, host+"/acme/api:gone")
	if err := remote.Tag(deleted.(name.Tag), img, pushAuth); err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(deleted, pushAuth); err != nil {
		t.Fatal(err)
	}

	stop()
	if _, err := remote.Head(imgRef); err == nil {
		t.Fatal("registry still answers after stop")
	}
	start(t, dir, host, false)

	for _, tag := range []string{"v1", "v2"} {
		ref := imgRef.Context().Tag(tag)
		got, err := remote.Image(ref)
		if err != nil {
			t.Fatalf("pull %s after restart: %v", ref, err)
		}
		if d, _ := got.Digest(); d != imgDigest {
			t.Fatalf("%s after restart is %s, want %s", ref, d, imgDigest)
		}
		layers, _ := got.Layers()
		for _, l := range layers {
			rc, err := l.Compressed()
			if err != nil {
				t.Fatalf("layer after restart: %v", err)
			}
			rc.Close()
		}
	}
	if _, err := remote.Image(imgRef.Context().Digest(imgDigest.String())); err != nil {
		t.Fatalf("pull by digest after restart: %v", err)
	}
	gotIdx, err := remote.Index(idxRef)
	if err != nil {
		t.Fatalf("pull index after restart: %v", err)
	}
	if d, _ := gotIdx.Digest(); d != idxDigest {
		t.Fatalf("index after restart is %s, want %s", d, idxDigest)
	}
	if _, err := remote.Head(deleted); status(err) != http.StatusNotFound {
		t.Fatalf("deleted tag after restart: %v, want 404", err)
	}
	tags, err := remote.List(imgRef.Context())
	if err != nil || strings.Join(tags, ",") != "v1,v2" {
		t.Fatalf("tags after restart: %v, %v; want v1,v2", tags, err)
	}
}

func TestInvalidReferenceRefused(t *testing.T) {
	reg, err := registry.New(registry.Options{Dir: t.TempDir(), Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v2/Acme/api/manifests/v1", "/v2/acme/api/manifests/-bad", "/v2/acme/api/manifests/sha256:xyz"} {
		t.Run(path, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPut, path, strings.NewReader("{}"))
			req.SetBasicAuth(push.Username, push.Password)
			rec := httptest.NewRecorder()
			reg.ServeHTTP(rec, req)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("PUT %s: %d, want 400", path, rec.Code)
			}
		})
	}
}

func nameRef(t *testing.T, s string) (name.Reference, error) {
	t.Helper()
	ref, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref, nil
}

func status(err error) int {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode
	}
	return 0
}

// TestBlobUploads checks that a blob is stored under its digest and that an upload
// whose content does not match its digest is refused and leaves nothing on disk.
func TestBlobUploads(t *testing.T) {
	dir := t.TempDir()
	reg, err := registry.New(registry.Options{Dir: dir, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	body := "layer bytes"
	good := "sha256:" + hexSHA256(body)
	tests := []struct {
		name, digest string
		want         int
	}{
		{"matching digest", good, http.StatusCreated},
		{"wrong digest", "sha256:" + hexSHA256("something else"), http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/v2/acme/api/blobs/uploads/?digest="+tt.digest, strings.NewReader(body))
			req.SetBasicAuth(push.Username, push.Password)
			rec := httptest.NewRecorder()
			reg.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("upload: %d %s, want %d", rec.Code, rec.Body, tt.want)
			}
		})
	}
	var files []string
	err = filepath.WalkDir(filepath.Join(dir, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"blobs/sha256/" + strings.TrimPrefix(good, "sha256:")}; !reflect.DeepEqual(files, want) {
		t.Fatalf("files after uploads: %q, want only %q", files, want)
	}
}

func hexSHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
