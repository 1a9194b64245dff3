package server

import (
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

// commandFlags are the flags of `platform server`: the ones it shares with the agent and
// its own; only those set on the command line override the config file and the
// environment.
type commandFlags struct {
	hostFlags
	addr          string
	store         string
	natsURL       string
	gatewayDomain string
	buildWarm     bool
	tlsCert       string
	tlsKey        string
}

// register defines the flags on cmd.
func (cf *commandFlags) register(cmd *cobra.Command) {
	cf.hostFlags.register(cmd, hostHelp{
		config:   "YAML config file",
		data:     "data directory (default ~/.local/share/micro-platform)",
		registry: "image reference prefix for the kubernetes runtime (default: the platform's own registry)",
		natsPort: "port of the embedded NATS server (default: a free port, kept across restarts)",
	})
	f := cmd.Flags()
	f.StringVar(&cf.addr, "addr", "", "HOST:PORT of the API and gateway (default 127.0.0.1:8080)")
	f.StringVar(&cf.store, "store", "", "postgres:// URL of the store (default SQLite in the data directory)")
	f.StringVar(&cf.natsURL, "nats-url", "", "nats:// URL of a mesh node (`platform mesh`) instead of the embedded NATS server")
	f.StringVar(&cf.gatewayDomain, "gateway-domain", "", "route NAMESPACE.DOMAIN hosts to namespaces")
	f.StringVar(&cf.tlsCert, "tls-cert", "", "PEM certificate file: serve HTTPS (with --tls-key)")
	f.StringVar(&cf.tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
	f.BoolVar(&cf.buildWarm, "build-warm", true, "compile go-micro into the build cache in the background at first start, at idle priority")
}

// resolve returns the server's configuration: defaults < file < env < flags.
func (cf *commandFlags) resolve(cmd *cobra.Command, env []string) (Config, error) {
	cfg := DefaultConfig()
	if err := cf.load(cmd, env, &cfg); err != nil {
		return cfg, err
	}
	changed := func(name string) bool { return cmd.Flags().Changed(name) }
	if changed("addr") {
		cfg.Addr = cf.addr
	}
	if changed("store") {
		cfg.Store = cf.store
	}
	if changed("nats-url") {
		cfg.NATSURL = cf.natsURL
	}
	if changed("gateway-domain") {
		cfg.GatewayDomain = cf.gatewayDomain
	}
	if changed("build-warm") {
		cfg.BuildWarm = cf.buildWarm
	}
	if changed("tls-cert") {
		cfg.TLSCert = cf.tlsCert
	}
	if changed("tls-key") {
		cfg.TLSKey = cf.tlsKey
	}
	return cfg, cfg.Validate()
}
