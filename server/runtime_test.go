package server

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/micro/platform/oci/registry"
)

// TestPullCredentialOpensOwnNamespaceOnly checks the kubernetes driver's pull credentials
// against the platform's own registry requiring pull authentication (as it does on any
// non-loopback address): namespace acme's credential names the registry's address and
// reads acme's images, and not beta's.
func TestPullCredentialOpensOwnNamespaceOnly(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	const addr = "10.0.0.5:5000"
	reg, err := registry.New(registry.Options{Dir: t.TempDir(), Addr: "127.0.0.1:0", Secret: secret, RequirePullAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	host, user, password, ok := pullCredential(secret, addr)("acme")
	if !ok || host != addr {
		t.Fatalf("pull credential for %q, ok %v; want one for %s", host, ok, addr)
	}
	tests := []struct {
		path string
		want bool // authorised: anything but 401
	}{
		{"/v2/", true},
		{"/v2/acme/hello/manifests/v1", true},
		{"/v2/beta/hello/manifests/v1", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			req.RemoteAddr = "10.1.2.3:40000" // a node, not loopback
			req.SetBasicAuth(user, password)
			rec := httptest.NewRecorder()
			reg.ServeHTTP(rec, req)
			if got := rec.Code != http.StatusUnauthorized; got != tt.want {
				t.Errorf("GET %s with acme's pull credential = %d, want authorised %v", tt.path, rec.Code, tt.want)
			}
		})
	}
}
