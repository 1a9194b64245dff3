package infra

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/micro/platform"
)

// securityYAML is a platform of one cloud region of provider, with region's own security
// block (YAML flow mapping content, may be empty).
func securityYAML(provider, location, region string) string {
	y := "platform:\n  name: micro\n  image: reg.example/platform:v1\n  registry: reg.example/services\n  state: { backend: local }\n  security: { api_allowed_cidrs: [203.0.113.0/24] }\nregions:\n  - name: one\n    provider: " + provider + "\n    location: " + location + "\n"
	if region != "" {
		y += "    security: { " + region + " }\n"
	}
	return y
}

func TestParseSecurity(t *testing.T) {
	t.Parallel()
	on := DefaultSecurity()
	on.APIAllowedCIDRs = []string{"203.0.113.0/24"}
	with := func(f func(*Security)) Security {
		s := on
		f(&s)
		return s
	}
	tests := []struct {
		name string
		yaml string
		want Security
	}{
		{"platform-wide, every protection on", securityYAML("aws", "eu-central-1", ""), on},
		{"the region's list replaces the platform's", securityYAML("gcp", "europe-west2", "api_allowed_cidrs: [198.51.100.0/24, 192.0.2.0/28]"),
			with(func(s *Security) { s.APIAllowedCIDRs = []string{"198.51.100.0/24", "192.0.2.0/28"} })},
		{"a region turns one switch off", securityYAML("aws", "eu-central-1", "private_nodes: false"), with(func(s *Security) { s.PrivateNodes = false })},
		{"every aws switch off", securityYAML("aws", "eu-central-1", "private_nodes: false, envelope_encryption: false, flow_logs: false, metadata_concealment: false"),
			Security{APIAllowedCIDRs: []string{"203.0.113.0/24"}}},
		{"a platform-wide switch a provider does not take is ignored there",
			strings.Replace(securityYAML("digitalocean", "lon1", ""), "[203.0.113.0/24] }", "[203.0.113.0/24], envelope_encryption: false }", 1),
			with(func(s *Security) { s.EnvelopeEncryption = false })},
		{"the region overrides the platform", strings.Replace(securityYAML("gcp", "europe-west2", "flow_logs: true"), "[203.0.113.0/24] }", "[203.0.113.0/24], flow_logs: false }", 1), on},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Parse([]byte(tt.yaml), "platform.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Regions[0].Security; !slices.Equal(got.APIAllowedCIDRs, tt.want.APIAllowedCIDRs) || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("security = %+v, want %+v", got, tt.want)
			}
		})
	}
	t.Run("a local region takes none", func(t *testing.T) {
		t.Parallel()
		cfg, err := Parse([]byte("platform:\n  name: micro\n  state: { backend: local }\n  security: { api_allowed_cidrs: [203.0.113.0/24] }\nregions:\n  - { name: dev, provider: local }\n"), "platform.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if s := cfg.Regions[0].Security; s.APIAllowedCIDRs != nil || s.PrivateNodes {
			t.Errorf("local region's security = %+v, want none", s)
		}
	})
}

