package infra

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/micro/platform"
)

// Config is the content of platform.yaml: the platform as a whole and its regions.
type Config struct {
	Platform Platform
	Regions  []Region
}

// Platform holds the settings shared by every region.
type Platform struct {
	// Name names the platform; it prefixes state keys and cloud resources.
	Name string
	// Domain is the public domain the gateway answers on.
	Domain string
	// Image is the platform's own image (control plane and mesh) that cloud regions run,
	// built by deploy/kubernetes/build-image. Required when a region is not local.
	Image string
	// Registry is where the control plane pushes the images it builds, e.g.
	// registry.example.com/micro-platform/services; every region's nodes must be able to
	// pull from it. Required when a region is not local.
	Registry string
	// Control names the control region: the one that runs the control plane (and, in a
	// cloud, the mesh); every other region runs a region agent that dials it. Default: the
	// first region.
	Control string
	// State says where the engine keeps each region's state.
	State State
	// DNS, when set, adds global DNS and load balancing across regions.
	DNS *DNS
	// Security holds the security switches every cloud region takes unless it sets its
	// own (see [Security]).
	Security SecurityOverrides
}

// Installs reports whether a region of the provider kind installs the platform from
// deploy/kubernetes (a cloud cluster or an existing one), rather than modelling it
// (local).
func Installs(provider string) bool {
	_, cloud := cloudProviders[provider]
	return cloud || provider == ProviderExisting
}

// State configures the engine's state backend. Which fields apply depends on Backend.
type State struct {
	Backend        string // s3, gcs, azurerm, pg or local
	Bucket         string // s3, gcs
	Region         string // s3: the bucket's AWS region
	Prefix         string // s3, gcs, azurerm: prefix of each region's key
	ResourceGroup  string // azurerm
	StorageAccount string // azurerm
	Container      string // azurerm
	Schema         string // pg: prefix of each region's schema
	Path           string // local: directory holding each region's state file
}

// DNS configures global DNS and load balancing.
type DNS struct {
	Provider string // cloudflare
	Zone     string
	// AccountID is the Cloudflare account that owns the load balancer's monitor and pools:
	// 32 lowercase hexadecimal characters. It identifies the account and is not a secret;
	// the API token comes from CLOUDFLARE_API_TOKEN.
	AccountID string
}

// Region is one cluster of the platform on one provider.
type Region struct {
	Name              string
	Provider          string // digitalocean, aws, azure, gcp or local
	Location          string // the provider's region, e.g. lon1, eu-central-1
	Nodes             Nodes
	Network           string // IPv4 CIDR of the region's network
	KubernetesVersion string // minor version, e.g. 1.31
	// Security is the region's cluster hardening: its own security block over
	// platform.security over the secure defaults. Zero for a local or existing region.
	Security Security
	// Kubeconfig is the path of the kubeconfig file that reaches an existing cluster
	// (provider existing; required there, refused elsewhere). [Load] makes it absolute,
	// relative to the file's directory. The file holds credentials; platform.yaml only
	// names it.
	Kubeconfig string
	// Context is the kubeconfig's context for an existing cluster; empty for its current
	// context.
	Context string
}

// Security holds a cloud region's security switches. Every switch defaults to the
// secure setting, except APIAllowedCIDRs, which has no default: the operator names the
// networks platform infra apply (and its kubectl) runs from. Each switch applies to the
// providers [SecuritySwitches] lists; the package documentation says why each exists.
type Security struct {
	// APIAllowedCIDRs are the only IPv4 networks that reach the cluster's Kubernetes API
	// from the internet (EKS public access CIDRs, AKS authorized IP ranges, GKE master
	// authorized networks, the DOKS control plane firewall). Required.
	APIAllowedCIDRs []string
	// PrivateNodes keeps public addresses off the nodes; they reach the internet through
	// a NAT gateway (aws, gcp). Default true.
	PrivateNodes bool
	// EnvelopeEncryption encrypts the cluster's Secrets with a customer-managed KMS key
	// of the region's own, rotated yearly (aws). Default true.
	EnvelopeEncryption bool
	// FlowLogs records the network's flows (aws, azure, gcp). Default true.
	FlowLogs bool
	// MetadataConcealment keeps pods away from the node's cloud credentials in the
	// instance metadata service (aws: IMDSv2 with a hop limit of 1; gcp: the GKE metadata
	// server, Workload Identity, no legacy endpoints). Default true.
	MetadataConcealment bool
}

