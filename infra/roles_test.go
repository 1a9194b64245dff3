package infra

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/micro/platform"
)

// seedsOf decodes a control region's region_token_hashes output.
func seedsOf(t *testing.T, out string) map[string]struct{ Hash, Provider, Location string } {
	t.Helper()
	var seeds map[string]struct{ Hash, Provider, Location string }
	if err := json.Unmarshal([]byte(out), &seeds); err != nil {
		t.Fatalf("region_token_hashes %q: %v", out, err)
	}
	return seeds
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestEngineAgentRegions runs the roles with the real engine on local regions: the
// control region (one) makes a token per agent region, the agent regions get the control
// plane's URL and their token, in that order, and the token shows nowhere.
func TestEngineAgentRegions(t *testing.T) {
	t.Parallel()
	f := newEngineFixture(t)
	e := f.engine(t, nil)
	ctx := context.Background()

	t.Run("an agent region alone before the control region is refused", func(t *testing.T) {
		results, err := e.Apply(ctx, f.cfg, []string{"two"})
		if platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(err.Error(), "the control region one is not applied yet") {
			t.Fatalf("err = %v, want EINVALID saying the control region is not applied", err)
		}
		if hint := platform.ErrorHint(err); !strings.Contains(hint, "platform infra apply --region one") {
			t.Errorf("hint = %q, want the command that applies the control region", hint)
		}
		if len(results) != 1 || results[0].Err == nil || results[0].Outputs != nil {
			t.Errorf("results = %+v", results)
		}
		if s := statusOf(t, e, f.cfg, "two"); s.Applied {
			t.Error("region two was applied without its control region")
		}
	})

	var control, agent RegionResult
	t.Run("apply: the control region first, then the agents with its URL and their token", func(t *testing.T) {
		results, err := e.Apply(ctx, f.cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		control, agent = results[0], results[1]
		if control.Outputs["role"] != RoleControl || agent.Outputs["role"] != RoleAgent {
			t.Errorf("roles = %q, %q", control.Outputs["role"], agent.Outputs["role"])
		}
		if _, ok := control.Outputs[OutputRegionTokens]; ok {
			t.Error("the region tokens are in the outputs the CLI prints")
		}
		seeds := seedsOf(t, control.Outputs["region_token_hashes"])
		if len(seeds) != 1 || seeds["two"].Provider != ProviderLocal || seeds["two"].Location != DefaultLocalLocation || len(seeds["two"].Hash) != 64 {
			t.Fatalf("region_token_hashes = %+v, want one entry for two", seeds)
		}
		if got := agent.Outputs["control_url"]; got != control.Outputs["gateway_endpoint"] || got != "https://one.example.dev" {
			t.Errorf("two's control_url = %q, want one's gateway_endpoint %q", got, control.Outputs["gateway_endpoint"])
		}
		if got := agent.Outputs["region_token_sha256"]; got != seeds["two"].Hash {
			t.Errorf("two was given a token of hash %s, the control region wrote %s", got, seeds["two"].Hash)
		}
		ctl, err := e.readControl(ctx, f.cfg)
		if err != nil {
			t.Fatal(err)
		}
		token := ctl.tokens["two"]
		if len(ctl.tokens) != 1 || sha256Hex(token) != seeds["two"].Hash || len(token) != 64 {
			t.Fatalf("the control region's state holds tokens %d, want one for two whose SHA-256 is the hash written", len(ctl.tokens))
		}
		f.mu.Lock()
		log := fmt.Sprint(f.log)
		f.mu.Unlock()
		if strings.Contains(log, token) || strings.Contains(fmt.Sprintf("%+v", results), token) {
			for i, l := range f.log["one"] {
				if strings.Contains(l, token) {
					t.Logf("progress: %s", strings.Join(f.log["one"][max(0, i-15):i+3], "\n"))
				}
			}
			t.Error("the token shows in the engine's progress or the results")
		}
		if left, _ := filepath.Glob(filepath.Join(f.dir, "work", "*", ".platform-*")); len(left) > 0 {
			t.Errorf("var files, which hold the token, left behind: %v", left)
		}
		if s := statusOf(t, e, f.cfg, "one"); s.Outputs[OutputRegionTokens] != "" || s.Outputs["region_token_hashes"] == "" {
			t.Errorf("status of one: outputs %v, want the hashes and not the tokens", s.Outputs)
		}
	})

	t.Run("an agent region alone reads the control region's state; nothing changes", func(t *testing.T) {
		plans, err := e.Plan(ctx, f.cfg, []string{"two"})
		if err != nil {
			t.Fatal(err)
		}
		checkPlans(t, plans, map[string]map[string]Action{"two": allActions("two", ActionNoOp)})
		if plans[0].Note != "" {
			t.Errorf("note = %q, want none once the control region is applied", plans[0].Note)
		}
		results, err := e.Apply(ctx, f.cfg, []string{"two"})
		if err != nil {
			t.Fatal(err)
		}
		if results[0].Outputs["region_token_sha256"] != agent.Outputs["region_token_sha256"] {
			t.Error("a second apply gave region two another token")
		}
	})

	t.Run("a new agent region gets a token of its own", func(t *testing.T) {
		three := f.cfg
		three.Regions = append(append([]Region(nil), f.cfg.Regions...), Region{
			Name: "three", Provider: ProviderLocal, Location: "lab", Nodes: Nodes{Size: "local", Min: 1, Max: 3},
			Network: DefaultNetwork, KubernetesVersion: DefaultKubernetesVersion,
		})
		_, err := e.Apply(ctx, three, []string{"three"})
		if platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(err.Error(), "the control region one has no token for three yet") {
			t.Fatalf("err = %v, want EINVALID saying the control region has no token for three", err)
		}
		plans, err := e.Plan(ctx, three, []string{"three"})
		if err != nil || !strings.Contains(plans[0].Note, "no token for three yet") {
			t.Errorf("plan of three: %v, note %q: want a note that it has no token yet", err, plans[0].Note)
		}
		results, err := e.Apply(ctx, three, nil)
		if err != nil {
			t.Fatal(err)
		}
		seeds := seedsOf(t, results[0].Outputs["region_token_hashes"])
		if len(seeds) != 2 || seeds["three"].Location != "lab" || seeds["three"].Hash == seeds["two"].Hash {
			t.Errorf("region_token_hashes = %+v, want two and three with tokens of their own", seeds)
		}
		if seeds["two"].Hash != agent.Outputs["region_token_sha256"] || results[1].Outputs["region_token_sha256"] != seeds["two"].Hash {
			t.Error("adding a region changed region two's token")
		}
		if results[2].Outputs["region_token_sha256"] != seeds["three"].Hash {
			t.Errorf("three was given the token of hash %s, the control region wrote %s", results[2].Outputs["region_token_sha256"], seeds["three"].Hash)
		}
	})
}

// TestEngineControlRegionFails: when the control region's apply fails, no agent region is
// applied, and each says why.
func TestEngineControlRegionFails(t *testing.T) {
	t.Parallel()
	f := newEngineFixture(t)
	results, err := f.engine(t, map[string]map[string]string{"one": {"fail_apply": "true"}}).Apply(context.Background(), f.cfg, nil)
	if err == nil {
		t.Fatal("apply succeeded though the control region failed")
	}
	if r := results[1]; r.Err == nil || !strings.Contains(r.Err.Error(), "region two: not applied: its agent needs the control region one, whose apply failed") {
		t.Errorf("region two: %v", r.Err)
	}
	f.mu.Lock()
	ran := len(f.log["two"])
	f.mu.Unlock()
	if ran > 0 {
		t.Errorf("the engine ran on region two (%d lines of progress)", ran)
	}
}

func statusOf(t *testing.T, e *Engine, cfg Config, region string) RegionStatus {
	t.Helper()
	list, err := e.Status(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.Region == region {
			return s
		}
	}
	t.Fatalf("no status of %s", region)
	return RegionStatus{}
}
