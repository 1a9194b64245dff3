package server

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/util/validation"

	platform "github.com/micro/platform"
	"github.com/micro/platform/billing"
)

// Config is everything `platform server` can be told. Values come from DefaultConfig, then
// the config file (YAML, `--config`), then PLATFORM_* environment variables, then flags;
// Command applies them in that order.
type Config struct {
	// DataDir holds everything the server keeps: the SQLite store, NATS JetStream data,
	// source archives, artifacts, instance logs, the admin token and the secret key.
	DataDir string `yaml:"data"`
	// Addr serves the API, the gateway and /metrics on one address.
	Addr string `yaml:"addr"`
	// Store is "" for SQLite in DataDir, or a postgres:// URL.
	Store string `yaml:"store"`
	// Runtime is the driver that runs instances: "local" (processes on this machine) or
	// "kubernetes" (Deployments on a cluster, images built from source).
	Runtime string `yaml:"runtime"`
	// Kubeconfig locates the cluster of the kubernetes runtime; "" means the in-cluster
	// configuration (the pod's service account).
	Kubeconfig string `yaml:"kubeconfig"`
	// KubeNamespacePrefix prefixes the Kubernetes namespace of each platform namespace
	// (driver default "mp-"). KubeOwner labels everything the driver creates (default
	// "platform"): platforms sharing a cluster need distinct owners and prefixes.
	KubeNamespacePrefix string `yaml:"kube_namespace_prefix"`
	KubeOwner           string `yaml:"kube_owner"`
	// KubeEgressExcept are the address ranges (CIDRs) instances may not reach although the
	// rest of the internet is open to them; nil takes the driver's
	// (kubernetes.DefaultEgressExcept: link-local and private ranges), an empty list none.
	KubeEgressExcept []string `yaml:"kube_egress_except"`
	// KubeMeshNamespace and KubeMeshLabels select the pods instances may reach NATS on
	// through their NetworkPolicy. Defaults: with NATSURL, deploy/kubernetes's mesh pods
	// (micro-platform, app.kubernetes.io/name=platform-mesh, component=mesh); with NATS
	// embedded, the control-plane pods (micro-platform, app.kubernetes.io/name=platform,
	// component=control-plane). The port is NATSURL's (4222 when it has none) or the
	// embedded server's.
	KubeMeshNamespace string            `yaml:"kube_mesh_namespace"`
	KubeMeshLabels    map[string]string `yaml:"kube_mesh_labels"`
	// Registry is the image reference prefix images are pushed to with the kubernetes
	// runtime (e.g. registry.example.com/micro); "" serves the platform's own registry on
	// RegistryAddr, with its data in DataDir.
	Registry string `yaml:"registry"`
	// RegistryAddr is where the platform's own registry listens. Port 0 picks a free port
	// at first start and keeps it in DataDir, because image references carry it.
	RegistryAddr string `yaml:"registry_addr"`
	// NATSHost and NATSPort are where the embedded NATS server listens. Port 0 picks a
	// free port at first start and keeps it in DataDir, because running instances carry
	// the URL in their environment across server restarts.
	NATSHost string `yaml:"nats_host"`
	NATSPort int    `yaml:"nats_port"`
	// NATSURL, when set, is the nats:// URL of a mesh node (`platform mesh`, sharing this
	// server's secret key) used instead of the embedded NATS server: the at-scale switch
	// for messaging. NATSAdvertise is the host:port instances dial when it differs from
	// the address the server uses (e.g. a Kubernetes service name); default: the
	// server's own address of NATS.
	NATSURL       string `yaml:"nats_url"`
	NATSAdvertise string `yaml:"nats_advertise"`
	// MeshGateway, when set (HOST:PORT, port 0 for a free one), joins this region's
	// embedded NATS to the other regions' through a NATS gateway, so a namespace spans
	// regions: its services discover and call each other across them. A region in the
	// mesh has no JetStream (nats-server runs JetStream in a supercluster only clustered).
	// MeshAdvertise is the host[:port] other regions dial, when it differs.
	MeshGateway   string `yaml:"mesh_gateway"`
	MeshAdvertise string `yaml:"mesh_advertise"`
	// GoCache and GoModCache are the build caches; "" uses the host's Go caches.
	GoCache    string `yaml:"go_cache"`
	GoModCache string `yaml:"go_mod_cache"`
	// MaxArchiveBytes bounds uploaded source archives.
	MaxArchiveBytes int64 `yaml:"max_archive_bytes"`
	// BuildConcurrency is how many builds run at once.
	BuildConcurrency int `yaml:"build_concurrency"`
	// BuildWarm compiles go-micro into the build cache in the background at the first
	// start, at idle priority, so the first deploy compiles only its own code (default
	// on; see docs/coldstart.md).
	BuildWarm bool `yaml:"build_warm"`
	// RolloutTimeout is how long a new release has to register and pass its health
	// check before it is marked failed and the old one keeps serving.
	RolloutTimeout time.Duration `yaml:"rollout_timeout"`
	// StopGrace is how long an instance has between SIGTERM and SIGKILL.
	StopGrace time.Duration `yaml:"stop_grace"`
	// GatewayDomain, when set, lets the gateway take the namespace from a host prefix:
	// acme.<GatewayDomain>.
	GatewayDomain string `yaml:"gateway_domain"`
	// LocalRegion names the region the server runs in its own process (default "local").
	// A control plane installed by `platform infra apply` runs its control region, so the
	// region the operator named in platform.yaml is this one, not a second one waiting for
	// an agent. Set it before the first deploy: placements name it.
	LocalRegion string `yaml:"local_region"`
	// GitHub turns on sign-in with GitHub and team sync when its client_id is set. Its
	// secrets come from the environment only (PLATFORM_GITHUB_CLIENT_SECRET,
	// PLATFORM_GITHUB_SYNC_TOKEN, PLATFORM_GITHUB_WEBHOOK_SECRET); the file may not hold
	// them. Organisations link GitHub teams with `platform users` owners' API
	// (/v1/org/github).
	GitHub GitHubConfig `yaml:"github"`
	// PublicURL is the platform's address as GitHub and users reach it
	// (https://platform.example.com): webhooks of repository links point at it, commit
	// statuses and preview comments link to it. Empty: links print the webhook to add by
	// hand with a placeholder address.
	PublicURL string `yaml:"public_url"`
	// TLSCert and TLSKey, both set, make the API, gateway, dashboard and the developers'
	// mesh tunnel (`platform connect`) serve HTTPS with that certificate and key (PEM
	// files; read again within a minute of a change, so a renewed certificate needs no
	// restart). Empty: plain HTTP, for a server behind a TLS-terminating load balancer or
	// on one machine.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// MaxPreviews caps the pull-request preview namespaces of one organisation
	// (default 5).
	MaxPreviews int `yaml:"max_previews"`
	// Sandbox confines the local runtime's instances: "auto" (default) as far as the host
	// allows, saying at start and in `platform regions` what it lacks; "required" refuses
	// to start unless all of it works; "off" runs instances unconfined. See docs/security.md.
	Sandbox string `yaml:"sandbox"`
	// SandboxBridge and SandboxSubnet are the instances' network: a bridge (default mp0)
	// and an IPv4 subnet that must not clash with the host's (default 10.213.0.0/16).
	SandboxBridge string `yaml:"sandbox_bridge"`
	SandboxSubnet string `yaml:"sandbox_subnet"`
	// SandboxUIDBase is the first user ID of namespaces (default 200000): each namespace's
	// instances run as a user of their own from there up.
	SandboxUIDBase int `yaml:"sandbox_uid_base"`
	// UnsandboxedTenants lets a server whose sandbox is incomplete hold several
	// organisations, whose code can then reach each other's. Off by default: such a server
	// refuses to start with more than one.
	UnsandboxedTenants bool `yaml:"unsandboxed_tenants"`
	// RegionTokensFile, when set, names a JSON file of the regions whose agents
	// `platform infra apply` installed, each with the SHA-256 of its token (and its
	// provider and location): the server creates or updates them at start, so those
	// agents connect without a token issued through the API (control.ParseRegionSeeds
	// has the format). On Kubernetes it is the Secret platform-region-tokens, mounted
	// optional: a missing file seeds nothing.
	RegionTokensFile string `yaml:"region_tokens_file"`
	// Alerting configures the alert engine, on by default (see docs/alerting.md).
	Alerting AlertingConfig `yaml:"alerting"`
	// MeterInterval is how often the control plane meters instance-seconds (whole
	// minutes of running instances) and build-seconds; default 1m.
	MeterInterval time.Duration `yaml:"meter_interval"`
	// Billing configures plans, quotas, invoices and the export to Stripe (see
	// docs/billing.md); usage is metered either way.
	Billing BillingConfig `yaml:"billing"`
	// LogLevel is debug, info, warn or error; LogFormat is text or json.
	LogLevel  string `yaml:"log_level"`
	LogFormat string `yaml:"log_format"`
}

