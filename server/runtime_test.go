package server

import (
	"maps"
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

// TestKubeMesh checks which pods and port the tenant NetworkPolicy lets instances reach
// NATS on: the mesh pods on nats_url's port, or, with NATS embedded in the control plane,
// the control-plane pods on the embedded server's port (kept in the data dir when chosen
// at first start), either selector overridden by kube_mesh_namespace/kube_mesh_labels.
func TestKubeMesh(t *testing.T) {
	meshPods := map[string]string{"app.kubernetes.io/name": "platform-mesh", "app.kubernetes.io/component": "mesh"}
	controlPods := map[string]string{"app.kubernetes.io/name": "platform", "app.kubernetes.io/component": "control-plane"}
	tests := []struct {
		name     string
		edit     func(*Config)
		wantNS   string
		wantSel  map[string]string
		wantPort int32 // 0: the port the embedded server keeps in the data dir
	}{
		{"embedded, fixed port", func(c *Config) { c.NATSPort = 4333 }, "micro-platform", controlPods, 4333},
		{"embedded, port chosen at first start", func(c *Config) {}, "micro-platform", controlPods, 0},
		{"mesh node", func(c *Config) { c.NATSURL = "nats://platform-mesh:4222" }, "micro-platform", meshPods, 4222},
		{"mesh node on another port", func(c *Config) { c.NATSURL = "nats://nats.example:7422" }, "micro-platform", meshPods, 7422},
		{"mesh node without a port", func(c *Config) { c.NATSURL = "nats://nats.example" }, "micro-platform", meshPods, 4222},
		{"overridden selector", func(c *Config) {
			c.NATSURL = "nats://nats.messaging:4222"
			c.KubeMeshNamespace = "messaging"
			c.KubeMeshLabels = map[string]string{"app": "nats"}
		}, "messaging", map[string]string{"app": "nats"}, 4222},
		{"embedded, overridden selector", func(c *Config) {
			c.NATSPort = 4333
			c.KubeMeshLabels = map[string]string{"app": "my-platform"}
		}, "micro-platform", map[string]string{"app": "my-platform"}, 4333},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.DataDir, cfg.Runtime = t.TempDir(), RuntimeKubernetes
			tt.edit(&cfg)
			a := &App{cfg: cfg}
			mesh, err := a.kubeMesh()
			if err != nil {
				t.Fatal(err)
			}
			want := tt.wantPort
			if want == 0 {
				p, err := a.natsPort()
				if err != nil {
					t.Fatal(err)
				}
				want = int32(p)
			}
			if mesh.Namespace != tt.wantNS || !maps.Equal(mesh.Labels, tt.wantSel) || mesh.Port != want {
				t.Errorf("mesh = %s %v port %d, want %s %v port %d", mesh.Namespace, mesh.Labels, mesh.Port, tt.wantNS, tt.wantSel, want)
			}
		})
	}
}
