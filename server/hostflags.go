package server

import (
	"time"

	"github.com/spf13/cobra"
)

// hostFlags are the flags `platform server` and `platform agent` share: the config file
// and the settings of the machine that runs instances (data dir, runtime, sandbox, NATS,
// logs). Only those set on the command line override the file and the environment.
type hostFlags struct {
	config         string
	data           string
	runtime        string
	kubeconfig     string
	registry       string
	natsPort       int
	meshGateway    string
	logLevel       string
	logFormat      string
	rolloutTimeout time.Duration
	sandbox        string
	sandboxBridge  string
	sandboxSubnet  string
}

// hostHelp is what the help of the shared flags says differently for each command.
type hostHelp struct {
	config, data, registry, natsPort string
}

// register defines the shared flags on cmd.
func (hf *hostFlags) register(cmd *cobra.Command, h hostHelp) {
	f := cmd.Flags()
	f.StringVar(&hf.config, "config", "", h.config)
	f.StringVar(&hf.data, "data", "", h.data)
	f.StringVar(&hf.runtime, "runtime", "", "runtime driver that runs instances: local or kubernetes (default local)")
	f.StringVar(&hf.kubeconfig, "kubeconfig", "", "kubeconfig of the kubernetes runtime's cluster (default: in-cluster)")
	f.StringVar(&hf.registry, "registry", "", h.registry)
	f.IntVar(&hf.natsPort, "nats-port", 0, h.natsPort)
	f.StringVar(&hf.meshGateway, "mesh-gateway", "", "HOST:PORT of the NATS gateway that joins the regions' NATS, so namespaces span regions (default: off)")
	f.StringVar(&hf.logLevel, "log-level", "", "debug, info, warn or error (default info)")
	f.StringVar(&hf.logFormat, "log-format", "", "text or json (default text)")
	f.DurationVar(&hf.rolloutTimeout, "rollout-timeout", 0, "how long a new release has to become healthy (default 60s)")
	f.StringVar(&hf.sandbox, "sandbox", "", "confine instances of the local runtime: auto, required or off (default auto)")
	f.StringVar(&hf.sandboxBridge, "sandbox-bridge", "", "bridge of the instances' network (default mp0)")
	f.StringVar(&hf.sandboxSubnet, "sandbox-subnet", "", "IPv4 subnet of the instances' network (default 10.213.0.0/16)")
}

// load layers cfg: the file of --config, then PLATFORM_* variables of env, then the
// shared flags set on cmd's command line.
func (hf *hostFlags) load(cmd *cobra.Command, env []string, cfg *Config) error {
	if hf.config != "" {
		if err := cfg.LoadFile(hf.config); err != nil {
			return err
		}
	}
	if err := cfg.ApplyEnv(env); err != nil {
		return err
	}
	for name, set := range map[string]func(){
		"data":            func() { cfg.DataDir = hf.data },
		"runtime":         func() { cfg.Runtime = hf.runtime },
		"kubeconfig":      func() { cfg.Kubeconfig = hf.kubeconfig },
		"registry":        func() { cfg.Registry = hf.registry },
		"nats-port":       func() { cfg.NATSPort = hf.natsPort },
		"mesh-gateway":    func() { cfg.MeshGateway = hf.meshGateway },
		"log-level":       func() { cfg.LogLevel = hf.logLevel },
		"log-format":      func() { cfg.LogFormat = hf.logFormat },
		"rollout-timeout": func() { cfg.RolloutTimeout = hf.rolloutTimeout },
		"sandbox":         func() { cfg.Sandbox = hf.sandbox },
		"sandbox-bridge":  func() { cfg.SandboxBridge = hf.sandboxBridge },
		"sandbox-subnet":  func() { cfg.SandboxSubnet = hf.sandboxSubnet },
	} {
		if cmd.Flags().Changed(name) {
			set()
		}
	}
	return nil
}