// GitHubConfig configures the GitHub OAuth app and team sync (see package github).
type GitHubConfig struct {
	ClientID    string `yaml:"client_id"`
	RedirectURL string `yaml:"redirect_url"`
	// WebURL and APIURL point at GitHub Enterprise; empty means github.com.
	WebURL       string        `yaml:"web_url"`
	APIURL       string        `yaml:"api_url"`
	SyncInterval time.Duration `yaml:"sync_interval"`
	// Organizations maps GitHub organisation logins to the platform organisation whose
	// owners may link their teams, e.g. {acme-inc: default}. The sync reads linked teams
	// with the operator's token, so without this an owner could copy another company's
	// private team membership. Empty: any GitHub organisation, linked by the default
	// organisation only (a single-tenant install).
	Organizations map[string]string `yaml:"organizations"`
	// OIDCAudience turns on GitHub Actions sign-in (`platform login --github-oidc`): the
	// audience the jobs ask their OIDC token for, e.g. "micro-platform". OIDCIssuer is
	// GitHub's issuer unless set (GitHub Enterprise, tests).
	OIDCAudience string `yaml:"oidc_audience"`
	OIDCIssuer   string `yaml:"oidc_issuer"`

	// RepoToken is the operator's GitHub token for linked repositories (environment
	// only: PLATFORM_GITHUB_REPO_TOKEN): it fetches private repositories, installs the
	// links' webhooks, posts commit statuses and preview comments. Without it public
	// repositories still deploy and nothing is posted.
	RepoToken     string `yaml:"-"`
	ClientSecret  string `yaml:"-"`
	SyncToken     string `yaml:"-"`
	WebhookSecret string `yaml:"-"`
}