// SecurityOverrides is a security block as written: nil is "not set here".
type SecurityOverrides struct {
	APIAllowedCIDRs     []string
	PrivateNodes        *bool
	EnvelopeEncryption  *bool
	FlowLogs            *bool
	MetadataConcealment *bool
}

// Security switch names, as platform.yaml spells them.
const (
	SwitchAPIAllowedCIDRs     = "api_allowed_cidrs"
	SwitchPrivateNodes        = "private_nodes"
	SwitchEnvelopeEncryption  = "envelope_encryption"
	SwitchFlowLogs            = "flow_logs"
	SwitchMetadataConcealment = "metadata_concealment"
)

// SecuritySwitches lists, per cloud provider kind, the security switches its cluster
// module takes, in the order the rendered root passes them. What a provider does not
// offer (or always does) is explained in the package documentation.
var SecuritySwitches = map[string][]string{
	ProviderAWS:          {SwitchAPIAllowedCIDRs, SwitchPrivateNodes, SwitchEnvelopeEncryption, SwitchFlowLogs, SwitchMetadataConcealment},
	ProviderAzure:        {SwitchAPIAllowedCIDRs, SwitchFlowLogs},
	ProviderGCP:          {SwitchAPIAllowedCIDRs, SwitchPrivateNodes, SwitchFlowLogs, SwitchMetadataConcealment},
	ProviderDigitalOcean: {SwitchAPIAllowedCIDRs},
}

// apply sets on s every switch o sets.
func (o SecurityOverrides) apply(s *Security) {
	if o.APIAllowedCIDRs != nil {
		s.APIAllowedCIDRs = slices.Clone(o.APIAllowedCIDRs)
	}
	for _, b := range []struct {
		from *bool
		to   *bool
	}{{o.PrivateNodes, &s.PrivateNodes}, {o.EnvelopeEncryption, &s.EnvelopeEncryption}, {o.FlowLogs, &s.FlowLogs}, {o.MetadataConcealment, &s.MetadataConcealment}} {
		if b.from != nil {
			*b.to = *b.from
		}
	}
}

// Nodes sizes a region's autoscaling node pool.
type Nodes struct {
	Size string
	Min  int
	Max  int
}

// Region returns the region called name.
func (c Config) Region(name string) (Region, bool) {
	i := slices.IndexFunc(c.Regions, func(r Region) bool { return r.Name == name })
	if i < 0 {
		return Region{}, false
	}
	return c.Regions[i], true
}

// IsControl reports whether the region called name is the control region.
func (c Config) IsControl(name string) bool { return name == c.Platform.Control }

// AgentRegions lists the regions other than the control region, in the file's order:
// each runs a region agent.
func (c Config) AgentRegions() []Region {
	var out []Region
	for _, r := range c.Regions {
		if !c.IsControl(r.Name) {
			out = append(out, r)
		}
	}
	return out
}

// Providers lists the provider kinds a region may use, sorted.
func Providers() []string { return sortedKeys(DefaultNodeSize) }

// Backends lists the state backends, sorted.
func Backends() []string {
	return []string{BackendAzureRM, BackendGCS, BackendLocal, BackendPG, BackendS3}
}

