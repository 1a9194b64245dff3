package infra

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/micro/platform"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// mustLoad parses testdata/platform.yaml.
func mustLoad(tb testing.TB) Config {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "platform.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := Parse(data, "platform.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// checkGolden compares got with the golden file at path, or rewrites it under -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./infra -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./infra -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestRenderRegionGolden(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t)
	for _, r := range cfg.Regions {
		t.Run(r.Provider, func(t *testing.T) {
			t.Parallel()
			files, err := RenderRegion(cfg, r.Name)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("testdata", "golden", r.Provider)
			for name, content := range files {
				checkGolden(t, filepath.Join(dir, name), content)
			}
			// No golden file may be left over from an earlier rendering.
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if _, ok := files[e.Name()]; !ok {
					t.Errorf("golden file %s is no longer rendered", filepath.Join(dir, e.Name()))
				}
			}
			again, err := RenderRegion(cfg, r.Name)
			if err != nil || !reflect.DeepEqual(again, files) {
				t.Errorf("rendering twice gave different output (err %v)", err)
			}
		})
	}
}

func TestRenderRegionFiles(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t)
	tests := []struct {
		region string
		want   []string
	}{
		{"dev", []string{"backend.tf", "main.tf", "outputs.tf", "variables.tf", "versions.tf"}},
		{"lon1", []string{"backend.tf", "main.tf", "outputs.tf", "providers.tf", "variables.tf", "versions.tf"}},
	}
	for _, tt := range tests {
		t.Run(tt.region, func(t *testing.T) {
			t.Parallel()
			files, err := RenderRegion(cfg, tt.region)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for name := range files {
				got = append(got, name)
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("files = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRenderBackends renders the backend of every state backend: each region gets a
// state key of its own, so regions never share a state or a lock.
func TestRenderBackends(t *testing.T) {
	t.Parallel()
	states := map[string]string{
		BackendS3:      "{ backend: s3, bucket: st, region: eu-west-2, prefix: /teams/micro/ }",
		BackendGCS:     "{ backend: gcs, bucket: st }",
		BackendAzureRM: "{ backend: azurerm, resource_group: rg, storage_account: sa, container: tfstate }",
		BackendPG:      "{ backend: pg }",
		BackendLocal:   "{ backend: local, path: /var/lib/platform/state }",
	}
	for _, backend := range Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			src := "platform:\n  name: micro-eu\n  state: " + states[backend] + "\nregions:\n  - { name: dev-1, provider: local }\n  - { name: dev-2, provider: local }\n"
			cfg, err := Parse([]byte(src), "platform.yaml")
			if err != nil {
				t.Fatal(err)
			}
			one, err := RenderRegion(cfg, "dev-1")
			if err != nil {
				t.Fatal(err)
			}
			two, err := RenderRegion(cfg, "dev-2")
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(one["backend.tf"], two["backend.tf"]) {
				t.Errorf("two regions share a backend configuration:\n%s", one["backend.tf"])
			}
			checkGolden(t, filepath.Join("testdata", "golden", "backend", backend+".tf"), one["backend.tf"])
		})
	}
}

func TestRenderRegionErrors(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t)
	if _, err := RenderRegion(cfg, "nowhere"); !platform.IsNotFound(err) {
		t.Errorf("unknown region: err = %v, want not_found", err)
	}
	bad := cfg
	bad.Regions = []Region{{Name: "x", Provider: "awz"}}
	if _, err := RenderRegion(bad, "x"); platform.ErrorCode(err) != platform.EINVALID {
		t.Errorf("unknown provider: err = %v, want invalid", err)
	}
}

// TestModulesReferenced checks every module a rendered root calls is shipped.
func TestModulesReferenced(t *testing.T) {
	t.Parallel()
	for provider, module := range clusterModule {
		if _, err := fs.Stat(Modules(), module+"/main.tf"); err != nil {
			t.Errorf("provider %s: module %s is not shipped: %v", provider, module, err)
		}
	}
	if _, err := fs.Stat(Modules(), "dns-cloudflare/main.tf"); err != nil {
		t.Errorf("global root: module dns-cloudflare is not shipped: %v", err)
	}
}

// existingConfig is a platform on one existing cluster, reached with a kubeconfig file.
const existingConfig = `platform:
  name: micro
  image: 10.250.0.1:5000/micro-platform/platform:v0.1.0
  registry: 10.250.0.1:5000/micro-platform/services
  state: { backend: local, path: /var/lib/platform/state }
regions:
  - name: home
    provider: existing
    kubeconfig: /etc/platform/admin.kubeconfig
    context: admin@home
`

// TestRenderExistingGolden renders the root of an existing cluster: no provider, no
// cluster module, the existing module with the kubeconfig, the control role's outputs.
func TestRenderExistingGolden(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(existingConfig), "platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files, err := RenderRegion(cfg, "home")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name, content := range files {
		names = append(names, name)
		checkGolden(t, filepath.Join("testdata", "golden", ProviderExisting, name), content)
	}
	sort.Strings(names)
	if want := []string{"backend.tf", "main.tf", "outputs.tf", "variables.tf", "versions.tf"}; !reflect.DeepEqual(names, want) {
		t.Errorf("files = %v, want %v", names, want)
	}
	if bytes.Contains(files["versions.tf"], []byte("required_providers")) {
		t.Errorf("versions.tf requires providers; an existing cluster's root needs none:\n%s", files["versions.tf"])
	}
	hand := cfg
	hand.Regions = append(hand.Regions, Region{Name: "away", Provider: ProviderExisting, Kubeconfig: "/k"})
	if _, err := RenderRegion(hand, "away"); platform.ErrorCode(err) != platform.EINVALID {
		t.Errorf("existing agent region: err = %v, want invalid", err)
	}
}
