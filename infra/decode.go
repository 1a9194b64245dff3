package infra

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/micro/platform"
)

// config decodes the document root.
func (d *decoder) config(n *yaml.Node, cfg *Config) {
	f := d.fields(n, "document", []string{"platform", "regions"}, "set credentials in the environment")
	if n.Kind != yaml.MappingNode {
		return
	}
	if f["platform"] == nil {
		d.errorf(n, "missing platform section")
	} else {
		d.platform(f["platform"], &cfg.Platform)
	}
	if f["regions"] == nil {
		d.errorf(n, "missing regions: describe at least one region")
		return
	}
	d.regions(f["regions"], cfg)
	if f["platform"] != nil {
		d.control(f["platform"], cfg)
	}
	if f["platform"] != nil && slices.ContainsFunc(cfg.Regions, func(r Region) bool { return Installs(r.Provider) }) {
		// A cloud or existing region installs the platform from deploy/kubernetes: it
		// needs the image to run and the registry to push builds to. Local regions model
		// a cluster only.
		if cfg.Platform.Image == "" {
			d.errorf(f["platform"], "platform: missing image: cloud and existing regions run the platform's image (deploy/kubernetes/build-image builds it)")
		}
		if cfg.Platform.Registry == "" {
			d.errorf(f["platform"], "platform: missing registry: cloud and existing regions push the services they build there (e.g. registry.example.com/micro-platform/services)")
		}
	}
	d.existingRoles(cfg)
}

// platform decodes the platform section.
func (d *decoder) platform(n *yaml.Node, p *Platform) {
	keys := []string{"name", "domain", "image", "registry", "control", "state", "dns", "security"}
	if chart := mappingKey(n, "chart"); chart != nil {
		// platform.chart named the Helm chart the platform module installed; the module
		// now ships deploy/kubernetes itself.
		d.errorf(chart, "platform: chart is no longer used: the platform module installs deploy/kubernetes as shipped; remove it and set image and registry")
		keys = append(keys, "chart")
	}
	f := d.fields(n, "platform", keys, "set credentials in the environment")
	if n.Kind != yaml.MappingNode {
		return
	}
	d.str(f["name"], "platform.name", &p.Name)
	d.str(f["domain"], "platform.domain", &p.Domain)
	d.str(f["image"], "platform.image", &p.Image)
	d.str(f["registry"], "platform.registry", &p.Registry)
	d.str(f["control"], "platform.control", &p.Control)
	switch {
	case f["name"] == nil:
		d.errorf(n, "platform: missing name")
	case p.Name != "":
		if err := platform.ValidateName("platform", p.Name); err != nil {
			d.errorf(f["name"], "platform: %s", platform.ErrorMessage(err))
		}
	}
	if p.Domain != "" && !domainRE.MatchString(p.Domain) {
		d.errorf(f["domain"], "platform: invalid domain %q", p.Domain)
	}
	if p.Image != "" && !imageRE.MatchString(p.Image) {
		d.errorf(f["image"], "platform: invalid image %q: want a reference such as registry.example.com/micro-platform/platform:v0.1.0", p.Image)
	}
	if p.Registry != "" && !registryRE.MatchString(p.Registry) {
		d.errorf(f["registry"], "platform: invalid registry %q: want a repository prefix such as registry.example.com/micro-platform/services", p.Registry)
	}
	if f["state"] == nil {
		d.errorf(n, "platform: missing state backend (set platform.state.backend to one of %s)", strings.Join(Backends(), ", "))
	} else {
		d.state(f["state"], p)
	}
	if f["dns"] != nil {
		p.DNS = &DNS{}
		d.dns(f["dns"], p)
	}
	if f["security"] != nil {
		d.security(f["security"], "platform.security", "", &p.Security)
	}
}

