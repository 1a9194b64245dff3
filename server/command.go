package server

import (
	"time"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
)

// Command returns `platform server`, which runs Run until its context ends. env is the
// environment as os.Environ returns it. cmd/platform adds it to the CLI's verbs (cli.Verb),
// so that package cli, a client of the API, does not import the server.
func Command(env []string) *cobra.Command {
	var cf commandFlags
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the platform: API, gateway, builder and runtime in one process",
		Long: "server runs the whole platform in this process until interrupted. Settings come from\n" +
			"the defaults, then --config FILE (YAML), then PLATFORM_* environment variables, then\n" +
			"flags. At first start it prints the admin token.",
		Example: `  platform server
  platform server --data /var/lib/micro-platform --addr 0.0.0.0:8080
  platform server --config /etc/micro-platform.yaml --store postgres://localhost/platform
  platform server --runtime kubernetes --kubeconfig ~/.kube/config --registry registry.example.com/micro`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				// The CLI's wording for a verb given arguments it does not take.
				return platform.Errorf(platform.EINVALID, "%s: expected no arguments, got %d argument(s)",
					cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := cf.resolve(cmd, env)
			if err != nil {
				return err
			}
			return Run(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	cf.register(cmd)
	return cmd
}

// commandFlags are the flags of `platform server`; only those set on the command line
// override the config file and the environment.
type commandFlags struct {
	config         string
	data           string
	addr           string
	store          string
	runtime        string
	sandbox        string
	sandboxBridge  string
	sandboxSubnet  string
	kubeconfig     string
	registry       string
	natsPort       int
	natsURL        string
	meshGateway    string
	gatewayDomain  string
	logLevel       string
	logFormat      string
	rolloutTimeout time.Duration
}

// register defines the flags on cmd.
func (cf *commandFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&cf.config, "config", "", "YAML config file")
	f.StringVar(&cf.data, "data", "", "data directory (default ~/.local/share/micro-platform)")
	f.StringVar(&cf.addr, "addr", "", "HOST:PORT of the API and gateway (default 127.0.0.1:8080)")
	f.StringVar(&cf.store, "store", "", "postgres:// URL of the store (default SQLite in the data directory)")
	f.StringVar(&cf.runtime, "runtime", "", "runtime driver that runs instances: local or kubernetes (default local)")
	f.StringVar(&cf.kubeconfig, "kubeconfig", "", "kubeconfig of the kubernetes runtime's cluster (default: in-cluster)")
	f.StringVar(&cf.registry, "registry", "", "image reference prefix for the kubernetes runtime (default: the platform's own registry)")
	f.IntVar(&cf.natsPort, "nats-port", 0, "port of the embedded NATS server (default: a free port, kept across restarts)")
	f.StringVar(&cf.natsURL, "nats-url", "", "nats:// URL of a mesh node (`platform mesh`) instead of the embedded NATS server")
	f.StringVar(&cf.meshGateway, "mesh-gateway", "", "HOST:PORT of the NATS gateway that joins the regions' NATS, so namespaces span regions (default: off)")
	f.StringVar(&cf.gatewayDomain, "gateway-domain", "", "route NAMESPACE.DOMAIN hosts to namespaces")
	f.StringVar(&cf.logLevel, "log-level", "", "debug, info, warn or error (default info)")
	f.StringVar(&cf.logFormat, "log-format", "", "text or json (default text)")
	f.DurationVar(&cf.rolloutTimeout, "rollout-timeout", 0, "how long a new release has to become healthy (default 60s)")
	f.StringVar(&cf.sandbox, "sandbox", "", "confine instances of the local runtime: auto, required or off (default auto)")
	f.StringVar(&cf.sandboxBridge, "sandbox-bridge", "", "bridge of the instances' network (default mp0)")
	f.StringVar(&cf.sandboxSubnet, "sandbox-subnet", "", "IPv4 subnet of the instances' network (default 10.213.0.0/16)")
}

// resolve returns the server's configuration: defaults < file < env < flags.
func (cf *commandFlags) resolve(cmd *cobra.Command, env []string) (Config, error) {
	cfg := DefaultConfig()
	if cf.config != "" {
		if err := cfg.LoadFile(cf.config); err != nil {
			return cfg, err
		}
	}
	if err := cfg.ApplyEnv(env); err != nil {
		return cfg, err
	}
	changed := func(name string) bool { return cmd.Flags().Changed(name) }
	if changed("data") {
		cfg.DataDir = cf.data
	}
	if changed("addr") {
		cfg.Addr = cf.addr
	}
	if changed("store") {
		cfg.Store = cf.store
	}
	if changed("runtime") {
		cfg.Runtime = cf.runtime
	}
	if changed("kubeconfig") {
		cfg.Kubeconfig = cf.kubeconfig
	}
	if changed("registry") {
		cfg.Registry = cf.registry
	}
	if changed("nats-port") {
		cfg.NATSPort = cf.natsPort
	}
	if changed("mesh-gateway") {
		cfg.MeshGateway = cf.meshGateway
	}
	if changed("nats-url") {
		cfg.NATSURL = cf.natsURL
	}
	if changed("gateway-domain") {
		cfg.GatewayDomain = cf.gatewayDomain
	}
	if changed("log-level") {
		cfg.LogLevel = cf.logLevel
	}
	if changed("log-format") {
		cfg.LogFormat = cf.logFormat
	}
	if changed("rollout-timeout") {
		cfg.RolloutTimeout = cf.rolloutTimeout
	}
	if changed("sandbox") {
		cfg.Sandbox = cf.sandbox
	}
	if changed("sandbox-bridge") {
		cfg.SandboxBridge = cf.sandboxBridge
	}
	if changed("sandbox-subnet") {
		cfg.SandboxSubnet = cf.sandboxSubnet
	}
	return cfg, cfg.Validate()
}
