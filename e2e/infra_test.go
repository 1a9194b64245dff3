package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
// and the local global DNS provider against a running control plane: lon1, the first, is
// the control region, fra1 an agent region.
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
	if !strings.Contains(r.stdout, "  note: the control region lon1 is not applied yet: its agent needs the control plane's URL and its token: planned without them\n") {
		t.Errorf("first plan does not say fra1 waits for the control region: %s", r)
	}
	if r := infra("apply", "--region", "fra1"); r.code == 0 || !strings.Contains(r.stdout+r.stderr, "the control region lon1 is not applied yet") || !strings.Contains(r.stdout, "  hint: apply the control region first: platform infra apply --region lon1") {
		t.Errorf("apply of the agent region fra1 before the control region: %s", r)
	}
	applied := infra("apply")
	if r := applied; r.code != 0 || !containsRow(r.stdout, "lon1: applied", "registered") || !containsRow(r.stdout, "fra1: applied", "registered") ||
		!strings.Contains(r.stdout, "global: api.example.dev load-balances lon1, fra1") {
		t.Fatalf("apply: %s", r)
	}
	t.Run("the agent region got the control plane's URL and its token", func(t *testing.T) {
		// The token, from the control region's state as an operator would read it.
		cmd := exec.Command(tofu, "output", "-json", "region_tokens")
		cmd.Dir = filepath.Join(filepath.Dir(cfg), ".platform", "infra", "lon1")
		cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+rc)
		out, err := cmd.Output()
		must(t, err)
		var tokens map[string]string
		must(t, json.Unmarshal(out, &tokens))
		if len(tokens) != 1 || len(tokens["fra1"]) != 64 {
			t.Fatalf("lon1's region_tokens hold %d tokens, want one for fra1", len(tokens))
		}
		sum := sha256.Sum256([]byte(tokens["fra1"]))
		hash := hex.EncodeToString(sum[:])

		// fra1 alone: its control plane URL and token come from lon1's state.
		r := infra("apply", "--region", "fra1", "-o", "json")
		var res struct {
			Regions []struct {
				Region  string
				Outputs map[string]string
			}
		}
		must(t, json.Unmarshal([]byte(r.stdout), &res))
		if r.code != 0 || len(res.Regions) != 1 {
			t.Fatalf("apply --region fra1: %s", r)
		}
		fra := res.Regions[0].Outputs
		if fra["control_url"] != "https://lon1.example.dev" || fra["region_token_sha256"] != hash {
			t.Errorf("fra1 was given control_url %q and a token of hash %q; want lon1's gateway and %s", fra["control_url"], fra["region_token_sha256"], hash)
		}
		r = infra("status", "-o", "json")
		var status []struct {
			Region  string
			Outputs map[string]string
		}
		must(t, json.Unmarshal([]byte(r.stdout), &status))
		for _, s := range status {
			if s.Region != "lon1" {
				continue
			}
			var seeds map[string]struct{ Hash string }
			must(t, json.Unmarshal([]byte(s.Outputs["region_token_hashes"]), &seeds))
			if len(seeds) != 1 || seeds["fra1"].Hash != hash {
				t.Errorf("lon1 wrote the hashes %+v, want fra1's token's %s", seeds, hash)
			}
		}
		for _, seen := range []result{applied, r} {
			if strings.Contains(seen.stdout+seen.stderr, tokens["fra1"]) {
				t.Error("platform infra printed the token")
			}
		}
	})
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
