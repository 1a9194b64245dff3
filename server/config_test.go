package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/server"
)

func TestConfigLayers(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "platform.yaml")
	if err := os.WriteFile(file, []byte("addr: 127.0.0.1:9000\nrollout_timeout: 30s\nlog_format: json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := server.DefaultConfig()
	if err := cfg.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	if err := cfg.ApplyEnv([]string{"PLATFORM_ADDR=127.0.0.1:9100", "PLATFORM_TOKEN=not-a-server-setting", "HOME=/x"}); err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:9100" || cfg.RolloutTimeout != 30*time.Second || cfg.LogFormat != "json" || cfg.Runtime != "local" {
		t.Errorf("config = addr %s rollout %s format %s runtime %s; want env over file over defaults", cfg.Addr, cfg.RolloutTimeout, cfg.LogFormat, cfg.Runtime)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestConfigRejects(t *testing.T) {
	t.Parallel()
	t.Run("unknown key in the file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "platform.yaml")
		os.WriteFile(file, []byte("adr: 127.0.0.1:9000\n"), 0o600)
		cfg := server.DefaultConfig()
		if err := cfg.LoadFile(file); platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(err.Error(), "adr") {
			t.Errorf("LoadFile = %v, want invalid naming the key", err)
		}
	})
	t.Run("bad duration in the environment", func(t *testing.T) {
		cfg := server.DefaultConfig()
		if err := cfg.ApplyEnv([]string{"PLATFORM_ROLLOUT_TIMEOUT=soon"}); err == nil || !strings.Contains(err.Error(), "PLATFORM_ROLLOUT_TIMEOUT") {
			t.Errorf("ApplyEnv = %v", err)
		}
	})
	t.Run("every problem at once", func(t *testing.T) {
		cfg := server.DefaultConfig()
		cfg.Addr = "8080"
		cfg.Store = "mysql://db"
		cfg.Runtime = "docker"
		cfg.LogFormat = "xml"
		err := cfg.Validate()
		if platform.ErrorCode(err) != platform.EINVALID {
			t.Fatalf("Validate = %v, want invalid", err)
		}
		for _, want := range []string{"addr", "store", "runtime", "log_format"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Validate error %q does not mention %s", err, want)
			}
		}
	})
}

// TestShippedKubernetesConfig loads the config file deploy/kubernetes ships in its
// ConfigMap: every key must be one the server knows, and the result must be valid.
func TestShippedKubernetesConfig(t *testing.T) {
	cfg := server.DefaultConfig()
	if err := cfg.LoadFile(filepath.Join("..", "deploy", "kubernetes", "platform.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := cfg.ApplyEnv([]string{"PLATFORM_STORE=postgres://platform@db/platform"}); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Runtime != server.RuntimeKubernetes || cfg.NATSURL != "nats://platform-mesh:4222" || cfg.KubeNamespacePrefix == "" || cfg.Registry == "" {
		t.Errorf("config = %+v", cfg)
	}
}
