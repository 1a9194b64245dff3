package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tofuForTests returns the OpenTofu binary and CLI config scripts/build-tofu keeps in the
// test cache, building them when missing (scripts/test builds them first).
func tofuForTests(t *testing.T) (bin, rc string) {
	t.Helper()
	cache := os.Getenv("PLATFORM_TEST_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		must(t, err)
		cache = filepath.Join(home, ".cache", "micro-platform-test")
	}
	dir := filepath.Join(cache, "tofu")
	if out, err := exec.Command("../scripts/build-tofu", dir).CombinedOutput(); err != nil {
		t.Fatalf("build OpenTofu: %v\n%s", err, out)
	}
	return filepath.Join(dir, "tofu"), filepath.Join(dir, "tofurc")
}

const infraConfig = `platform:
  name: micro
  domain: example.dev
  state: { backend: local }
  dns: { provider: local }
regions:
  - name: lon1
    provider: local
    nodes: { min: 1, max: MAX }
  - name: fra1
    provider: local
`

// TestInfraTwoLocalRegions runs `platform infra` with the real engine on two local regions
// and the local global DNS provider against a running control plane.
func TestInfraTwoLocalRegions(t *testing.T) {
	skipShort(t)
	t.Parallel()
	tofu, rc := tofuForTests(t)
	s := startServer(t, t.TempDir())
	cfg := filepath.Join(t.TempDir(), "platform.yaml")
	write := func(max string) {
		must(t, os.WriteFile(cfg, []byte(strings.Replace(infraConfig, "MAX", max, 1)), 0o600))
	}
	env := []string{"PLATFORM_INFRA_ENGINE=" + tofu, "TF_CLI_CONFIG_FILE=" + rc}
	infra := func(args ...string) result {
		t.Helper()
		return s.platformEnv(t, env, append([]string{"infra"}, append(args, "-c", cfg)...)...)
	}
	write("3")

	r := infra("plan")
	if r.code != 0 || !containsRow(r.stdout, "lon1:", "to create") || !containsRow(r.stdout, "fra1:", "to create") {
		t.Fatalf("first plan: %s", r)
	}
	if !strings.Contains(r.stdout, "global: no changes") || !strings.Contains(r.stdout, "regions lon1, fra1 join the load balancer when they are applied") {
		t.Errorf("first plan does not show global DNS waiting for the regions: %s", r)
	}
	if r := infra("apply"); r.code != 0 || !containsRow(r.stdout, "lon1: applied", "registered") || !containsRow(r.stdout, "fra1: applied", "registered") ||
		!strings.Contains(r.stdout, "global: api.example.dev load-balances lon1, fra1") {
		t.Fatalf("apply: %s", r)
	}
	regions := s.must(t, "regions")
	for _, name := range []string{"lon1", "fra1", "local"} {
		if !containsRow(regions, name) {
			t.Errorf("regions after apply lack %s:\n%s", name, regions)
		}
	}
	if r := infra("plan"); r.code != 0 || !strings.Contains(r.stdout, "lon1: no changes") || !strings.Contains(r.stdout, "fra1: no changes") || !strings.Contains(r.stdout, "global: no changes") {
		t.Errorf("plan after apply: %s", r)
	}

	write("5")
	if r := infra("plan"); r.code != 0 || strings.Contains(r.stdout, "lon1: no changes") || !strings.Contains(r.stdout, "fra1: no changes") {
		t.Errorf("plan after changing lon1: want changes for lon1 alone, got %s", r)
	}

	if r := infra("destroy", "--region", "lon1"); r.code != 0 || !strings.Contains(r.stdout, "global: api.example.dev load-balances fra1\n") {
		t.Fatalf("destroy: %s", r)
	}
	regions = s.must(t, "regions")
	if containsRow(regions, "lon1") || !containsRow(regions, "fra1") {
		t.Errorf("regions after destroying lon1:\n%s", regions)
	}
	t.Logf("plan after destroying lon1:\n%s", infra("plan").stdout)
	if r := infra("status"); r.code != 0 || !containsRow(r.stdout, "fra1", "local", "yes") || !containsRow(r.stdout, "lon1", "local", "no") {
		t.Errorf("status: %s", r)
	}
}
