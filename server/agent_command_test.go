package server

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

const agentSecret = "mpr_s3cr3t-region-token"

// TestAgentCommandConfig checks defaults < file < env < flags for the agent, its own
// settings and the data directory it defaults to.
func TestAgentCommandConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(file, []byte("log_level: debug\nnats_port: 4333\nsandbox_bridge: mp1\ndata: "+dir+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--region", "fra1", "--control", "https://cp.example"}
	tests := []struct {
		name    string
		env     []string
		args    []string
		check   func(AgentConfig) bool
		wantErr []string
	}{
		{name: "defaults", args: base, env: []string{envRegionToken + "=" + agentSecret},
			check: func(c AgentConfig) bool {
				return c.Region == "fra1" && c.Control == "https://cp.example" && c.Token == agentSecret &&
					c.GatewayAddr == DefaultAgentGatewayAddr && c.DataDir == defaultDataDir()+"-agent-fra1" &&
					c.Runtime == RuntimeLocal && c.LogLevel == "info" && c.Sandbox == SandboxAuto
			}},
		{name: "file over defaults", args: append([]string{"--config", file, "--token", agentSecret}, base...),
			check: func(c AgentConfig) bool {
				return c.DataDir == dir && c.LogLevel == "debug" && c.NATSPort == 4333 && c.SandboxBridge == "mp1"
			}},
		{name: "env over file", args: append([]string{"--config", file}, base...),
			env: []string{"PLATFORM_LOG_LEVEL=warn", "PLATFORM_DATA=/srv/fra1", "PLATFORM_SANDBOX_SUBNET=10.214.0.0/16", envRegionToken + "=" + agentSecret},
			check: func(c AgentConfig) bool {
				return c.LogLevel == "warn" && c.DataDir == "/srv/fra1" && c.SandboxSubnet == "10.214.0.0/16" && c.SandboxBridge == "mp1"
			}},
		{name: "flags over env", args: append([]string{"--config", file, "--token", "from-flag", "--gateway-addr", "0.0.0.0:9091",
			"--data", "/srv/agent", "--sandbox", "off", "--sandbox-bridge", "mp2", "--sandbox-subnet", "10.215.0.0/16",
			"--nats-port", "4444", "--log-level", "error", "--log-format", "json"}, base...),
			env: []string{"PLATFORM_LOG_LEVEL=warn", "PLATFORM_DATA=/srv/fra1", envRegionToken + "=" + agentSecret},
			check: func(c AgentConfig) bool {
				return c.Token == "from-flag" && c.GatewayAddr == "0.0.0.0:9091" && c.DataDir == "/srv/agent" && c.Sandbox == SandboxOff &&
					c.SandboxBridge == "mp2" && c.SandboxSubnet == "10.215.0.0/16" && c.NATSPort == 4444 && c.LogLevel == "error" && c.LogFormat == "json"
			}},
		{name: "the kubernetes runtime", args: append([]string{"--token", agentSecret, "--runtime", "kubernetes", "--kubeconfig", "/etc/kube/config",
			"--registry", "registry.example.com/micro", "--rollout-timeout", "90s"}, base...),
			check: func(c AgentConfig) bool {
				return c.Runtime == RuntimeKubernetes && c.Kubeconfig == "/etc/kube/config" && c.Registry == "registry.example.com/micro" &&
					c.RolloutTimeout == 90*time.Second
			}},
		{name: "an unknown runtime", args: append([]string{"--token", agentSecret, "--runtime", "docker"}, base...),
			wantErr: []string{`runtime "docker"`}},
		{name: "every problem at once", args: []string{"--control", "cp.example:8080", "--log-format", "xml"},
			wantErr: []string{`invalid region name ""`, `control "cp.example:8080"`, "token: the region token is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var af agentFlags
			cmd := &cobra.Command{}
			af.register(cmd)
			if err := cmd.ParseFlags(tt.args); err != nil {
				t.Fatal(err)
			}
			cfg, err := af.resolve(cmd, tt.env)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatal("resolved, want an error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("err = %v, want it to name %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(cfg) {
				t.Errorf("config %+v", cfg)
			}
		})
	}
}

// TestAgentCommandNeverShowsTheToken runs the command with a configuration it refuses
// and asks for its help: neither shows the token.
func TestAgentCommandNeverShowsTheToken(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		args []string
		env  []string
	}{
		{name: "refused config", args: []string{"--region", "fra1", "--control", "https://cp.example", "--token", agentSecret, "--sandbox", "maybe"}},
		{name: "refused config from env", args: []string{"--region", "Fra1", "--control", "https://cp.example"}, env: []string{envRegionToken + "=" + agentSecret}},
		{name: "help", args: []string{"--help"}, env: []string{envRegionToken + "=" + agentSecret}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := AgentCommand(append([]string{"HOME=" + t.TempDir()}, tt.env...))
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(tt.args)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			err := cmd.ExecuteContext(ctx)
			if tt.name != "help" && err == nil {
				t.Fatal("the command ran, want the configuration refused")
			}
			if strings.Contains(out.String(), agentSecret) || err != nil && strings.Contains(err.Error(), agentSecret) {
				t.Fatalf("the token is shown: %v\n%s", err, out.String())
			}
			if tt.name == "help" && !strings.Contains(out.String(), "dials out") {
				t.Errorf("help does not say what the agent does:\n%s", out.String())
			}
		})
	}
}
