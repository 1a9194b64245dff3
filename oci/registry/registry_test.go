package registry_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
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

const password = "test-push-password"

var pushAuth = remote.WithAuth(&authn.Basic{Username: registry.Username, Password: password})

// start runs a registry on dir at addr ("127.0.0.1:0" for any port) until the returned
// stop is called, and returns its host:port.
func start(t *testing.T, dir, addr string, requirePull bool) (hostport string, stop func()) {
	t.Helper()
	reg, err := registry.New(registry.Options{Dir: dir, Addr: addr, Password: password, RequirePullAuth: requirePull})
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
		{"no dir", registry.Options{Password: "x"}, "Dir is required"},
		{"no password", registry.Options{Dir: t.TempDir()}, "Password is required"},
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

func TestDerivePassword(t *testing.T) {
	a, b := registry.DerivePassword([]byte("secret-1")), registry.DerivePassword([]byte("secret-2"))
	if a == b || a != registry.DerivePassword([]byte("secret-1")) || len(a) != 64 {
		t.Fatalf("DerivePassword: %q, %q: want stable, distinct 64-hex passwords", a, b)
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
				{"wrong password", &authn.Basic{Username: registry.Username, Password: "guess"}},
				{"wrong user", &authn.Basic{Username: "admin", Password: password}},
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
			if _, err := remote.Image(ref, remote.WithAuth(&authn.Basic{Username: registry.Username, Password: "guess"})); status(err) != http.StatusUnauthorized {
				t.Errorf("pull with a wrong credential: %v, want 401", err)
			}
		})
	}
}

func TestNonLoopbackPullNeedsCredential(t *testing.T) {
	reg, err := registry.New(registry.Options{Dir: t.TempDir(), Password: password})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, remote, method string
		auth                 bool
		want                 int
	}{
		{"pull from the network", "192.0.2.7:40000", http.MethodGet, false, http.StatusUnauthorized},
		{"pull from the network with credential", "192.0.2.7:40000", http.MethodGet, true, http.StatusOK},
		{"pull from loopback", "127.0.0.1:40000", http.MethodGet, false, http.StatusOK},
		{"pull from ipv6 loopback", "[::1]:40000", http.MethodHead, false, http.StatusOK},
		{"upload from loopback", "127.0.0.1:40000", http.MethodPost, false, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "/v2/", nil)
			req.RemoteAddr = tt.remote
			if tt.auth {
				req.SetBasicAuth(registry.Username, password)
			}
			rec := httptest.NewRecorder()
			reg.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("%s /v2/ from %s: %d, want %d", tt.method, tt.remote, rec.Code, tt.want)
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
	reg, err := registry.New(registry.Options{Dir: t.TempDir(), Password: password})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v2/Acme/api/manifests/v1", "/v2/acme/api/manifests/-bad", "/v2/acme/api/manifests/sha256:xyz"} {
		t.Run(path, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPut, path, strings.NewReader("{}"))
			req.SetBasicAuth(registry.Username, password)
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
