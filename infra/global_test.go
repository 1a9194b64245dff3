package infra

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/micro/platform"
)

// globalYAML is a two-region platform with global load balancing, for the golden root
// module of testdata/golden/global.
const globalYAML = `platform:
  name: micro
  domain: example.dev
  image: registry.example.com/micro-platform/platform:v0.1.0
  registry: registry.example.com/micro-platform/services
  state: { backend: s3, bucket: micro-tf-state, region: eu-west-2 }
  dns: { provider: cloudflare, zone: example.dev, account_id: 0123456789abcdef0123456789abcdef }
  security: { api_allowed_cidrs: [203.0.113.0/24] }
regions:
  - { name: lon1, provider: digitalocean, location: lon1 }
  - { name: fra1, provider: aws, location: eu-central-1 }
`

// globalEndpoints are the gateway_endpoint outputs of globalYAML's regions, as the platform
// module renders them, plus one for a region no longer in the config.
var globalEndpoints = map[string]string{
	"lon1": "https://lon1.example.dev",
	"fra1": "https://fra1.example.dev",
	"ams3": "https://ams3.example.dev",
}

func mustParse(tb testing.TB, src string) Config {
	tb.Helper()
	cfg, err := Parse([]byte(src), "platform.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

func TestRenderGlobalGolden(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, yaml, dir string }{
		{"cloudflare", globalYAML, "global"},
		{"local", strings.Replace(globalYAML, "provider: cloudflare, zone: example.dev, account_id: 0123456789abcdef0123456789abcdef", "provider: local", 1), "global-local"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			testRenderGlobalGolden(t, mustParse(t, tt.yaml), filepath.Join("testdata", "golden", tt.dir))
		})
	}
}

func testRenderGlobalGolden(t *testing.T, cfg Config, dir string) {
	files, err := RenderGlobal(cfg, globalEndpoints)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		checkGolden(t, filepath.Join(dir, name), content)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, ok := files[e.Name()]; !ok {
			t.Errorf("golden file %s is no longer rendered", filepath.Join(dir, e.Name()))
		}
	}
	for i := 0; i < 5; i++ {
		again, err := RenderGlobal(cfg, globalEndpoints)
		if err != nil || !reflect.DeepEqual(again, files) {
			t.Fatalf("rendering again gave different output (err %v)", err)
		}
	}
}

// TestRenderGlobalContent checks what an operator relies on in the rendered root, whatever
// the golden files say: one pool per configured region at its gateway's host, the
// load-balanced hostname, the health check, the account and a state key of its own.
func TestRenderGlobalContent(t *testing.T) {
	t.Parallel()
	cfg := mustParse(t, globalYAML)
	files, err := RenderGlobal(cfg, globalEndpoints)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	if want := []string{"backend.tf", "main.tf", "outputs.tf", "providers.tf", "versions.tf"}; !reflect.DeepEqual(names, want) {
		t.Errorf("files = %v, want %v", names, want)
	}
	main := string(files["main.tf"])
	for _, want := range []string{
		`source = "../modules/dns-cloudflare"`,
		`hostname          = "api.example.dev"`,
		`health_check_path = "/healthz"`,
		`account_id        = "0123456789abcdef0123456789abcdef"`,
		`address     = "fra1.example.dev"`,
		`address     = "lon1.example.dev"`,
	} {
		if !strings.Contains(main, want) {
			t.Errorf("main.tf lacks %s:\n%s", want, main)
		}
	}
	if strings.Contains(main, "ams3") {
		t.Errorf("main.tf load-balances ams3, a region not in the config:\n%s", main)
	}
	if i, j := strings.Index(main, "fra1 ="), strings.Index(main, "lon1 ="); i < 0 || j < i {
		t.Errorf("regions are not in name order:\n%s", main)
	}
	if want := `key          = "platform/micro/global/terraform.tfstate"`; !strings.Contains(string(files["backend.tf"]), want) {
		t.Errorf("backend.tf lacks %s:\n%s", want, files["backend.tf"])
	}
	region, err := RenderRegion(cfg, "lon1")
	if err != nil {
		t.Fatal(err)
	}
	if string(region["backend.tf"]) == string(files["backend.tf"]) {
		t.Errorf("the global root shares a region's state:\n%s", files["backend.tf"])
	}
	if !strings.Contains(string(files["providers.tf"]), "CLOUDFLARE_API_TOKEN") {
		t.Errorf("providers.tf does not say where credentials come from:\n%s", files["providers.tf"])
	}
}

