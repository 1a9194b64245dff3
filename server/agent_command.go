package server

import (
	"strings"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
)

// Defaults of `platform agent` that the server has no counterpart of.
const (
	// DefaultAgentGatewayAddr is where a region's gateway listens: beside a server's API
	// on 8080 when both run on one machine.
	DefaultAgentGatewayAddr = "127.0.0.1:8081"
	// envRegionToken holds the region token, so that it need not be on the command line
	// (where the process list shows it).
	envRegionToken = "PLATFORM_REGION_TOKEN"
)

// AgentCommand returns `platform agent`, which runs RunAgent until its context ends. env
// is the environment as os.Environ returns it. cmd/platform adds it to the CLI's verbs
// (cli.Verb), as it does Command.
func AgentCommand(env []string) *cobra.Command {
	var af agentFlags
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a region: its NATS, instances and gateway, managed by a control plane",
		Long: "agent runs one region of the platform on this machine until interrupted. It dials out\n" +
			"to the control plane (--control) with the region's token, so the region needs no inbound\n" +
			"port for it, and runs the region's own NATS, runtime driver (--runtime local: sandboxed\n" +
			"processes; --runtime kubernetes: Deployments on the cluster of --kubeconfig, or the one\n" +
			"it runs in, with images it packs from the control plane's builds into its own registry or\n" +
			"--registry) and gateway (--gateway-addr). The control plane tells it what to run; it\n" +
			"rolls releases out itself and reports back. While the control plane is away the region\n" +
			"keeps serving what it runs and reconnects when it can.\n\n" +
			"Register the region and issue its token first, from a CLI logged in as an admin:\n" +
			"`platform regions create NAME`, then `platform regions token NAME`. Pass the token with\n" +
			"--token or, to keep it out of the process list, in " + envRegionToken + "; it is never\n" +
			"printed or logged.\n\n" +
			"Settings come from the defaults, then --config FILE (the server's YAML: data, sandbox,\n" +
			"NATS and log settings), then PLATFORM_* environment variables, then flags. The data\n" +
			"directory defaults to the server's with \"-agent-REGION\" appended\n" +
			"(~/.local/share/micro-platform-agent-REGION). On a machine that also runs\n" +
			"`platform server` or another agent, give each its own --sandbox-bridge and\n" +
			"--sandbox-subnet.",
		Example: `  platform agent --region fra1 --control https://platform.example.com --token <token>
  PLATFORM_REGION_TOKEN=<token> platform agent --region fra1 --control https://platform.example.com \
      --gateway-addr 0.0.0.0:8081 --data /var/lib/micro-platform-fra1`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				// The CLI's wording for a verb given arguments it does not take.
				return platform.Errorf(platform.EINVALID, "%s: expected no arguments, got %d argument(s)", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := af.resolve(cmd, env)
			if err != nil {
				return err
			}
			return RunAgent(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	af.register(cmd)
	return cmd
}

// agentFlags are the flags of `platform agent`: the ones it shares with the server and
// its own; only those set on the command line override the config file and the
// environment.
type agentFlags struct {
	hostFlags
	region      string
	control     string
	token       string
	gatewayAddr string
}

// register defines the flags on cmd.
func (af *agentFlags) register(cmd *cobra.Command) {
	af.hostFlags.register(cmd, hostHelp{
		config:   "YAML config file (the server's keys: data, runtime, sandbox, NATS, logs)",
		data:     "data directory (default ~/.local/share/micro-platform-agent-REGION)",
		registry: "image reference prefix for the kubernetes runtime (default: the region's own registry)",
		natsPort: "port of the region's NATS server (default: a free port, kept across restarts)",
	})
	f := cmd.Flags()
	f.StringVar(&af.region, "region", "", "the region this agent runs, as registered on the control plane (required)")
	f.StringVar(&af.control, "control", "", "the control plane's URL, e.g. https://platform.example.com (required)")
	f.StringVar(&af.token, "token", "", "the region's token, as 'platform regions token' printed it (env "+envRegionToken+")")
	f.StringVar(&af.gatewayAddr, "gateway-addr", "", "HOST:PORT the region's gateway listens on (default "+DefaultAgentGatewayAddr+")")
}

// resolve returns the agent's configuration: defaults < file < env < flags. The data
// directory is the agent's own unless one of them names it.
func (af *agentFlags) resolve(cmd *cobra.Command, env []string) (AgentConfig, error) {
	cfg := AgentConfig{Config: DefaultConfig(), GatewayAddr: DefaultAgentGatewayAddr}
	cfg.DataDir = ""
	if err := af.load(cmd, env, &cfg.Config); err != nil {
		return cfg, err
	}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == envRegionToken {
			cfg.Token = v
		}
	}
	changed := func(name string) bool { return cmd.Flags().Changed(name) }
	if changed("region") {
		cfg.Region = af.region
	}
	if changed("control") {
		cfg.Control = af.control
	}
	if changed("token") {
		cfg.Token = af.token
	}
	if changed("gateway-addr") {
		cfg.GatewayAddr = af.gatewayAddr
	}
	if cfg.DataDir == "" {
		// Beside the server's, so that an agent and a server on one machine never share
		// state (NATS data, instances, the data dir's lock).
		cfg.DataDir = defaultDataDir() + "-agent-" + cfg.Region
	}
	return cfg, cfg.Validate()
}