// AlertingConfig configures the alert engine (package alerting) and its senders.
type AlertingConfig struct {
	// Disabled turns alerting off: no rules are evaluated and nothing is sent.
	Disabled bool `yaml:"disabled"`
	// AllowPrivateNetworks lets channels deliver to loopback and private addresses (a
	// mail relay or webhook receiver on the operator's own network, tests). Off by
	// default: organisations configure channels, and the platform must not connect to
	// its own network for them.
	AllowPrivateNetworks bool `yaml:"allow_private_networks"`
	// MaxAttempts is how many times a notification is tried before it is dead-lettered
	// (default 8: retried with exponential backoff from 1 s for about 4 minutes).
	MaxAttempts int `yaml:"max_attempts"`
	// CrashLoopSettle is how long a crash-looping service must stay up before its alert
	// resolves (default 1m).
	CrashLoopSettle time.Duration `yaml:"crash_loop_settle"`
}

// BillingConfig configures billing (packages billing, billing/stripe). Off by default:
// a platform of one's own meters usage and shows it, but refuses and charges nothing
// until billing is enabled.
type BillingConfig struct {
	// Enabled puts every organisation on a plan (Plans.Default unless assigned
	// another), enforces the plans' quotas and spend limits and makes invoices at each
	// period's end.
	Enabled bool `yaml:"enabled"`
	// Plans is the catalog of plans; empty means billing.DefaultPlans (free, pro,
	// enterprise).
	Plans *billing.Plans `yaml:"plans"`
	// StripeURL is the Stripe API's base URL (stripe-mock in tests); "" is Stripe's.
	StripeURL string `yaml:"stripe_url"`
	// StripeKey is read from PLATFORM_STRIPE_KEY only, never from the file; without it
	// invoices are made but not exported.
	StripeKey string `yaml:"-"`
}

// PlanCatalog returns the configured plans, or billing.DefaultPlans when none are.
func (b BillingConfig) PlanCatalog() billing.Plans {
	if b.Plans != nil && len(b.Plans.Catalog) > 0 {
		return *b.Plans
	}
	return billing.DefaultPlans()
}

