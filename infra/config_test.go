package infra

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/micro/platform"
)

const validYAML = `platform:
  name: micro
  domain: example.dev
  image: registry.example.com/micro-platform/platform:v0.1.0
  registry: registry.example.com/micro-platform/services
  state: { backend: s3, bucket: micro-tf-state, region: eu-west-2 }
  dns: { provider: cloudflare, account_id: 0123456789abcdef0123456789abcdef }
  security: { api_allowed_cidrs: [203.0.113.0/24] }
regions:
  - name: lon1
    provider: digitalocean
    location: lon1
    nodes: { size: s-4vcpu-8gb, min: 3, max: 6 }
  - name: dev
    provider: local
`

func TestParseValid(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(validYAML), "platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Platform: Platform{
			Name: "micro", Domain: "example.dev",
			Image:    "registry.example.com/micro-platform/platform:v0.1.0",
			Registry: "registry.example.com/micro-platform/services",
			Control:  "lon1",
			State:    State{Backend: BackendS3, Bucket: "micro-tf-state", Region: "eu-west-2", Prefix: "platform/micro"},
			DNS:      &DNS{Provider: DNSCloudflare, Zone: "example.dev", AccountID: "0123456789abcdef0123456789abcdef"},
			Security: SecurityOverrides{APIAllowedCIDRs: []string{"203.0.113.0/24"}},
		},
		Regions: []Region{
			{Name: "lon1", Provider: ProviderDigitalOcean, Location: "lon1", Nodes: Nodes{Size: "s-4vcpu-8gb", Min: 3, Max: 6}, Network: DefaultNetwork, KubernetesVersion: DefaultKubernetesVersion,
				Security: Security{APIAllowedCIDRs: []string{"203.0.113.0/24"}, PrivateNodes: true, EnvelopeEncryption: true, FlowLogs: true, MetadataConcealment: true}},
			{Name: "dev", Provider: ProviderLocal, Location: DefaultLocalLocation, Nodes: Nodes{Size: "local", Min: DefaultNodesMin, Max: DefaultNodesMax}, Network: DefaultNetwork, KubernetesVersion: DefaultKubernetesVersion},
		},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", cfg, want)
	}
}

