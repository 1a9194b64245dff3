package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/micro/platform/server"
)

// serverFlags are the flags of `platform server`; only those set on the command line
// override the config file and the environment.
type serverFlags struct {
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
	gatewayDomain  string
	logLevel       string
	logFormat      string
	rolloutTimeout time.Duration
}

func (a *app) serverCmd() *cobra.Command {
	var sf serverFlags
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
		Args: args(0, 0, "no arguments"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.serverConfig(cmd, sf)
			if err != nil {
				return err
			}
			return server.Run(cmd.Context(), cfg, a.stdout)
		}),
	}
	sf.register(cmd)
	return cmd
}

// register defines the flags on cmd.
func (sf *serverFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&sf.config, "config", "", "YAML config file")
	f.StringVar(&sf.data, "data", "", "data directory (default ~/.local/share/micro-platform)")
	f.StringVar(&sf.addr, "addr", "", "HOST:PORT of the API and gateway (default 127.0.0.1:8080)")
	f.StringVar(&sf.store, "store", "", "postgres:// URL of the store (default SQLite in the data directory)")
	f.StringVar(&sf.runtime, "runtime", "", "runtime driver that runs instances: local or kubernetes (default local)")
	f.StringVar(&sf.kubeconfig, "kubeconfig", "", "kubeconfig of the kubernetes runtime's cluster (default: in-cluster)")
	f.StringVar(&sf.registry, "registry", "", "image reference prefix for the kubernetes runtime (default: the platform's own registry)")
	f.IntVar(&sf.natsPort, "nats-port", 0, "port of the embedded NATS server (default: a free port, kept across restarts)")
	f.StringVar(&sf.natsURL, "nats-url", "", "nats:// URL of a mesh node (`platform mesh`) instead of the embedded NATS server")
	f.StringVar(&sf.gatewayDomain, "gateway-domain", "", "route NAMESPACE.DOMAIN hosts to namespaces")
	f.StringVar(&sf.logLevel, "log-level", "", "debug, info, warn or error (default info)")
	f.StringVar(&sf.logFormat, "log-format", "", "text or json (default text)")
	f.DurationVar(&sf.rolloutTimeout, "rollout-timeout", 0, "how long a new release has to become healthy (default 60s)")
	f.StringVar(&sf.sandbox, "sandbox", "", "confine instances of the local runtime: auto, required or off (default auto)")
	f.StringVar(&sf.sandboxBridge, "sandbox-bridge", "", "bridge of the instances' network (default mp0)")
	f.StringVar(&sf.sandboxSubnet, "sandbox-subnet", "", "IPv4 subnet of the instances' network (default 10.213.0.0/16)")
}

// serverConfig resolves the server's configuration: defaults < file < env < flags.
func (a *app) serverConfig(cmd *cobra.Command, sf serverFlags) (server.Config, error) {
	cfg := server.DefaultConfig()
	if sf.config != "" {
		if err := cfg.LoadFile(sf.config); err != nil {
			return cfg, err
		}
	}
	if err := cfg.ApplyEnv(envSlice(a.env)); err != nil {
		return cfg, err
	}
	changed := func(name string) bool { return cmd.Flags().Changed(name) }
	if changed("data") {
		cfg.DataDir = sf.data
	}
	if changed("addr") {
		cfg.Addr = sf.addr
	}
	if changed("store") {
		cfg.Store = sf.store
	}
	if changed("runtime") {
		cfg.Runtime = sf.runtime
	}
	if changed("kubeconfig") {
		cfg.Kubeconfig = sf.kubeconfig
	}
	if changed("registry") {
		cfg.Registry = sf.registry
	}
	if changed("nats-port") {
		cfg.NATSPort = sf.natsPort
	}
	if changed("nats-url") {
		cfg.NATSURL = sf.natsURL
	}
	if changed("gateway-domain") {
		cfg.GatewayDomain = sf.gatewayDomain
	}
	if changed("log-level") {
		cfg.LogLevel = sf.logLevel
	}
	if changed("log-format") {
		cfg.LogFormat = sf.logFormat
	}
	if changed("rollout-timeout") {
		cfg.RolloutTimeout = sf.rolloutTimeout
	}
	if changed("sandbox") {
		cfg.Sandbox = sf.sandbox
	}
	if changed("sandbox-bridge") {
		cfg.SandboxBridge = sf.sandboxBridge
	}
	if changed("sandbox-subnet") {
		cfg.SandboxSubnet = sf.sandboxSubnet
	}
	return cfg, cfg.Validate()
}

// envSlice turns the environment back into os.Environ form.
func envSlice(env map[string]string) []string {
	s := make([]string, 0, len(env))
	for k, v := range env {
		s = append(s, k+"="+v)
	}
	return s
}