// Enabled reports whether GitHub sign-in is configured.
func (g GitHubConfig) Enabled() bool { return g.ClientID != "" }

// Runtimes the server can run instances with.
const (
	RuntimeLocal      = "local"
	RuntimeKubernetes = "kubernetes"
)

// DefaultConfig returns the embedded default: everything in one process, state under the
// user's data directory.
func DefaultConfig() Config {
	return Config{
		DataDir:          defaultDataDir(),
		Addr:             "127.0.0.1:8080",
		Runtime:          RuntimeLocal,
		LocalRegion:      "local",
		RegistryAddr:     "127.0.0.1:0",
		NATSHost:         "127.0.0.1",
		MaxArchiveBytes:  64 << 20,
		BuildConcurrency: 2,
		BuildWarm:        true,
		RolloutTimeout:   60 * time.Second,
		StopGrace:        10 * time.Second,
		Sandbox:          SandboxAuto,
		LogLevel:         "info",
		LogFormat:        "text",
	}
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "micro-platform")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "micro-platform")
	}
	return "micro-platform-data"
}

// LoadFile applies a YAML config file on top of c. Unknown keys are an error.
func (c *Config) LoadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return platform.Errorf(platform.EINVALID, "config file %s: %v", path, err)
	}
	return nil
}

// ApplyEnv applies PLATFORM_* variables from env (as returned by os.Environ) on top of c.
func (c *Config) ApplyEnv(env []string) error {
	var errs []error
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "PLATFORM_") {
			continue
		}
		switch k {
		case "PLATFORM_DATA":
			c.DataDir = v
		case "PLATFORM_ADDR":
			c.Addr = v
		case "PLATFORM_STORE":
			c.Store = v
		case "PLATFORM_RUNTIME":
			c.Runtime = v
		case "PLATFORM_SANDBOX":
			c.Sandbox = v
		case "PLATFORM_SANDBOX_BRIDGE":
			c.SandboxBridge = v
		case "PLATFORM_SANDBOX_SUBNET":
			c.SandboxSubnet = v
		case "PLATFORM_UNSANDBOXED_TENANTS":
			c.UnsandboxedTenants = v == "true" || v == "1"
		case "PLATFORM_KUBECONFIG":
			c.Kubeconfig = v
		case "PLATFORM_KUBE_NAMESPACE_PREFIX":
			c.KubeNamespacePrefix = v
		case "PLATFORM_KUBE_OWNER":
			c.KubeOwner = v
		case "PLATFORM_KUBE_EGRESS_EXCEPT":
			c.KubeEgressExcept = splitList(v)
		case "PLATFORM_KUBE_MESH_NAMESPACE":
			c.KubeMeshNamespace = v
		case "PLATFORM_KUBE_MESH_LABELS":
			l, err := parseLabels(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", k, err))
				continue
			}
			c.KubeMeshLabels = l
		case "PLATFORM_REGISTRY":
			c.Registry = v
		case "PLATFORM_NATS_URL":
			c.NATSURL = v
		case "PLATFORM_MESH_GATEWAY":
			c.MeshGateway = v
		case "PLATFORM_GITHUB_CLIENT_ID":
			c.GitHub.ClientID = v
		case "PLATFORM_GITHUB_CLIENT_SECRET":
			c.GitHub.ClientSecret = v
		case "PLATFORM_GITHUB_SYNC_TOKEN":
			c.GitHub.SyncToken = v
		case "PLATFORM_GITHUB_WEBHOOK_SECRET":
			c.GitHub.WebhookSecret = v
		case "PLATFORM_GITHUB_WEB_URL":
			c.GitHub.WebURL = v
		case "PLATFORM_GITHUB_API_URL":
			c.GitHub.APIURL = v
		case "PLATFORM_GITHUB_REPO_TOKEN":
			c.GitHub.RepoToken = v
		case "PLATFORM_GITHUB_OIDC_AUDIENCE":
			c.GitHub.OIDCAudience = v
		case "PLATFORM_GITHUB_OIDC_ISSUER":
			c.GitHub.OIDCIssuer = v
		case "PLATFORM_PUBLIC_URL":
			c.PublicURL = v
		case "PLATFORM_TLS_CERT":
			c.TLSCert = v
		case "PLATFORM_TLS_KEY":
			c.TLSKey = v
		case "PLATFORM_MAX_PREVIEWS":
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", k, err))
				continue
			}
			c.MaxPreviews = n
		case "PLATFORM_GATEWAY_DOMAIN":
			c.GatewayDomain = v
		case "PLATFORM_LOCAL_REGION":
			c.LocalRegion = v
		case "PLATFORM_REGION_TOKENS_FILE":
			c.RegionTokensFile = v
		case "PLATFORM_BUILD_WARM":
			on, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: want true or false", k))
				continue
			}
			c.BuildWarm = on
		case "PLATFORM_LOG_LEVEL":
			c.LogLevel = v
		case "PLATFORM_LOG_FORMAT":
			c.LogFormat = v
		case "PLATFORM_METER_INTERVAL":
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", k, err))
				continue
			}
			c.MeterInterval = d
		case "PLATFORM_BILLING_ENABLED":
			c.Billing.Enabled = v == "true" || v == "1"
		case "PLATFORM_BILLING_STRIPE_URL":
			c.Billing.StripeURL = v
		case "PLATFORM_STRIPE_KEY":
			c.Billing.StripeKey = v
		case "PLATFORM_ALERTING_DISABLED":
			c.Alerting.Disabled = v == "true" || v == "1"
		case "PLATFORM_ALERTING_ALLOW_PRIVATE_NETWORKS":
			c.Alerting.AllowPrivateNetworks = v == "true" || v == "1"
		case "PLATFORM_ALERTING_MAX_ATTEMPTS":
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", k, err))
				continue
			}
			c.Alerting.MaxAttempts = n
		case "PLATFORM_ALERTING_CRASH_LOOP_SETTLE":
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", k, err))
				continue
			}
			c.Alerting.CrashLoopSettle = d
		case "PLATFORM_ROLLOUT_TIMEOUT":
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", k, err))
				continue
			}
			c.RolloutTimeout = d
		}
	}
	return errors.Join(errs...)
}