// TestParseControl: the control region is the first unless platform.control names another.
func TestParseControl(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, control, want string }{
		{"default: the first region", "", "lon1"},
		{"named", "  control: fra1\n", "fra1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Parse([]byte("platform:\n  name: micro\n"+tt.control+"  state: { backend: local }\nregions:\n  - { name: lon1, provider: local }\n  - { name: fra1, provider: local }\n"), "platform.yaml")
			if err != nil {
				t.Fatal(err)
			}
			var agents []string
			for _, r := range cfg.AgentRegions() {
				agents = append(agents, r.Name)
			}
			if cfg.Platform.Control != tt.want || len(agents) != 1 || agents[0] == tt.want {
				t.Errorf("control = %q, agent regions %v; want control %s and the other region as agent", cfg.Platform.Control, agents, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	const head = "platform:\n  name: micro\n  state: { backend: local }\nregions:\n"
	// cloudHead is head with what cloud regions need besides.
	const cloudHead = "platform:\n  name: micro\n  image: reg.example/platform:v1\n  registry: reg.example/services\n  state: { backend: local }\n  security: { api_allowed_cidrs: [203.0.113.0/24] }\nregions:\n"
	tests := []struct {
		name string
		yaml string
		want []string // every line of the message, in order
	}{
		{"unknown provider", head + "  - name: fra1\n    provider: awz\n    location: eu-central-1\n",
			[]string{`platform.yaml:6: region "fra1": unknown provider "awz" (want one of aws, azure, digitalocean, existing, gcp, local)`}},
		{"duplicate region", head + "  - { name: dev, provider: local }\n  - { name: dev, provider: local }\n",
			[]string{`platform.yaml:6: region "dev": duplicate name (first defined at line 5)`}},
		{"bad region name", head + "  - { name: Lon_1, provider: local }\n",
			[]string{`platform.yaml:5: invalid region name "Lon_1": use 1-40 lowercase letters, digits and '-', starting with a letter and not ending with '-'`}},
		{"bad cidr", head + "  - { name: dev, provider: local, network: 10.0.0.0/33 }\n",
			[]string{`platform.yaml:5: region "dev": network "10.0.0.0/33" is not an IPv4 CIDR such as 10.10.0.0/16`}},
		{"cidr host bits", head + "  - { name: dev, provider: local, network: 10.0.0.1/16 }\n",
			[]string{`platform.yaml:5: region "dev": network "10.0.0.1/16" has host bits set (did you mean 10.0.0.0/16?)`}},
		{"min above max", head + "  - name: dev\n    provider: local\n    nodes:\n      min: 5\n      max: 2\n",
			[]string{`platform.yaml:8: region "dev": nodes.min 5 is greater than nodes.max 2`}},
		{"min not a number", head + "  - { name: dev, provider: local, nodes: { min: two } }\n",
			[]string{`platform.yaml:5: region "dev": nodes.min: want a whole number, got "two"`}},
		{"missing state", "platform:\n  name: micro\nregions:\n  - { name: dev, provider: local }\n",
			[]string{`platform.yaml:2: platform: missing state backend (set platform.state.backend to one of azurerm, gcs, local, pg, s3)`}},
		{"missing location", cloudHead + "  - name: lon1\n    provider: digitalocean\n",
			[]string{`platform.yaml:8: region "lon1": missing location (the digitalocean region to run in)`}},
		{"unknown key", head + "  - { name: dev, provider: local, zone: a }\n",
			[]string{`platform.yaml:5: region "dev": unknown key "zone" (want one of context, kubeconfig, kubernetes_version, location, name, network, nodes, provider, security)`}},
		{"secret in region", cloudHead + "  - name: lon1\n    provider: digitalocean\n    location: lon1\n    token: dop_v1_abc\n",
			[]string{`platform.yaml:11: region "lon1": "token" looks like a secret and is not accepted in the file: set DIGITALOCEAN_TOKEN in the environment`}},
		{"secret in state", "platform:\n  name: micro\n  state:\n    backend: pg\n    password: hunter2\nregions:\n  - { name: dev, provider: local }\n",
			[]string{`platform.yaml:5: platform.state: "password" looks like a secret and is not accepted in the file: set the backend's credentials in the environment (PLATFORM_INFRA_PG_CONN)`}},
		{"state key of another backend", "platform:\n  name: micro\n  state: { backend: s3, bucket: b, region: r, container: c }\nregions:\n  - { name: dev, provider: local }\n",
			[]string{`platform.yaml:3: platform.state: key "container" does not apply to backend "s3"`}},
		{"state missing required", "platform:\n  name: micro\n  state: { backend: azurerm, resource_group: rg }\nregions:\n  - { name: dev, provider: local }\n",
			[]string{`platform.yaml:3: platform.state: backend "azurerm" needs storage_account`, `platform.yaml:3: platform.state: backend "azurerm" needs container`}},
		{"cluster name too long", "platform:\n  name: micro-platform-production\n  image: reg.example/platform:v1\n  registry: reg.example/services\n  state: { backend: local }\n  security: { api_allowed_cidrs: [203.0.113.0/24] }\nregions:\n  - { name: europe-west-london, provider: gcp, location: europe-west2 }\n",
			[]string{`platform.yaml:8: region "europe-west-london": cluster name "micro-platform-production-europe-west-london" is longer than 40 characters: shorten the platform or region name`}},
		{"cloud region without image or registry", head + "  - { name: lon1, provider: digitalocean, location: lon1 }\n",
			[]string{
				`platform.yaml:2: platform: missing image: cloud and existing regions run the platform's image (deploy/kubernetes/build-image builds it)`,
				`platform.yaml:2: platform: missing registry: cloud and existing regions push the services they build there (e.g. registry.example.com/micro-platform/services)`,
				`platform.yaml:5: region "lon1": missing security.api_allowed_cidrs: the networks allowed to the cluster's Kubernetes API, which platform infra apply reaches with kubectl from where it runs; set it on the region or in platform.security, e.g. api_allowed_cidrs: [203.0.113.0/24], listing the public networks of the machines that run platform infra and kubectl`,
			}},
		{"existing without kubeconfig", cloudHead + "  - name: home\n    provider: existing\n",
			[]string{`platform.yaml:8: region "home": missing kubeconfig: the path of the kubeconfig file that reaches the existing cluster (relative to this file)`}},
		{"existing with cluster keys", cloudHead + "  - name: home\n    provider: existing\n    kubeconfig: admin.kubeconfig\n    nodes: { min: 1 }\n    network: 10.0.0.0/16\n    security: { flow_logs: false }\n",
			[]string{
				`platform.yaml:11: region "home": nodes does not apply to an existing cluster (platform infra creates none; its owner sizes and secures it)`,
				`platform.yaml:12: region "home": network does not apply to an existing cluster (platform infra creates none; its owner sizes and secures it)`,
				`platform.yaml:13: region "home": security does not apply to an existing cluster (platform infra creates none; its owner sizes and secures it)`,
			}},
		{"kubeconfig elsewhere", head + "  - { name: dev, provider: local, kubeconfig: k, context: c }\n",
			[]string{
				`platform.yaml:5: region "dev": kubeconfig applies only to provider existing (a cluster that exists already)`,
				`platform.yaml:5: region "dev": context applies only to provider existing (a cluster that exists already)`,
			}},
		{"existing agent region", cloudHead + "  - { name: dev, provider: local }\n  - name: home\n    provider: existing\n    kubeconfig: k\n",
			[]string{`platform.yaml:9: region "home": an existing cluster can only be the control region for now (platform.control is "dev")`}},
		{"existing without image or registry", head + "  - { name: home, provider: existing, kubeconfig: k }\n",
			[]string{
				`platform.yaml:2: platform: missing image: cloud and existing regions run the platform's image (deploy/kubernetes/build-image builds it)`,
				`platform.yaml:2: platform: missing registry: cloud and existing regions push the services they build there (e.g. registry.example.com/micro-platform/services)`,
			}},
		{"chart is gone", "platform:\n  name: micro\n  chart: deploy/kubernetes\n  state: { backend: local }\nregions:\n  - { name: dev, provider: local }\n",
			[]string{`platform.yaml:3: platform: chart is no longer used: the platform module installs deploy/kubernetes as shipped; remove it and set image and registry`}},
		{"bad image and registry", "platform:\n  name: micro\n  image: 'reg.example/platform:v1 # x'\n  registry: 'Reg.example/{services}'\n  state: { backend: local }\nregions:\n  - { name: dev, provider: local }\n",
			[]string{
				`platform.yaml:3: platform: invalid image "reg.example/platform:v1 # x": want a reference such as registry.example.com/micro-platform/platform:v0.1.0`,
				`platform.yaml:4: platform: invalid registry "Reg.example/{services}": want a repository prefix such as registry.example.com/micro-platform/services`,
			}},
		{"unknown control region", "platform:\n  name: micro\n  control: nyc1\n  state: { backend: local }\nregions:\n  - { name: lon1, provider: local }\n  - { name: fra1, provider: local }\n",
			[]string{`platform.yaml:3: platform.control: no region is called "nyc1": name the region that runs the control plane (one of lon1, fra1)`}},
		{"an agent region called local", "platform:\n  name: micro\n  state: { backend: local }\nregions:\n  - { name: lon1, provider: local }\n  - { name: local, provider: local }\n",
			[]string{`platform.yaml:6: region "local": the name is reserved for an agent region: the control plane's own region is called local; rename it, or make it the control region`}},
		{"not a mapping", "- a\n", []string{`platform.yaml:1: document: want a mapping`}},
		{"empty file", "", []string{`platform.yaml:1: empty file: want platform and regions`}},
		{"no regions", "platform:\n  name: micro\n  state: { backend: local }\n",
			[]string{`platform.yaml:1: missing regions: describe at least one region`}},
		{"yaml syntax", "platform: [\n", []string{`platform.yaml:1: did not find expected node content`}},
		{"dns account_id not hex", "platform:\n  name: micro\n  domain: example.dev\n  state: { backend: local }\n  dns:\n    provider: cloudflare\n    account_id: 0123456789ABCDEF0123456789abcdef\nregions:\n  - { name: dev, provider: local }\n",
			[]string{`platform.yaml:7: platform.dns: account_id "0123456789ABCDEF0123456789abcdef" is not a Cloudflare account identifier (32 lowercase hexadecimal characters)`}},
		{"dns account_id short", "platform:\n  name: micro\n  domain: example.dev\n  state: { backend: local }\n  dns: { provider: cloudflare, account_id: \"0123\" }\nregions:\n  - { name: dev, provider: local }\n",
			[]string{`platform.yaml:5: platform.dns: account_id "0123" is not a Cloudflare account identifier (32 lowercase hexadecimal characters)`}},
		{"domain outside dns zone", "platform:\n  name: micro\n  domain: example.dev\n  state: { backend: local }\n  dns:\n    provider: cloudflare\n    account_id: 0123456789abcdef0123456789abcdef\n    zone: other.dev\nregions:\n  - { name: dev, provider: local }\n",
			[]string{`platform.yaml:8: platform.dns: platform.domain "example.dev" is not inside zone "other.dev", so the load balancer's hostname api.example.dev could not live in it`}},
		{"reserved region names", "platform:\n  name: micro\n  domain: example.dev\n  state: { backend: local }\n  dns: { provider: cloudflare, account_id: 0123456789abcdef0123456789abcdef }\nregions:\n  - { name: global, provider: local }\n  - { name: api, provider: local }\n",
			[]string{
				`platform.yaml:7: region "global": the name is reserved: the global DNS root module keeps its state under that name`,
				`platform.yaml:8: region "api": the name is reserved: its gateway would take api.example.dev, the load balancer's hostname`,
			}},
		{"account id on local dns", "platform:\n  name: micro\n  domain: example.dev\n  state: { backend: local }\n  dns: { provider: local, account_id: 0123456789abcdef0123456789abcdef }\nregions:\n  - { name: dev, provider: local }\n",
			[]string{`platform.yaml:5: platform.dns: account_id is only for the cloudflare provider`}},
		{"many problems", `platform:
  name: Micro
  dns: { provider: route53 }
  colour: blue
regions:
  - name: fra1
    provider: awz
    location: eu-central-1
  - name: lon1
    provider: digitalocean
    network: 10.0.0.0/40
    nodes: { min: 4, max: 2 }
  - name: fra1
    provider: aws
    location: eu-central-1
`, []string{
			`platform.yaml:2: platform: invalid platform name "Micro": use 1-40 lowercase letters, digits and '-', starting with a letter and not ending with '-'`,
			`platform.yaml:2: platform: missing state backend (set platform.state.backend to one of azurerm, gcs, local, pg, s3)`,
			`platform.yaml:2: platform: missing image: cloud and existing regions run the platform's image (deploy/kubernetes/build-image builds it)`,
			`platform.yaml:2: platform: missing registry: cloud and existing regions push the services they build there (e.g. registry.example.com/micro-platform/services)`,
			`platform.yaml:3: platform.dns: unknown provider "route53" (want cloudflare or local)`,
			`platform.yaml:3: platform.dns: missing zone (or set platform.domain)`,
			`platform.yaml:4: platform: unknown key "colour" (want one of name, domain, image, registry, control, state, dns, security)`,
			`platform.yaml:7: region "fra1": unknown provider "awz" (want one of aws, azure, digitalocean, existing, gcp, local)`,
			`platform.yaml:9: region "lon1": missing location (the digitalocean region to run in)`,
			`platform.yaml:9: region "lon1": missing security.api_allowed_cidrs: the networks allowed to the cluster's Kubernetes API, which platform infra apply reaches with kubectl from where it runs; set it on the region or in platform.security, e.g. api_allowed_cidrs: [203.0.113.0/24], listing the public networks of the machines that run platform infra and kubectl`,
			`platform.yaml:11: region "lon1": network "10.0.0.0/40" is not an IPv4 CIDR such as 10.10.0.0/16`,
			`platform.yaml:12: region "lon1": nodes.min 4 is greater than nodes.max 2`,
			`platform.yaml:13: region "fra1": missing security.api_allowed_cidrs: the networks allowed to the cluster's Kubernetes API, which platform infra apply reaches with kubectl from where it runs; set it on the region or in platform.security, e.g. api_allowed_cidrs: [203.0.113.0/24], listing the public networks of the machines that run platform infra and kubectl`,
			`platform.yaml:13: region "fra1": duplicate name (first defined at line 6)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.yaml), "platform.yaml")
			if code := platform.ErrorCode(err); code != platform.EINVALID {
				t.Fatalf("code = %q (err %v), want %q", code, err, platform.EINVALID)
			}
			got := strings.Split(platform.ErrorMessage(err), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("message:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestParseSecretHint(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte("platform:\n  name: micro\n  state: { backend: local }\n  dns: { provider: cloudflare, zone: a.dev, account_id: 0123456789abcdef0123456789abcdef, api_token: x }\nregions:\n  - { name: dev, provider: local }\n"), "p.yaml")
	if want := `p.yaml:4: platform.dns: "api_token" looks like a secret and is not accepted in the file: set CLOUDFLARE_API_TOKEN in the environment`; platform.ErrorMessage(err) != want {
		t.Errorf("message = %q, want %q", platform.ErrorMessage(err), want)
	}
	if platform.ErrorHint(err) == "" {
		t.Error("no hint for a refused secret")
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "platform.yaml")
	if err := os.WriteFile(path, []byte(validYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := cfg.Region("lon1"); !ok || r.Nodes.Max != 6 {
		t.Errorf("Region(lon1) = %+v, %v", r, ok)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); platform.ErrorCode(err) != platform.EINVALID {
		t.Errorf("Load(missing) = %v, want EINVALID", err)
	}
}

// TestParseRegionAPIWithoutDNS checks "api" is a region name like any other when the
// platform has no load balancer to take api.<domain>.
func TestParseRegionAPIWithoutDNS(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte("platform:\n  name: micro\n  domain: example.dev\n  state: { backend: local }\nregions:\n  - { name: api, provider: local }\n"), "platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Region("api"); !ok {
		t.Errorf("region api not decoded: %+v", cfg.Regions)
	}
}

// TestLoadExisting checks an existing region's kubeconfig is taken relative to the file,
// and its defaults.
func TestLoadExisting(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "platform.yaml")
	src := "platform:\n  name: micro\n  image: reg.example/platform:v1\n  registry: reg.example/services\n  state: { backend: local }\nregions:\n  - { name: home, provider: existing, kubeconfig: kube/admin.kubeconfig, context: admin }\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := cfg.Region("home")
	if want := filepath.Join(dir, "kube", "admin.kubeconfig"); r.Kubeconfig != want || r.Context != "admin" || r.Location != DefaultExistingLocation {
		t.Errorf("region = %+v, want kubeconfig %s, context admin, location %s", r, want, DefaultExistingLocation)
	}
	if cfg.Platform.Control != "home" || r.Security.APIAllowedCIDRs != nil {
		t.Errorf("control %q, security %+v: want home and none", cfg.Platform.Control, r.Security)
	}
}