// control checks platform.control names a region of the file and defaults it to the
// first one. An agent region may not be called [ControlPlaneRegion]: the control plane
// would refuse to register it.
func (d *decoder) control(n *yaml.Node, cfg *Config) {
	p := &cfg.Platform
	if p.Control == "" && len(cfg.Regions) > 0 {
		p.Control = cfg.Regions[0].Name
	} else if _, ok := cfg.Region(p.Control); !ok {
		at := mappingValue(n, "control")
		names := regionNames(*cfg)
		d.errorf(at, "platform.control: no region is called %q: name the region that runs the control plane (one of %s)", p.Control, strings.Join(names, ", "))
		return
	}
	if line, ok := d.nameLines[ControlPlaneRegion]; ok && p.Control != ControlPlaneRegion {
		d.problems = append(d.problems, problem{line: line, msg: fmt.Sprintf("region %q: the name is reserved for an agent region: the control plane's own region is called %s; rename it, or make it the control region", ControlPlaneRegion, ControlPlaneRegion)})
	}
}

// ControlPlaneRegion is the name of the control plane's own, in-process region
// (control.Options.LocalRegion's default).
const ControlPlaneRegion = "local"

// imageRE and registryRE are the checks the platform module's variables make too: the
// values go into a YAML manifest as they are.
var (
	imageRE    = regexp.MustCompile(`^[a-z0-9][A-Za-z0-9._/:@-]*$`)
	registryRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._/:-]*$`)
)

// mappingValue returns the value node of key in the mapping n, or n itself.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1]
			}
		}
	}
	return n
}

// mappingKey returns the key node called key in the mapping n, or nil.
func mappingKey(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return nil
}

var domainRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)

// stateKeys lists, per backend, the keys besides "backend" that apply to it, and which of
// them are required.
var stateKeys = map[string]struct{ allowed, required []string }{
	BackendS3:      {[]string{"bucket", "region", "prefix"}, []string{"bucket", "region"}},
	BackendGCS:     {[]string{"bucket", "prefix"}, []string{"bucket"}},
	BackendAzureRM: {[]string{"resource_group", "storage_account", "container", "prefix"}, []string{"resource_group", "storage_account", "container"}},
	BackendPG:      {[]string{"schema"}, nil},
	BackendLocal:   {[]string{"path"}, nil},
}

// state decodes platform.state and checks the keys against the chosen backend.
func (d *decoder) state(n *yaml.Node, p *Platform) {
	known := []string{"backend", "bucket", "container", "path", "prefix", "region", "resource_group", "schema", "storage_account"}
	f := d.fields(n, "platform.state", known, "set the backend's credentials in the environment ("+d.stateHint(n)+")")
	if n.Kind != yaml.MappingNode {
		return
	}
	s := &p.State
	targets := map[string]*string{
		"backend": &s.Backend, "bucket": &s.Bucket, "container": &s.Container, "path": &s.Path, "prefix": &s.Prefix,
		"region": &s.Region, "resource_group": &s.ResourceGroup, "schema": &s.Schema, "storage_account": &s.StorageAccount,
	}
	for _, k := range known {
		d.str(f[k], "platform.state."+k, targets[k])
	}
	keys, ok := stateKeys[s.Backend]
	switch {
	case f["backend"] == nil:
		d.errorf(n, "platform.state: missing backend (want one of %s)", strings.Join(Backends(), ", "))
		return
	case !ok:
		d.errorf(f["backend"], "platform.state: unknown backend %q (want one of %s)", s.Backend, strings.Join(Backends(), ", "))
		return
	}
	for _, k := range known[1:] {
		if f[k] != nil && !slices.Contains(keys.allowed, k) {
			d.errorf(f[k], "platform.state: key %q does not apply to backend %q", k, s.Backend)
		}
	}
	for _, k := range keys.required {
		if *targets[k] == "" {
			d.errorf(n, "platform.state: backend %q needs %s", s.Backend, k)
		}
	}
	d.stateDefaults(p)
}

// stateHint names the environment variables of the backend n declares, if any.
func (d *decoder) stateHint(n *yaml.Node) string {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "backend" {
			if env := StateEnv(n.Content[i+1].Value); len(env) > 0 {
				return strings.Join(env, ", ")
			}
		}
	}
	return "see the infra package documentation"
}

func (d *decoder) stateDefaults(p *Platform) {
	s := &p.State
	switch s.Backend {
	case BackendS3, BackendGCS, BackendAzureRM:
		if s.Prefix == "" {
			s.Prefix = fmt.Sprintf(defaultStatePrefixPattern, p.Name)
		}
		s.Prefix = strings.Trim(s.Prefix, "/")
	case BackendPG:
		if s.Schema == "" {
			s.Schema = fmt.Sprintf(defaultPGSchemaPattern, strings.ReplaceAll(p.Name, "-", "_"))
		}
	case BackendLocal:
		if s.Path == "" {
			s.Path = DefaultLocalStatePath
		}
	}
}

// dns decodes platform.dns.
func (d *decoder) dns(n *yaml.Node, p *Platform) {
	f := d.fields(n, "platform.dns", []string{"account_id", "provider", "zone"}, "set CLOUDFLARE_API_TOKEN in the environment")
	if n.Kind != yaml.MappingNode {
		return
	}
	d.str(f["provider"], "platform.dns.provider", &p.DNS.Provider)
	d.str(f["zone"], "platform.dns.zone", &p.DNS.Zone)
	d.str(f["account_id"], "platform.dns.account_id", &p.DNS.AccountID)
	want := strings.Join(DNSProviders(), " or ")
	switch {
	case f["provider"] == nil:
		d.errorf(n, "platform.dns: missing provider (want %s)", want)
	case !slices.Contains(DNSProviders(), p.DNS.Provider):
		d.errorf(f["provider"], "platform.dns: unknown provider %q (want %s)", p.DNS.Provider, want)
	}
	switch {
	case p.DNS.Provider != DNSCloudflare:
		if f["account_id"] != nil {
			d.errorf(f["account_id"], "platform.dns: account_id is only for the %s provider", DNSCloudflare)
		}
	case f["account_id"] == nil:
		d.errorf(n, "platform.dns: missing account_id (the Cloudflare account identifier, 32 hexadecimal characters)")
	case !accountIDRE.MatchString(p.DNS.AccountID):
		d.errorf(f["account_id"], "platform.dns: account_id %q is not a Cloudflare account identifier (32 lowercase hexadecimal characters)", p.DNS.AccountID)
	}
	if p.DNS.Zone == "" {
		p.DNS.Zone = p.Domain
	}
	switch {
	case p.DNS.Zone == "":
		d.errorf(n, "platform.dns: missing zone (or set platform.domain)")
	case !domainRE.MatchString(p.DNS.Zone):
		d.errorf(f["zone"], "platform.dns: invalid zone %q", p.DNS.Zone)
	case p.Domain != "" && p.Domain != p.DNS.Zone && !strings.HasSuffix(p.Domain, "."+p.DNS.Zone):
		d.errorf(f["zone"], "platform.dns: platform.domain %q is not inside zone %q, so the load balancer's hostname %s could not live in it", p.Domain, p.DNS.Zone, GlobalHostname(*p))
	}
}

var accountIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// reservedRegion reports why name cannot be a region's name, or "" when it can: the
// global root keeps its state and work directory under [GlobalRoot], and with DNS set the
// load balancer answers on [GlobalHostPrefix].<domain>, which a region's gateway
// (<region>.<domain>) must not take.
func reservedRegion(name string, p Platform) string {
	switch {
	case name == GlobalRoot:
		return "the global DNS root module keeps its state under that name"
	case name == GlobalHostPrefix && p.DNS != nil:
		return fmt.Sprintf("its gateway would take %s, the load balancer's hostname", GlobalHostname(p))
	}
	return ""
}

// regions decodes the regions list and checks names are unique.
func (d *decoder) regions(n *yaml.Node, cfg *Config) {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		d.errorf(n, "regions: want a list of at least one region")
		return
	}
	seen := map[string]int{}
	d.nameLines = seen
	for i, rn := range n.Content {
		var r Region
		nameNode := d.region(rn, i, cfg.Platform, &r)
		if r.Name != "" {
			if first, dup := seen[r.Name]; dup {
				d.errorf(nameNode, "region %q: duplicate name (first defined at line %d)", r.Name, first)
				continue
			}
			seen[r.Name] = nameNode.Line
			if why := reservedRegion(r.Name, cfg.Platform); why != "" {
				d.errorf(nameNode, "region %q: the name is reserved: %s", r.Name, why)
			}
			if name := ClusterName(cfg.Platform, r); cfg.Platform.Name != "" && r.Provider != ProviderLocal && r.Provider != ProviderExisting && len(name) > maxClusterName {
				d.errorf(nameNode, "region %q: cluster name %q is longer than %d characters: shorten the platform or region name", r.Name, name, maxClusterName)
			}
		}
		cfg.Regions = append(cfg.Regions, r)
	}
}

// maxClusterName is the longest cluster name every provider accepts (GKE's limit).
const maxClusterName = 40

var regionKeys = []string{"context", "kubeconfig", "kubernetes_version", "location", "name", "network", "nodes", "provider", "security"}

var k8sVersionRE = regexp.MustCompile(`^1\.[0-9]{2}$`)

// region decodes one region, applies its defaults and returns the node of its name (or of
// the region itself when it has none), where a duplicate is reported.
func (d *decoder) region(n *yaml.Node, i int, p Platform, r *Region) *yaml.Node {
	where := fmt.Sprintf("regions[%d]", i)
	if n.Kind == yaml.MappingNode {
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == "name" && n.Content[j+1].Kind == yaml.ScalarNode && n.Content[j+1].Value != "" {
				where = fmt.Sprintf("region %q", n.Content[j+1].Value)
			}
		}
	}
	f := d.fields(n, where, regionKeys, d.regionHint(n))
	if n.Kind != yaml.MappingNode {
		return n
	}
	d.str(f["name"], where+": name", &r.Name)
	d.str(f["provider"], where+": provider", &r.Provider)
	d.str(f["location"], where+": location", &r.Location)
	d.str(f["network"], where+": network", &r.Network)
	d.str(f["kubernetes_version"], where+": kubernetes_version", &r.KubernetesVersion)
	d.str(f["kubeconfig"], where+": kubeconfig", &r.Kubeconfig)
	d.str(f["context"], where+": context", &r.Context)
	nameNode := n
	if f["name"] == nil {
		d.errorf(n, "%s: missing name", where)
	} else if err := platform.ValidateName("region", r.Name); err != nil {
		d.errorf(f["name"], "%s", platform.ErrorMessage(err))
		r.Name = ""
	} else {
		nameNode = f["name"]
	}
	_, known := DefaultNodeSize[r.Provider]
	switch {
	case f["provider"] == nil:
		d.errorf(n, "%s: missing provider (want one of %s)", where, strings.Join(Providers(), ", "))
	case !known:
		d.errorf(f["provider"], "%s: unknown provider %q (want one of %s)", where, r.Provider, strings.Join(Providers(), ", "))
	}
	if r.Location == "" && known && r.Provider != ProviderLocal && r.Provider != ProviderExisting {
		d.errorf(n, "%s: missing location (the %s region to run in)", where, r.Provider)
	}
	d.existing(n, f, where, r)
	d.regionNetwork(f, where, r)
	d.nodes(f["nodes"], where, r)
	d.regionDefaults(r)
	if known {
		d.regionSecurity(n, f["security"], where, p, r)
	}
	return nameNode
}

// existing checks the keys of an existing cluster's region: kubeconfig is required and
// only an existing region takes it (and context); what describes a cluster to create
// (nodes, network, security) does not apply to one.
func (d *decoder) existing(n *yaml.Node, f map[string]*yaml.Node, where string, r *Region) {
	if r.Provider != ProviderExisting {
		for _, k := range []string{"kubeconfig", "context"} {
			if f[k] != nil && r.Provider != "" {
				d.errorf(f[k], "%s: %s applies only to provider %s (a cluster that exists already)", where, k, ProviderExisting)
			}
		}
		return
	}
	if f["kubeconfig"] == nil {
		d.errorf(n, "%s: missing kubeconfig: the path of the kubeconfig file that reaches the existing cluster (relative to this file)", where)
	} else if r.Kubeconfig == "" {
		d.errorf(f["kubeconfig"], "%s: kubeconfig is empty: want the path of a kubeconfig file", where)
	}
	for _, k := range []string{"nodes", "network", "security"} {
		if f[k] != nil {
			d.errorf(mappingKey(n, k), "%s: %s does not apply to an existing cluster (platform infra creates none; its owner sizes and secures it)", where, k)
		}
	}
}

// existingRoles refuses an existing cluster as an agent region: its install (the agent
// module on a kubeconfig) is not rendered yet.
func (d *decoder) existingRoles(cfg *Config) {
	for _, r := range cfg.AgentRegions() {
		if r.Provider == ProviderExisting && cfg.Platform.Control != "" {
			d.problems = append(d.problems, problem{line: d.nameLines[r.Name], msg: fmt.Sprintf("region %q: an existing cluster can only be the control region for now (platform.control is %q)", r.Name, cfg.Platform.Control)})
		}
	}
}

// regionHint names the environment variables of the provider the region n declares.
func (d *decoder) regionHint(n *yaml.Node) string {
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value == "provider" {
			if env := ProviderEnv(n.Content[j+1].Value); len(env) > 0 {
				return "set " + strings.Join(env, ", ") + " in the environment"
			}
		}
	}
	return "set the provider's credentials in the environment"
}

// regionNetwork checks the region's CIDR and Kubernetes version.
func (d *decoder) regionNetwork(f map[string]*yaml.Node, where string, r *Region) {
	if r.Network != "" {
		p, err := netip.ParsePrefix(r.Network)
		switch {
		case err != nil || !p.Addr().Is4():
			d.errorf(f["network"], "%s: network %q is not an IPv4 CIDR such as 10.10.0.0/16", where, r.Network)
		case p.Masked() != p:
			d.errorf(f["network"], "%s: network %q has host bits set (did you mean %s?)", where, r.Network, p.Masked())
		case p.Bits() < 8 || p.Bits() > 24:
			d.errorf(f["network"], "%s: network %q must have a prefix length between /8 and /24", where, r.Network)
		}
	}
	if r.KubernetesVersion != "" && !k8sVersionRE.MatchString(r.KubernetesVersion) {
		d.errorf(f["kubernetes_version"], "%s: kubernetes_version %q is not a minor version such as %s", where, r.KubernetesVersion, DefaultKubernetesVersion)
	}
}

// nodes decodes a region's node pool and checks its bounds.
func (d *decoder) nodes(n *yaml.Node, where string, r *Region) {
	r.Nodes = Nodes{Min: DefaultNodesMin, Max: DefaultNodesMax}
	if n == nil {
		return
	}
	f := d.fields(n, where+": nodes", []string{"max", "min", "size"}, "nodes take no credentials")
	d.str(f["size"], where+": nodes.size", &r.Nodes.Size)
	d.integer(f["min"], where+": nodes.min", &r.Nodes.Min)
	d.integer(f["max"], where+": nodes.max", &r.Nodes.Max)
	switch {
	case r.Nodes.Min < 1:
		d.errorf(f["min"], "%s: nodes.min must be at least 1, got %d", where, r.Nodes.Min)
	case r.Nodes.Min > r.Nodes.Max:
		at := f["min"]
		if at == nil {
			at = f["max"]
		}
		d.errorf(at, "%s: nodes.min %d is greater than nodes.max %d", where, r.Nodes.Min, r.Nodes.Max)
	}
}

func (d *decoder) regionDefaults(r *Region) {
	if r.Location == "" && r.Provider == ProviderLocal {
		r.Location = DefaultLocalLocation
	}
	if r.Location == "" && r.Provider == ProviderExisting {
		r.Location = DefaultExistingLocation
	}
	if r.Nodes.Size == "" {
		r.Nodes.Size = DefaultNodeSize[r.Provider]
	}
	if r.Network == "" {
		r.Network = DefaultNetwork
	}
	if r.KubernetesVersion == "" {
		r.KubernetesVersion = DefaultKubernetesVersion
	}
}
