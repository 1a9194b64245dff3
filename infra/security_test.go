package infra

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	"github.com/zclconf/go-cty/cty/gocty"

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

// staticModule reads a shipped module's .tf files with the values of its variables, to
// tell without a provider what a plan would contain: how many of a resource (count),
// whether a dynamic block is rendered (for_each), and what an attribute is set to. A
// conditional whose condition depends only on variables is resolved to its branch; an
// expression that reads anything else (resources, locals, data) has no value, only the
// references it makes.
type staticModule struct {
	t      *testing.T
	dir    string
	blocks map[string]*hclsyntax.Body // "aws_vpc.this", "data.x.y", "locals"
	ctx    *hcl.EvalContext
}

func loadStatic(t *testing.T, dir string, args map[string]cty.Value) *staticModule {
	t.Helper()
	m := &staticModule{t: t, dir: dir, blocks: map[string]*hclsyntax.Body{}}
	locals := &hclsyntax.Body{Attributes: hclsyntax.Attributes{}}
	m.blocks["locals"] = locals
	vars := map[string]cty.Value{}
	p := hclparse.NewParser()
	for name, data := range moduleFiles(t, dir) {
		f, diags := p.ParseHCL(data, name)
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			switch b.Type {
			case "resource":
				m.blocks[b.Labels[0]+"."+b.Labels[1]] = b.Body
			case "data":
				m.blocks["data."+b.Labels[0]+"."+b.Labels[1]] = b.Body
			case "locals":
				for k, a := range b.Body.Attributes {
					locals.Attributes[k] = a
				}
			case "variable":
				v, ok := args[b.Labels[0]]
				if ok {
					// The engine converts an argument to the variable's type.
					ty, diags := typeexpr.TypeConstraint(b.Body.Attributes["type"].Expr)
					if diags.HasErrors() {
						t.Fatal(diags.Error())
					}
					var err error
					if v, err = convert.Convert(v, ty); err != nil {
						t.Fatalf("module %s: variable %s: %v", dir, b.Labels[0], err)
					}
				} else {
					d := b.Body.Attributes["default"]
					if d == nil {
						t.Fatalf("module %s: variable %s has no default and no value", dir, b.Labels[0])
					}
					v, diags = d.Expr.Value(nil)
					if diags.HasErrors() {
						t.Fatal(diags.Error())
					}
				}
				vars[b.Labels[0]] = v
			}
		}
	}
	for name := range args {
		if _, ok := vars[name]; !ok {
			t.Fatalf("module %s: no variable %s", dir, name)
		}
	}
	m.ctx = &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)},
		Functions: map[string]function.Function{"jsonencode": stdlib.JSONEncodeFunc},
	}
	return m
}

// resolve picks the branch of every conditional whose condition is known.
func (m *staticModule) resolve(e hclsyntax.Expression) hclsyntax.Expression {
	for {
		c, ok := e.(*hclsyntax.ConditionalExpr)
		if !ok {
			return e
		}
		v, diags := c.Condition.Value(m.ctx)
		if diags.HasErrors() || !v.IsKnown() {
			return e
		}
		if v.True() {
			e = c.TrueResult
		} else {
			e = c.FalseResult
		}
	}
}

// body returns the body at path inside block addr: each element names a nested block,
// static or dynamic (its content), or nil when a dynamic block's for_each is empty.
func (m *staticModule) body(addr string, path ...string) *hclsyntax.Body {
	m.t.Helper()
	b := m.blocks[addr]
	if b == nil {
		m.t.Fatalf("module %s: no %s", m.dir, addr)
	}
	for _, name := range path {
		var next *hclsyntax.Body
		for _, nb := range b.Blocks {
			switch {
			case nb.Type == name:
				next = nb.Body
			case nb.Type == "dynamic" && nb.Labels[0] == name:
				if m.size(nb.Body.Attributes["for_each"].Expr) == 0 {
					return nil
				}
				for _, c := range nb.Body.Blocks {
					if c.Type == "content" {
						next = c.Body
					}
				}
			}
		}
		if next == nil {
			return nil
		}
		b = next
	}
	return b
}

// size is the number of elements of a count or for_each expression: -1 when it depends
// on more than variables (it is then at least one, as far as this module is concerned).
func (m *staticModule) size(e hclsyntax.Expression) int {
	e = m.resolve(e)
	if tuple, ok := e.(*hclsyntax.TupleConsExpr); ok {
		return len(tuple.Exprs)
	}
	v, diags := e.Value(m.ctx)
	switch {
	case diags.HasErrors() || !v.IsKnown():
		return -1
	case v.Type() == cty.Number:
		n, _ := v.AsBigFloat().Int64()
		return int(n)
	default:
		return v.LengthInt()
	}
}

// count is how many instances of resource addr a plan would hold (-1: some).
func (m *staticModule) count(addr string) int {
	m.t.Helper()
	b := m.body(addr)
	for _, meta := range []string{"count", "for_each"} {
		if a := b.Attributes[meta]; a != nil {
			return m.size(a.Expr)
		}
	}
	return 1
}