// Validate reports every problem with c at once.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data: must not be empty"))
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr %q: want HOST:PORT", c.Addr))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls_cert and tls_key: give both (HTTPS) or neither (HTTP)"))
	}
	if c.Store != "" && !strings.HasPrefix(c.Store, "postgres://") && !strings.HasPrefix(c.Store, "postgresql://") {
		errs = append(errs, fmt.Errorf("store %q: want empty (SQLite in the data dir) or a postgres:// URL", c.Store))
	}
	if err := platform.ValidateName("region", c.LocalRegion); err != nil {
		errs = append(errs, fmt.Errorf("local_region: %s", platform.ErrorMessage(err)))
	}
	switch c.Runtime {
	case RuntimeLocal:
	case RuntimeKubernetes:
		if c.Registry != "" && (strings.Contains(c.Registry, "://") || strings.HasSuffix(c.Registry, "/")) {
			errs = append(errs, fmt.Errorf("registry %q: want an image reference prefix such as registry.example.com/micro", c.Registry))
		}
		if c.Registry == "" {
			if _, _, err := net.SplitHostPort(c.RegistryAddr); err != nil {
				errs = append(errs, fmt.Errorf("registry_addr %q: want HOST:PORT", c.RegistryAddr))
			}
		}
		errs = append(errs, c.validateKube()...)
	default:
		errs = append(errs, fmt.Errorf("runtime %q: supported runtimes are: %s, %s", c.Runtime, RuntimeLocal, RuntimeKubernetes))
	}
	switch c.Sandbox {
	case SandboxAuto, SandboxRequired, SandboxOff:
	default:
		errs = append(errs, fmt.Errorf("sandbox %q: want auto, required or off", c.Sandbox))
	}
	if c.SandboxSubnet != "" {
		if _, err := netip.ParsePrefix(c.SandboxSubnet); err != nil {
			errs = append(errs, fmt.Errorf("sandbox_subnet %q: want an IPv4 CIDR such as 10.213.0.0/16", c.SandboxSubnet))
		}
	}
	if c.SandboxUIDBase < 0 {
		errs = append(errs, fmt.Errorf("sandbox_uid_base %d: must not be negative", c.SandboxUIDBase))
	}
	if c.NATSURL != "" {
		if _, err := natsURLPort(c.NATSURL); err != nil {
			errs = append(errs, fmt.Errorf("nats_url %q: want a nats:// URL of a mesh node", c.NATSURL))
		}
	}
	if c.NATSPort < 0 || c.NATSPort > 65535 {
		errs = append(errs, fmt.Errorf("nats_port %d: out of range", c.NATSPort))
	}
	if c.MaxArchiveBytes <= 0 {
		errs = append(errs, errors.New("max_archive_bytes: must be positive"))
	}
	if c.BuildConcurrency < 1 {
		errs = append(errs, errors.New("build_concurrency: must be at least 1"))
	}
	if c.RolloutTimeout <= 0 {
		errs = append(errs, errors.New("rollout_timeout: must be positive"))
	}
	if c.MeterInterval < 0 || c.MeterInterval > time.Hour {
		errs = append(errs, fmt.Errorf("meter_interval %s: use up to 1h (0 is the default, 1m)", c.MeterInterval))
	}
	if p := c.Billing.Plans; p != nil {
		p.Normalize()
		if err := p.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("billing.plans: %w", err))
		}
	}
	if u := c.Billing.StripeURL; u != "" {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			errs = append(errs, fmt.Errorf("billing.stripe_url %q: want http(s)://HOST[:PORT]", u))
		}
	}
	if c.Alerting.MaxAttempts < 0 || c.Alerting.MaxAttempts > 50 {
		errs = append(errs, fmt.Errorf("alerting.max_attempts %d: use 1 to 50 (0 is the default, 8)", c.Alerting.MaxAttempts))
	}
	if c.Alerting.CrashLoopSettle < 0 {
		errs = append(errs, fmt.Errorf("alerting.crash_loop_settle %s: must not be negative", c.Alerting.CrashLoopSettle))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log_format %q: want text or json", c.LogFormat))
	}
	for _, gh := range slices.Sorted(maps.Keys(c.GitHub.Organizations)) {
		org := c.GitHub.Organizations[gh]
		if gh == "" {
			errs = append(errs, errors.New("github.organizations: a GitHub organisation login is empty"))
		}
		if err := platform.ValidateName("organisation", org); err != nil {
			errs = append(errs, fmt.Errorf("github.organizations[%s]: %s", gh, platform.ErrorMessage(err)))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return platform.Errorf(platform.EINVALID, "invalid server configuration:\n%v", err)
	}
	return nil
}