// Load reads and parses the configuration file at path. See [Parse]. Unlike Parse, it
// makes the local state path absolute, relative to the file's directory.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return Config{}, platform.Errorf(platform.EINVALID, "%s: no such file", path)
		}
		return Config{}, fmt.Errorf("read infra config: %w", err)
	}
	cfg, err := Parse(data, filepath.Base(path))
	if err != nil {
		return Config{}, err
	}
	// Relative paths in the file are relative to the file, not to where the engine runs.
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return Config{}, fmt.Errorf("resolve infra config directory: %w", err)
	}
	if p := &cfg.Platform.State.Path; *p != "" && !filepath.IsAbs(*p) {
		*p = filepath.Join(dir, *p)
	}
	for i := range cfg.Regions {
		if p := &cfg.Regions[i].Kubeconfig; *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	return cfg, nil
}

// Parse decodes a platform.yaml, applies the defaults and validates it. filename prefixes
// every message. It returns EINVALID listing every problem, one a line, each as
// "filename:line: message", sorted by line.
func Parse(data []byte, filename string) (Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		msg := yamlLineRE.ReplaceAllString(err.Error(), filename+":$1:")
		return Config{}, platform.Errorf(platform.EINVALID, "%s", strings.TrimPrefix(msg, "yaml: "))
	}
	d := &decoder{file: filename}
	var cfg Config
	if len(root.Content) == 0 {
		d.problems = append(d.problems, problem{line: 1, msg: "empty file: want platform and regions"})
	} else {
		d.config(root.Content[0], &cfg)
	}
	if err := d.err(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// yamlLineRE matches the position in yaml.v3's syntax errors.
var yamlLineRE = regexp.MustCompile(`^yaml: line ([0-9]+):`)

// problem is one validation failure at a line of the file.
type problem struct {
	line int
	msg  string
}

// decoder walks the YAML node tree, decoding what it can and collecting every problem.
type decoder struct {
	file     string
	problems []problem
	secrets  bool
	// nameLines holds the line of each region's name, for problems found after regions.
	nameLines map[string]int
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.problems = append(d.problems, problem{line: n.Line, msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) err() error {
	if len(d.problems) == 0 {
		return nil
	}
	sort.SliceStable(d.problems, func(i, j int) bool { return d.problems[i].line < d.problems[j].line })
	lines := make([]string, len(d.problems))
	for i, p := range d.problems {
		lines[i] = fmt.Sprintf("%s:%d: %s", d.file, p.line, p.msg)
	}
	e := platform.Errorf(platform.EINVALID, "%s", strings.Join(lines, "\n"))
	if d.secrets {
		e = e.WithHint("credentials come from the environment; see the Secrets section of the infra package documentation")
	}
	return e
}

// fields decodes the mapping n, whose keys must be among known. It returns the value node
// of each key present. where prefixes messages; secretHint names the environment variables
// that replace a refused secret key.
func (d *decoder) fields(n *yaml.Node, where string, known []string, secretHint string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: want a mapping", where)
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case isSecretKey(k.Value):
			d.secrets = true
			d.errorf(k, "%s: %q looks like a secret and is not accepted in the file: %s", where, k.Value, secretHint)
		case !slices.Contains(known, k.Value):
			d.errorf(k, "%s: unknown key %q (want one of %s)", where, k.Value, strings.Join(known, ", "))
		case out[k.Value] != nil:
			d.errorf(k, "%s: key %q given twice", where, k.Value)
		default:
			out[k.Value] = v
		}
	}
	return out
}

// str decodes a scalar string; a missing node leaves dst unchanged.
func (d *decoder) str(n *yaml.Node, where string, dst *string) {
	if n == nil {
		return
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errorf(n, "%s: want a string", where)
		return
	}
	*dst = n.Value
}

// integer decodes a scalar integer; a missing node leaves dst unchanged.
func (d *decoder) integer(n *yaml.Node, where string, dst *int) {
	if n == nil {
		return
	}
	var v int
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v) != nil {
		d.errorf(n, "%s: want a whole number, got %q", where, n.Value)
		return
	}
	*dst = v
}

// secretWords are the key fragments that mark a credential.
var secretWords = []string{"token", "secret", "password", "passwd", "access_key", "private_key", "credentials", "conn_str", "api_key"}

func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	return slices.ContainsFunc(secretWords, func(w string) bool { return strings.Contains(k, w) })
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