// has reports whether the nested block at path of addr is rendered.
func (m *staticModule) has(addr string, path ...string) bool {
	m.t.Helper()
	return m.body(addr, path...) != nil
}

// attr returns the expression the attribute at path (blocks, then the attribute) is set
// to, conditionals resolved, or nil when it or a block on the way is absent.
func (m *staticModule) attr(addr string, path ...string) hclsyntax.Expression {
	m.t.Helper()
	b := m.body(addr, path[:len(path)-1]...)
	if b == nil || b.Attributes[path[len(path)-1]] == nil {
		return nil
	}
	return m.resolve(b.Attributes[path[len(path)-1]].Expr)
}

// value evaluates the attribute at path; an absent or unknowable one is cty.NilVal.
func (m *staticModule) value(addr string, path ...string) cty.Value {
	m.t.Helper()
	e := m.attr(addr, path...)
	if e == nil {
		return cty.NilVal
	}
	v, diags := e.Value(m.ctx)
	if diags.HasErrors() {
		return cty.NilVal
	}
	return v
}

// refs lists what the attribute at path reads, such as aws_subnet.private.
func (m *staticModule) refs(addr string, path ...string) []string {
	m.t.Helper()
	e := m.attr(addr, path...)
	if e == nil {
		return nil
	}
	var out []string
	for _, tr := range e.Variables() {
		var parts []string
		for _, step := range tr {
			switch s := step.(type) {
			case hcl.TraverseRoot:
				parts = append(parts, s.Name)
			case hcl.TraverseAttr:
				parts = append(parts, s.Name)
			}
			if len(parts) == 2 && parts[0] != "data" || len(parts) == 3 {
				break
			}
		}
		out = append(out, strings.Join(parts, "."))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// clusterArgs renders the root of region one of yaml and returns the arguments of its
// cluster module and the module's directory.
func clusterArgs(t *testing.T, yaml string) (string, map[string]cty.Value) {
	t.Helper()
	cfg := mustParse(t, yaml)
	files, err := RenderRegion(cfg, "one")
	if err != nil {
		t.Fatal(err)
	}
	f, diags := hclparse.NewParser().ParseHCL(files["main.tf"], "main.tf")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if b.Type != "module" || b.Labels[0] != "cluster" {
			continue
		}
		args := map[string]cty.Value{}
		var dir string
		for name, a := range b.Body.Attributes {
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				t.Fatalf("cluster argument %s is not a literal: %s", name, diags.Error())
			}
			if name == "source" {
				dir = strings.TrimPrefix(v.AsString(), ModuleSource+"/")
				continue
			}
			args[name] = v
		}
		return dir, args
	}
	t.Fatal("rendered root calls no cluster module")
	return "", nil
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
	type scenario struct {
		name   string
		region string // the region's security block
		facts  []fact
	}
	providers := []struct {
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
	for _, p := range providers {
		scenarios := append(p.scenarios, scenario{name: "the region's own networks", region: "api_allowed_cidrs: [198.51.100.0/24, 192.0.2.0/28]"})
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

// validation returns the condition of the validation block of variable name in dir.
func validation(t *testing.T, dir, name string) hclsyntax.Expression {
	t.Helper()
	f, diags := hclparse.NewParser().ParseHCL(moduleFiles(t, dir)["variables.tf"], "variables.tf")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if b.Type == "variable" && b.Labels[0] == name {
			for _, v := range b.Body.Blocks {
				if v.Type == "validation" {
					return v.Body.Attributes["condition"].Expr
				}
			}
		}
	}
	t.Fatalf("module %s: variable %s has no validation", dir, name)
	return nil
}

// tfFunctions are the engine's functions the modules' validations call, enough to
// evaluate them here: can, length, alltrue, regex and cidrhost (IPv4 prefixes).
var tfFunctions = map[string]function.Function{
	"can":    tryfunc.CanFunc,
	"length": stdlib.LengthFunc,
	"regex":  stdlib.RegexFunc,
	"alltrue": function.New(&function.Spec{
		Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			for it := args[0].ElementIterator(); it.Next(); {
				if _, v := it.Element(); !v.True() {
					return cty.False, nil
				}
			}
			return cty.True, nil
		},
	}),
	"cidrhost": function.New(&function.Spec{
		Params: []function.Parameter{{Name: "prefix", Type: cty.String}, {Name: "hostnum", Type: cty.Number}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p, err := netip.ParsePrefix(args[0].AsString())
			if err != nil {
				return cty.NilVal, err
			}
			var n int
			if err := gocty.FromCtyValue(args[1], &n); err != nil {
				return cty.NilVal, err
			}
			a := p.Masked().Addr()
			for range n {
				a = a.Next()
			}
			if !p.Contains(a) {
				return cty.NilVal, fmt.Errorf("prefix %s has no host %d", p, n)
			}
			return cty.StringVal(a.String()), nil
		},
	}),
}