func TestRenderGlobalEndpoints(t *testing.T) {
	t.Parallel()
	cfg := mustParse(t, globalYAML)
	tests := []struct {
		name       string
		endpoints  map[string]string
		lon1       string // the origin rendered for lon1, when rendering succeeds
		hostHeader bool   // whether lon1's origin gets a Host header override
		err        string // the whole EINVALID message, when it fails
	}{
		{"bare host", map[string]string{"lon1": "LON1.example.dev", "fra1": "fra1.example.dev"}, `"lon1.example.dev"`, true, ""},
		{"default https port", map[string]string{"lon1": "https://lon1.example.dev:443/", "fra1": "fra1.example.dev"}, `"lon1.example.dev"`, true, ""},
		{"ip address", map[string]string{"lon1": "http://203.0.113.7", "fra1": "fra1.example.dev"}, `"203.0.113.7"`, false, ""},
		{"all missing", nil, "", false,
			`no gateway endpoint for region "lon1", "fra1": apply the regions first`},
		{"one missing, one empty", map[string]string{"lon1": " ", "ams3": "https://ams3.example.dev"}, "", false,
			`no gateway endpoint for region "lon1", "fra1": apply the regions first`},
		{"missing and unusable", map[string]string{"lon1": "https://lon1.example.dev:8443"}, "", false,
			"no gateway endpoint for region \"fra1\": apply the regions first\n" +
				`region "lon1": gateway endpoint "https://lon1.example.dev:8443": port 8443: the load balancer reaches origins on the default HTTPS port`},
		{"no host", map[string]string{"lon1": "https://", "fra1": "https://fra1.example.dev"}, "", false,
			`region "lon1": gateway endpoint "https://": no host`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			files, err := RenderGlobal(cfg, tt.endpoints)
			if tt.err != "" {
				if platform.ErrorCode(err) != platform.EINVALID || platform.ErrorMessage(err) != tt.err {
					t.Fatalf("err = %v (code %q)\nwant invalid: %s", err, platform.ErrorCode(err), tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			main := string(files["main.tf"])
			if !strings.Contains(main, "address = "+tt.lon1) && !strings.Contains(main, "address     = "+tt.lon1) {
				t.Errorf("main.tf lacks address %s:\n%s", tt.lon1, main)
			}
			if strings.Contains(main, "host_header = "+tt.lon1) != tt.hostHeader {
				t.Errorf("host_header %s rendered: %v, want %v:\n%s", tt.lon1, !tt.hostHeader, tt.hostHeader, main)
			}
		})
	}
}

func TestRenderGlobalErrors(t *testing.T) {
	t.Parallel()
	withDNS := mustParse(t, globalYAML)
	noDNS := withDNS
	noDNS.Platform.DNS = nil
	otherDNS := withDNS
	otherDNS.Platform.DNS = &DNS{Provider: "route53", Zone: "example.dev"}
	badState := withDNS
	badState.Platform.State = State{Backend: "consul"}
	noRegions := withDNS
	noRegions.Regions = nil
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no dns", noDNS, "the config has no platform.dns: global load balancing is off"},
		{"unknown dns provider", otherDNS, `platform.dns: unknown provider "route53" (want cloudflare or local)`},
		{"unknown state backend", badState, `unknown state backend "consul"`},
		{"no regions", noRegions, "the config has no regions to load-balance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := RenderGlobal(tt.cfg, globalEndpoints)
			if platform.ErrorCode(err) != platform.EINVALID || platform.ErrorMessage(err) != tt.want {
				t.Errorf("err = %v (code %q), want invalid: %s", err, platform.ErrorCode(err), tt.want)
			}
		})
	}
}

func TestGlobalHostname(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    Platform
		want string
	}{
		{"domain", Platform{Domain: "eu.example.dev", DNS: &DNS{Zone: "example.dev"}}, "api.eu.example.dev"},
		{"zone when no domain", Platform{DNS: &DNS{Zone: "example.dev"}}, "api.example.dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := GlobalHostname(tt.p); got != tt.want {
				t.Errorf("GlobalHostname = %q, want %q", got, tt.want)
			}
		})
	}
}