func TestParseSecurityErrors(t *testing.T) {
	t.Parallel()
	const noPlatformList = "platform:\n  name: micro\n  image: reg.example/platform:v1\n  registry: reg.example/services\n  state: { backend: local }\nregions:\n"
	const missing = "missing security.api_allowed_cidrs: the networks allowed to the cluster's Kubernetes API, which platform infra apply reaches with kubectl from where it runs; set it on the region or in platform.security, e.g. api_allowed_cidrs: [203.0.113.0/24], listing the public networks of the machines that run platform infra and kubectl"
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"no list anywhere: every cloud region says what to set", noPlatformList + "  - { name: fra1, provider: aws, location: eu-central-1 }\n  - { name: dev, provider: local }\n  - name: lon1\n    provider: digitalocean\n    location: lon1\n    security: { }\n",
			[]string{`platform.yaml:7: region "fra1": ` + missing, `platform.yaml:9: region "lon1": ` + missing}},
		{"empty list", noPlatformList + "  - name: fra1\n    provider: aws\n    location: eu-central-1\n    security:\n      api_allowed_cidrs: []\n",
			[]string{`platform.yaml:11: region "fra1": security: api_allowed_cidrs: empty: list at least one network, or nobody (not even platform infra apply) can reach the cluster's API`}},
		{"not a list", noPlatformList + "  - name: fra1\n    provider: aws\n    location: eu-central-1\n    security:\n      api_allowed_cidrs: 203.0.113.0/24\n",
			[]string{`platform.yaml:11: region "fra1": security: api_allowed_cidrs: want a list of IPv4 CIDRs such as [203.0.113.0/24]`}},
		{"bad networks, each at its line", noPlatformList + "  - name: fra1\n    provider: aws\n    location: eu-central-1\n    security:\n      api_allowed_cidrs:\n        - 203.0.113.0/24\n        - 203.0.113.7/24\n        - 2001:db8::/32\n        - office\n        - 203.0.113.0/24\n",
			[]string{
				`platform.yaml:13: region "fra1": security: api_allowed_cidrs: "203.0.113.7/24" has host bits set (did you mean 203.0.113.0/24?)`,
				`platform.yaml:14: region "fra1": security: api_allowed_cidrs: "2001:db8::/32" is not an IPv4 CIDR such as 203.0.113.0/24`,
				`platform.yaml:15: region "fra1": security: api_allowed_cidrs: "office" is not an IPv4 CIDR such as 203.0.113.0/24`,
				`platform.yaml:16: region "fra1": security: api_allowed_cidrs: 203.0.113.0/24 listed twice`,
			}},
		{"a switch the provider does not take", securityYAML("digitalocean", "lon1", "private_nodes: false, flow_logs: false"),
			[]string{
				`platform.yaml:11: region "one": security: private_nodes does not apply to provider digitalocean (it takes api_allowed_cidrs; see the Cloud clusters section of docs/security.md for why)`,
				`platform.yaml:11: region "one": security: flow_logs does not apply to provider digitalocean (it takes api_allowed_cidrs; see the Cloud clusters section of docs/security.md for why)`,
			}},
		{"envelope encryption is aws only", securityYAML("azure", "uksouth", "envelope_encryption: false"),
			[]string{`platform.yaml:11: region "one": security: envelope_encryption does not apply to provider azure (it takes api_allowed_cidrs, flow_logs; see the Cloud clusters section of docs/security.md for why)`}},
		{"not a boolean", securityYAML("gcp", "europe-west2", "flow_logs: off-ish, metadata_concealment: 1"),
			[]string{
				`platform.yaml:11: region "one": security: flow_logs: want true or false, got "off-ish"`,
				`platform.yaml:11: region "one": security: metadata_concealment: want true or false, got "1"`,
			}},
		{"unknown switch", securityYAML("aws", "eu-central-1", "public_endpoint: false"),
			[]string{`platform.yaml:11: region "one": security: unknown key "public_endpoint" (want one of api_allowed_cidrs, envelope_encryption, flow_logs, metadata_concealment, private_nodes)`}},
		{"platform-wide bad value", "platform:\n  name: micro\n  state: { backend: local }\n  security:\n    flow_logs: yes please\nregions:\n  - { name: dev, provider: local }\n",
			[]string{`platform.yaml:5: platform.security: flow_logs: want true or false, got "yes please"`}},
		{"a local region", "platform:\n  name: micro\n  state: { backend: local }\nregions:\n  - name: dev\n    provider: local\n    security: { flow_logs: false }\n",
			[]string{`platform.yaml:7: region "dev": security does not apply to a local region (it models a cluster and has no cloud network or API to protect)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.yaml), "platform.yaml")
			if code := platform.ErrorCode(err); code != platform.EINVALID {
				t.Fatalf("code = %q (err %v), want %q", code, err, platform.EINVALID)
			}
			if got := platform.ErrorMessage(err); got != strings.Join(tt.want, "\n") {
				t.Errorf("message:\n%s\nwant:\n%s", got, strings.Join(tt.want, "\n"))
			}
		})
	}
}

// scenario is a region's own security block and what it must make the module do.
type scenario struct {
	name   string
	region string
	facts  []fact
}

// clusterSecurity is, per provider, what its cluster module must do whatever the
// switches, and in each scenario of switches (the region's own security block).
var clusterSecurity = []struct {
	provider, location string
	always             []fact
	scenarios          []scenario
}{
	{ProviderAWS, "eu-central-1", []fact{
		{"the public endpoint answers the allowed networks only", func(m *staticModule) bool {
			return equal(m.value("aws_eks_cluster.this", "vpc_config", "endpoint_public_access"), cty.True) &&
				slices.Equal(m.refs("aws_eks_cluster.this", "vpc_config", "public_access_cidrs"), []string{"var.api_allowed_cidrs"})
		}},
		{"nodes and pods use the private endpoint", func(m *staticModule) bool {
			return equal(m.value("aws_eks_cluster.this", "vpc_config", "endpoint_private_access"), cty.True)
		}},
		{"the VPC CNI enforces NetworkPolicy", func(m *staticModule) bool {
			return equal(m.value("aws_eks_addon.vpc_cni", "configuration_values"), cty.StringVal(`{"enableNetworkPolicy":"true"}`))
		}},
		{"nodes take the launch template", func(m *staticModule) bool {
			return slices.Equal(m.refs("aws_eks_node_group.default", "launch_template", "id"), []string{"aws_launch_template.nodes"})
		}},
	}, []scenario{
		{"defaults", "", []fact{
			{"nodes in private subnets", func(m *staticModule) bool {
				return m.count("aws_subnet.private") != 0 && slices.Equal(m.refs("locals", "node_subnets"), []string{"aws_subnet.private"}) &&
					slices.Equal(m.refs("aws_eks_node_group.default", "subnet_ids"), []string{"local.node_subnets"})
			}},
			{"no subnet hands out public addresses", func(m *staticModule) bool {
				return equal(m.value("aws_subnet.public", "map_public_ip_on_launch"), cty.False) && equal(m.value("aws_subnet.private", "map_public_ip_on_launch"), cty.False)
			}},
			{"egress through one NAT gateway", func(m *staticModule) bool {
				return m.count("aws_nat_gateway.this") == 1 && m.count("aws_route_table.private") == 1
			}},
			{"Secrets encrypted with a rotated KMS key", func(m *staticModule) bool {
				return m.count("aws_kms_key.secrets") == 1 && equal(m.value("aws_kms_key.secrets", "enable_key_rotation"), cty.True) &&
					equal(m.value("aws_eks_cluster.this", "encryption_config", "resources"), cty.TupleVal([]cty.Value{cty.StringVal("secrets")})) &&
					m.count("aws_iam_role_policy.secrets") == 1
			}},
			{"VPC flow logs, all traffic", func(m *staticModule) bool {
				return m.count("aws_flow_log.this") == 1 && equal(m.value("aws_flow_log.this", "traffic_type"), cty.StringVal("ALL")) &&
					m.count("aws_cloudwatch_log_group.flow_logs") == 1
			}},
			{"IMDSv2 only, hop limit 1", func(m *staticModule) bool {
				return equal(m.value("aws_launch_template.nodes", "metadata_options", "http_tokens"), cty.StringVal("required")) &&
					equal(m.value("aws_launch_template.nodes", "metadata_options", "http_put_response_hop_limit"), cty.NumberIntVal(1))
			}},
		}},
		{"private_nodes off", "private_nodes: false", []fact{
			{"nodes in the public subnets, which hand out addresses", func(m *staticModule) bool {
				return m.count("aws_subnet.private") == 0 && slices.Equal(m.refs("locals", "node_subnets"), []string{"aws_subnet.public"}) &&
					equal(m.value("aws_subnet.public", "map_public_ip_on_launch"), cty.True)
			}},
			{"no NAT gateway", func(m *staticModule) bool { return m.count("aws_nat_gateway.this") == 0 && m.count("aws_eip.nat") == 0 }},
		}},
		{"envelope_encryption off", "envelope_encryption: false", []fact{
			{"no key, no encryption_config", func(m *staticModule) bool {
				return m.count("aws_kms_key.secrets") == 0 && !m.has("aws_eks_cluster.this", "encryption_config")
			}},
		}},
		{"flow_logs off", "flow_logs: false", []fact{
			{"no flow log", func(m *staticModule) bool {
				return m.count("aws_flow_log.this") == 0 && m.count("aws_cloudwatch_log_group.flow_logs") == 0 && m.count("aws_iam_role.flow_logs") == 0
			}},
		}},
		{"metadata_concealment off", "metadata_concealment: false", []fact{
			{"IMDSv1 allowed, hop limit 2", func(m *staticModule) bool {
				return equal(m.value("aws_launch_template.nodes", "metadata_options", "http_tokens"), cty.StringVal("optional")) &&
					equal(m.value("aws_launch_template.nodes", "metadata_options", "http_put_response_hop_limit"), cty.NumberIntVal(2))
			}},
		}},
	}},
	{ProviderAzure, "uksouth", []fact{
		{"the API answers the allowed networks only", func(m *staticModule) bool {
			return slices.Equal(m.refs("azurerm_kubernetes_cluster.this", "api_server_access_profile", "authorized_ip_ranges"), []string{"var.api_allowed_cidrs"})
		}},
		{"Kubernetes RBAC", func(m *staticModule) bool {
			return equal(m.value("azurerm_kubernetes_cluster.this", "role_based_access_control_enabled"), cty.True)
		}},
		{"Calico enforces NetworkPolicy", func(m *staticModule) bool {
			return equal(m.value("azurerm_kubernetes_cluster.this", "network_profile", "network_policy"), cty.StringVal("calico"))
		}},
		{"nodes without public addresses", func(m *staticModule) bool {
			return equal(m.value("azurerm_kubernetes_cluster.this", "default_node_pool", "node_public_ip_enabled"), cty.False)
		}},
	}, []scenario{
		{"defaults", "", []fact{
			{"VNet flow logs into a storage account of the region", func(m *staticModule) bool {
				return m.count("azurerm_network_watcher_flow_log.this") == 1 && equal(m.value("azurerm_network_watcher_flow_log.this", "enabled"), cty.True) &&
					slices.Equal(m.refs("azurerm_network_watcher_flow_log.this", "target_resource_id"), []string{"azurerm_virtual_network.this"}) &&
					m.count("azurerm_storage_account.flow_logs") == 1 && equal(m.value("azurerm_storage_account.flow_logs", "allow_nested_items_to_be_public"), cty.False)
			}},
		}},
		{"flow_logs off", "flow_logs: false", []fact{
			{"no flow log", func(m *staticModule) bool {
				return m.count("azurerm_network_watcher_flow_log.this") == 0 && m.count("azurerm_storage_account.flow_logs") == 0
			}},
		}},
	}},
	{ProviderGCP, "europe-west2", []fact{
		{"Dataplane V2 enforces NetworkPolicy", func(m *staticModule) bool {
			return equal(m.value("google_container_cluster.this", "datapath_provider"), cty.StringVal("ADVANCED_DATAPATH"))
		}},
		{"master authorized networks are the allowed networks", func(m *staticModule) bool {
			b := m.body("google_container_cluster.this", "master_authorized_networks_config")
			for _, nb := range b.Blocks {
				if nb.Type == "dynamic" && nb.Labels[0] == "cidr_blocks" {
					v, diags := nb.Body.Attributes["for_each"].Expr.Value(m.ctx)
					return !diags.HasErrors() && m.has("google_container_cluster.this", "master_authorized_networks_config", "cidr_blocks") &&
						v.Equals(m.ctx.Variables["var"].GetAttr("api_allowed_cidrs")).True()
				}
			}
			return false
		}},
		{"legacy metadata endpoints off", func(m *staticModule) bool {
			v := m.value("google_container_node_pool.default", "node_config", "metadata")
			return v != cty.NilVal && equal(v.GetAttr("disable-legacy-endpoints"), cty.StringVal("true"))
		}},
	}, []scenario{
		{"defaults", "", []fact{
			{"private nodes, the public endpoint kept", func(m *staticModule) bool {
				return equal(m.value("google_container_cluster.this", "private_cluster_config", "enable_private_nodes"), cty.True) &&
					equal(m.value("google_container_cluster.this", "private_cluster_config", "enable_private_endpoint"), cty.False)
			}},
			{"Compute Engine addresses not let through", func(m *staticModule) bool {
				return equal(m.value("google_container_cluster.this", "master_authorized_networks_config", "gcp_public_cidrs_access_enabled"), cty.False)
			}},
			{"egress through Cloud NAT", func(m *staticModule) bool {
				return m.count("google_compute_router_nat.this") == 1 && m.count("google_compute_router.nat") == 1
			}},
			{"subnetwork flow logs", func(m *staticModule) bool { return m.has("google_compute_subnetwork.this", "log_config") }},
			{"GKE metadata server and Workload Identity", func(m *staticModule) bool {
				return equal(m.value("google_container_node_pool.default", "node_config", "workload_metadata_config", "mode"), cty.StringVal("GKE_METADATA")) &&
					m.has("google_container_cluster.this", "workload_identity_config")
			}},
		}},
		{"private_nodes off", "private_nodes: false", []fact{
			{"public nodes, no NAT", func(m *staticModule) bool {
				return !m.has("google_container_cluster.this", "private_cluster_config") && m.count("google_compute_router_nat.this") == 0
			}},
			{"Compute Engine addresses let through (the nodes' own)", func(m *staticModule) bool {
				return equal(m.value("google_container_cluster.this", "master_authorized_networks_config", "gcp_public_cidrs_access_enabled"), cty.True)
			}},
		}},
		{"flow_logs off", "flow_logs: false", []fact{
			{"no flow logs", func(m *staticModule) bool { return !m.has("google_compute_subnetwork.this", "log_config") }},
		}},
		{"metadata_concealment off", "metadata_concealment: false", []fact{
			{"the node's metadata", func(m *staticModule) bool {
				return equal(m.value("google_container_node_pool.default", "node_config", "workload_metadata_config", "mode"), cty.StringVal("GCE_METADATA")) &&
					!m.has("google_container_cluster.this", "workload_identity_config")
			}},
		}},
	}},
	{ProviderDigitalOcean, "lon1", []fact{
		{"the control plane firewall admits the allowed networks only", func(m *staticModule) bool {
			return equal(m.value("digitalocean_kubernetes_cluster.this", "control_plane_firewall", "enabled"), cty.True) &&
				slices.Equal(m.refs("digitalocean_kubernetes_cluster.this", "control_plane_firewall", "allowed_addresses"), []string{"var.api_allowed_cidrs"})
		}},
	}, []scenario{{"defaults", "", nil}}},
}

// fact is one thing a rendered region's cluster module must (or must not) do.
type fact struct {
	what string
	ok   func(m *staticModule) bool
}

func equal(v cty.Value, want cty.Value) bool {
	return v != cty.NilVal && v.IsWhollyKnown() && v.Equals(want).True()
}

func strs(ss ...string) cty.Value {
	vals := make([]cty.Value, len(ss))
	for i, s := range ss {
		vals[i] = cty.StringVal(s)
	}
	return cty.ListVal(vals)
}

// TestClusterModulesSecurity renders a region of every cloud provider from platform.yaml,
// with the secure defaults and with each switch turned off, and reads the cluster module
// with the values the rendered root passes it: each switch must do what it says, and the
// protections that are not switches must hold whatever the switches are.
func TestClusterModulesSecurity(t *testing.T) {
	t.Parallel()
	for _, p := range clusterSecurity {
		scenarios := slices.Concat(p.scenarios, []scenario{{name: "the region's own networks", region: "api_allowed_cidrs: [198.51.100.0/24, 192.0.2.0/28]"}})
		for _, s := range scenarios {
			t.Run(p.provider+"/"+s.name, func(t *testing.T) {
				t.Parallel()
				dir, args := clusterArgs(t, securityYAML(p.provider, p.location, s.region))
				wantCIDRs := strs("203.0.113.0/24")
				if strings.Contains(s.region, "api_allowed_cidrs") {
					wantCIDRs = strs("198.51.100.0/24", "192.0.2.0/28")
				}
				if got, err := convert.Convert(args[SwitchAPIAllowedCIDRs], cty.List(cty.String)); err != nil || !equal(got, wantCIDRs) {
					t.Errorf("rendered %s = %#v, want %#v", SwitchAPIAllowedCIDRs, args[SwitchAPIAllowedCIDRs], wantCIDRs)
				}
				for _, k := range SecuritySwitches[p.provider] {
					if args[k] == cty.NilVal {
						t.Errorf("the rendered root does not pass %s", k)
					}
				}
				m := loadStatic(t, dir, args)
				for _, f := range append(slices.Clone(p.always), s.facts...) {
					if !f.ok(m) {
						t.Errorf("%s: not so", f.what)
					}
				}
			})
		}
	}
}

// TestClusterModulesRefuseNoAllowList: a cluster module called without
// api_allowed_cidrs fails (no default) and refuses an empty or malformed one.
func TestClusterModulesRefuseNoAllowList(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"eks", "aks", "gke", "doks"} {
		shape := shapeOf(t, moduleFiles(t, dir))
		if hasDefault, ok := shape.variables[SwitchAPIAllowedCIDRs]; !ok || hasDefault {
			t.Errorf("module %s: %s declared %v with a default %v; want declared without one", dir, SwitchAPIAllowedCIDRs, ok, hasDefault)
		}
		cond := validation(t, dir, SwitchAPIAllowedCIDRs)
		for _, tt := range []struct {
			val  cty.Value
			want bool
		}{
			{strs("203.0.113.0/24"), true},
			{cty.ListValEmpty(cty.String), false},
			{strs("0.0.0.0/0"), true}, // explicit: the operator's choice
			{strs("office"), false},
			{strs("2001:db8::/32"), false},
		} {
			ctx := &hcl.EvalContext{
				Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{SwitchAPIAllowedCIDRs: tt.val})},
				Functions: tfFunctions,
			}
			v, diags := cond.Value(ctx)
			if diags.HasErrors() {
				t.Fatalf("module %s: validation of %s: %s", dir, SwitchAPIAllowedCIDRs, diags.Error())
			}
			if v.True() != tt.want {
				t.Errorf("module %s: %s = %#v accepted %v, want %v", dir, SwitchAPIAllowedCIDRs, tt.val, v.True(), tt.want)
			}
		}
	}
}
