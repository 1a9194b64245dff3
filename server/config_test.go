package server_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
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

// TestShippedAgentKubernetesConfig loads the config file deploy/kubernetes/agent ships
// for the region agent, with what its Deployment gives on the command line and in the
// environment: every key must be one the agent knows, and the result must be valid.
func TestShippedAgentKubernetesConfig(t *testing.T) {
	cfg := server.AgentConfig{Config: server.DefaultConfig(), Region: "fra1", Control: "https://platform.example.com", GatewayAddr: "0.0.0.0:8081"}
	if err := cfg.LoadFile(filepath.Join("..", "deploy", "kubernetes", "agent", "platform.yaml")); err != nil {
		t.Fatal(err)
	}
	cfg.Token = "from PLATFORM_REGION_TOKEN"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Runtime != server.RuntimeKubernetes || cfg.NATSHost != "0.0.0.0" || cfg.NATSPort != 4222 || cfg.NATSURL != "" ||
		cfg.KubeMeshLabels["app.kubernetes.io/name"] != "platform-agent" || cfg.Registry == "" || cfg.DataDir != "/var/lib/platform" {
		t.Errorf("config = %+v", cfg.Config)
	}
}

// TestConfigKubeEgress checks the kubernetes egress keys from the file and the
// environment, and that Validate refuses what the driver would refuse, naming the key.
func TestConfigKubeEgress(t *testing.T) {
	t.Parallel()
	t.Run("file, then environment", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "platform.yaml")
		yaml := "runtime: kubernetes\nkube_egress_except: [169.254.0.0/16, 10.0.0.0/8]\nkube_mesh_namespace: messaging\nkube_mesh_labels: {app: nats}\n"
		if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := server.DefaultConfig()
		if err := cfg.LoadFile(file); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cfg.KubeEgressExcept, []string{"169.254.0.0/16", "10.0.0.0/8"}) || cfg.KubeMeshNamespace != "messaging" || cfg.KubeMeshLabels["app"] != "nats" {
			t.Fatalf("from file: except %v, mesh %s %v", cfg.KubeEgressExcept, cfg.KubeMeshNamespace, cfg.KubeMeshLabels)
		}
		err := cfg.ApplyEnv([]string{
			"PLATFORM_KUBE_EGRESS_EXCEPT=169.254.0.0/16, fd00::/8",
			"PLATFORM_KUBE_MESH_LABELS=app.kubernetes.io/name=nats,tier=mesh",
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cfg.KubeEgressExcept, []string{"169.254.0.0/16", "fd00::/8"}) ||
			!maps.Equal(cfg.KubeMeshLabels, map[string]string{"app.kubernetes.io/name": "nats", "tier": "mesh"}) {
			t.Errorf("from env: except %v, labels %v", cfg.KubeEgressExcept, cfg.KubeMeshLabels)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("Validate: %v", err)
		}
	})
	t.Run("empty list means no exceptions", func(t *testing.T) {
		cfg := server.DefaultConfig()
		if cfg.KubeEgressExcept != nil {
			t.Fatalf("default except = %v, want nil (the driver's default)", cfg.KubeEgressExcept)
		}
		if err := cfg.ApplyEnv([]string{"PLATFORM_KUBE_EGRESS_EXCEPT="}); err != nil {
			t.Fatal(err)
		}
		if cfg.KubeEgressExcept == nil || len(cfg.KubeEgressExcept) != 0 {
			t.Errorf("except = %#v, want an empty list", cfg.KubeEgressExcept)
		}
	})
	t.Run("malformed labels in the environment", func(t *testing.T) {
		cfg := server.DefaultConfig()
		if err := cfg.ApplyEnv([]string{"PLATFORM_KUBE_MESH_LABELS=app"}); err == nil || !strings.Contains(err.Error(), "PLATFORM_KUBE_MESH_LABELS") {
			t.Errorf("ApplyEnv = %v, want an error naming the variable", err)
		}
	})
	t.Run("invalid values", func(t *testing.T) {
		cfg := server.DefaultConfig()
		cfg.Runtime = server.RuntimeKubernetes
		cfg.KubeEgressExcept = []string{"10.0.0.0/8", "10.0.0.0", "metadata"}
		cfg.KubeMeshNamespace = "Micro_Platform"
		cfg.KubeMeshLabels = map[string]string{"app": "nats mesh"}
		cfg.NATSURL = "nats://mesh:99999"
		err := cfg.Validate()
		if platform.ErrorCode(err) != platform.EINVALID {
			t.Fatalf("Validate = %v, want invalid", err)
		}
		for _, want := range []string{`kube_egress_except "10.0.0.0"`, `kube_egress_except "metadata"`, "kube_mesh_namespace", "kube_mesh_labels app", "nats_url"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Validate error %q does not mention %s", err, want)
			}
		}
		if strings.Contains(err.Error(), `"10.0.0.0/8"`) {
			t.Errorf("Validate error %q refuses a valid range", err)
		}
	})
}

func TestConfigRegionTokensFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "platform.yaml")
	if err := os.WriteFile(file, []byte("region_tokens_file: /etc/platform/regions/regions.json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := server.DefaultConfig()
	if err := cfg.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	if cfg.RegionTokensFile != "/etc/platform/regions/regions.json" {
		t.Errorf("from the file: region_tokens_file = %q", cfg.RegionTokensFile)
	}
	if err := cfg.ApplyEnv([]string{"PLATFORM_REGION_TOKENS_FILE=/run/regions.json"}); err != nil {
		t.Fatal(err)
	}
	if cfg.RegionTokensFile != "/run/regions.json" {
		t.Errorf("env over file: region_tokens_file = %q", cfg.RegionTokensFile)
	}
}

// TestConfigLocalRegion names the server's own region from the file or the environment,
// and refuses a name no region may have.
func TestConfigLocalRegion(t *testing.T) {
	t.Parallel()
	cfg := server.DefaultConfig()
	if cfg.LocalRegion != "local" {
		t.Errorf("default local_region = %q, want local", cfg.LocalRegion)
	}
	if err := cfg.ApplyEnv([]string{"PLATFORM_LOCAL_REGION=lon1"}); err != nil || cfg.LocalRegion != "lon1" {
		t.Errorf("env: local_region = %q, %v", cfg.LocalRegion, err)
	}
	cfg.LocalRegion = "Lon 1"
	if err := cfg.Validate(); platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(err.Error(), "local_region") {
		t.Errorf("Validate = %v, want invalid naming local_region", err)
	}
}
