package infra

// Provider kinds a region may use.
const (
	ProviderDigitalOcean = "digitalocean"
	ProviderAWS          = "aws"
	ProviderAzure        = "azure"
	ProviderGCP          = "gcp"
	ProviderLocal        = "local"
	// ProviderExisting is a cluster that exists already, reached with a kubeconfig file:
	// platform infra creates nothing but the platform's install on it (module existing).
	ProviderExisting = "existing"
)

// State backends the engine keeps each region's state in.
const (
	BackendS3      = "s3"
	BackendGCS     = "gcs"
	BackendAzureRM = "azurerm"
	BackendPG      = "pg"
	BackendLocal   = "local"
)

// DNS providers that load-balance the platform's hostname across regions.
const (
	DNSCloudflare = "cloudflare"
	// DNSLocal models the load balancer with the engine's built-in terraform_data
	// resource (module dns-local), for tests and trials without a DNS provider.
	DNSLocal = "local"
)

// DNSProviders lists the DNS providers platform.dns.provider may name.
func DNSProviders() []string { return []string{DNSCloudflare, DNSLocal} }

// Defaults applied by [Parse] to whatever the file leaves out. The package comment holds
// the same table for readers; keep the two in step.
const (
	DefaultLocalStatePath     = ".platform/state"
	DefaultLocalLocation      = "local"
	DefaultExistingLocation   = "existing"
	DefaultNodesMin           = 1
	DefaultNodesMax           = 3
	DefaultNetwork            = "10.10.0.0/16"
	DefaultKubernetesVersion  = "1.31"
	defaultStatePrefixPattern = "platform/%s"
	defaultPGSchemaPattern    = "platform_%s"
)

// DefaultNodeSize maps each provider to the node size used when nodes.size is not set.
var DefaultNodeSize = map[string]string{
	ProviderDigitalOcean: "s-2vcpu-4gb",
	ProviderAWS:          "t3.large",
	ProviderAzure:        "Standard_D4s_v5",
	ProviderGCP:          "e2-standard-4",
	ProviderLocal:        "local",
	// An existing cluster's nodes are its owner's: the value only fills the field.
	ProviderExisting: "existing",
}

// DefaultSecurity is the security of a cloud region that sets no switch: every
// protection on, and no network allowed to the API until the operator names one.
func DefaultSecurity() Security {
	return Security{PrivateNodes: true, EnvelopeEncryption: true, FlowLogs: true, MetadataConcealment: true}
}

// providerEnv lists, per provider kind, the environment variables its credentials come from.
var providerEnv = map[string][]string{
	ProviderDigitalOcean: {"DIGITALOCEAN_TOKEN"},
	ProviderAWS:          {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"},
	ProviderAzure:        {"ARM_SUBSCRIPTION_ID", "ARM_TENANT_ID", "ARM_CLIENT_ID", "ARM_CLIENT_SECRET"},
	ProviderGCP:          {"GOOGLE_CREDENTIALS", "GOOGLE_PROJECT"},
	DNSCloudflare:        {"CLOUDFLARE_API_TOKEN"},
	ProviderLocal:        nil,
	ProviderExisting:     nil, // the kubeconfig file holds them
}

// stateEnv lists, per state backend, the environment variables its credentials come from.
var stateEnv = map[string][]string{
	BackendS3:      providerEnv[ProviderAWS],
	BackendGCS:     {"GOOGLE_CREDENTIALS"},
	BackendAzureRM: {"ARM_SUBSCRIPTION_ID", "ARM_TENANT_ID", "ARM_CLIENT_ID", "ARM_CLIENT_SECRET", "ARM_ACCESS_KEY"},
	BackendPG:      {EnvPGConn},
	BackendLocal:   nil,
}

// EnvPGConn holds the PostgreSQL connection string of the pg state backend; the driver
// hands it to the engine as PG_CONN_STR.
const EnvPGConn = "PLATFORM_INFRA_PG_CONN"

// ProviderEnv returns the environment variables the credentials of a provider kind (or of
// "cloudflare") are read from. It returns nil for local and for unknown kinds.
func ProviderEnv(kind string) []string {
	return append([]string(nil), providerEnv[kind]...)
}

// StateEnv returns the environment variables the credentials of a state backend are read
// from. It returns nil for local and for unknown backends.
func StateEnv(backend string) []string {
	return append([]string(nil), stateEnv[backend]...)
}