// validateKube reports the problems with the kubernetes runtime's egress settings.
func (c *Config) validateKube() []error {
	var errs []error
	for _, cidr := range c.KubeEgressExcept {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			errs = append(errs, fmt.Errorf("kube_egress_except %q: want an address range in CIDR notation, e.g. 10.0.0.0/8", cidr))
		}
	}
	if c.KubeMeshNamespace != "" {
		if msgs := validation.IsDNS1123Label(c.KubeMeshNamespace); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("kube_mesh_namespace %q: %s", c.KubeMeshNamespace, strings.Join(msgs, "; ")))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.KubeMeshLabels)) {
		msgs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(c.KubeMeshLabels[k])...)
		if len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("kube_mesh_labels %s=%q: %s", k, c.KubeMeshLabels[k], strings.Join(msgs, "; ")))
		}
	}
	return errs
}

// natsURLPort returns the port of a nats:// or tls:// URL, 4222 when it names none.
func natsURLPort(s string) (int32, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Hostname() == "" {
		return 0, errors.New("want nats://HOST[:PORT]")
	}
	if u.Port() == "" {
		return 4222, nil
	}
	p, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("port %q out of range", u.Port())
	}
	return int32(p), nil
}

// splitList splits a comma-separated environment value, dropping blanks; "" is an empty,
// not a nil, list.
func splitList(v string) []string {
	list := []string{}
	for f := range strings.SplitSeq(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			list = append(list, f)
		}
	}
	return list
}

// parseLabels parses "k=v,k2=v2".
func parseLabels(v string) (map[string]string, error) {
	l := map[string]string{}
	for _, kv := range splitList(v) {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%q: want KEY=VALUE pairs separated by commas", kv)
		}
		l[strings.TrimSpace(k)] = strings.TrimSpace(val)
	}
	return l, nil
}
