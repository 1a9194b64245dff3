package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// TestCommandConfig checks defaults < file < env < flags, and that only flags actually
// given override.
func TestCommandConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "platform.yaml")
	os.WriteFile(file, []byte("addr: 127.0.0.1:7001\nlog_level: debug\nnats_port: 4333\nrollout_timeout: 30s\ndata: "+dir+"\n"), 0o600)
	tests := []struct {
		name    string
		env     []string
		args    []string
		check   func(Config) bool
		wantErr string
	}{
		{name: "defaults", args: []string{"--data", dir},
			check: func(c Config) bool {
				return c.Addr == "127.0.0.1:8080" && c.LogLevel == "info" && c.Runtime == "local"
			}},
		{name: "file over defaults", args: []string{"--config", file},
			check: func(c Config) bool {
				return c.Addr == "127.0.0.1:7001" && c.LogLevel == "debug" && c.NATSPort == 4333 && c.RolloutTimeout == 30*time.Second && c.DataDir == dir
			}},
		{name: "env over file", args: []string{"--config", file}, env: []string{"PLATFORM_ADDR=127.0.0.1:7002", "PLATFORM_ROLLOUT_TIMEOUT=45s"},
			check: func(c Config) bool {
				return c.Addr == "127.0.0.1:7002" && c.RolloutTimeout == 45*time.Second && c.LogLevel == "debug"
			}},
		{name: "flags over env", args: []string{"--config", file, "--addr", "127.0.0.1:7003", "--rollout-timeout", "5s", "--nats-port", "0", "--log-format", "json"},
			env: []string{"PLATFORM_ADDR=127.0.0.1:7002"},
			check: func(c Config) bool {
				return c.Addr == "127.0.0.1:7003" && c.RolloutTimeout == 5*time.Second && c.NATSPort == 0 && c.LogFormat == "json" && c.LogLevel == "debug"
			}},
		{name: "every invalid setting reported", args: []string{"--data", dir, "--runtime", "k8s", "--log-format", "xml"},
			wantErr: `runtime "k8s"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var cf commandFlags
			cmd := &cobra.Command{}
			cf.register(cmd)
			if err := cmd.ParseFlags(tt.args); err != nil {
				t.Fatal(err)
			}
			cfg, err := cf.resolve(cmd, tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), `log_format "xml"`) {
					t.Fatalf("err = %v, want both problems", err)
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
