package cli

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/infra"
)

// fakeEngine plays the engine: lon1 applies, fra1 fails.
type fakeEngine struct {
	opts      infra.EngineOptions
	destroyed []string
	global    []string // calls of ApplyGlobal: regions of the config and known endpoints
}

func (e *fakeEngine) Plan(_ context.Context, cfg infra.Config, regions []string) ([]infra.RegionPlan, error) {
	return []infra.RegionPlan{
		{Region: "fra1", Changes: []infra.ResourceChange{{Address: "module.region.terraform_data.cluster", Action: infra.ActionCreate}},
			Note: "the control region lon1 is not applied yet: its agent needs the control plane's URL and its token: planned without them"},
		{Region: "lon1"},
	}, nil
}

func (e *fakeEngine) Apply(_ context.Context, cfg infra.Config, regions []string) ([]infra.RegionResult, error) {
	e.opts.Progress("lon1", "Apply complete! Resources: 2 added, 0 changed, 0 destroyed.")
	fail := platform.Errorf(platform.EUNAVAILABLE, "region fra1: apply: injected failure")
	return []infra.RegionResult{
		{Region: "fra1", Err: fail, Duration: time.Second},
		{Region: "lon1", Duration: 2 * time.Second, Outputs: map[string]string{"gateway_endpoint": "https://lon1.example.dev", "kubeconfig_ref": "local://lon1"}},
	}, fail
}

func (e *fakeEngine) Destroy(_ context.Context, cfg infra.Config, region string) error {
	e.destroyed = append(e.destroyed, region)
	return nil
}

func (e *fakeEngine) Status(context.Context, infra.Config) ([]infra.RegionStatus, error) {
	return nil, nil
}

func (e *fakeEngine) PlanGlobal(_ context.Context, cfg infra.Config, known map[string]string) (infra.GlobalPlan, error) {
	return infra.GlobalPlan{RegionPlan: infra.RegionPlan{Region: infra.GlobalRoot}, Hostname: "api.example.dev", Pending: []string{"fra1", "lon1"}}, nil
}

// ApplyGlobal records the regions and endpoints it was given.
func (e *fakeEngine) ApplyGlobal(_ context.Context, cfg infra.Config, known map[string]string) (infra.GlobalResult, error) {
	var names []string
	for _, r := range cfg.Regions {
		names = append(names, r.Name)
	}
	e.global = append(e.global, fmt.Sprintf("%v %v", names, known))
	return infra.GlobalResult{Hostname: "api.example.dev", Regions: slices.Collect(maps.Keys(known))}, nil
}

const twoLocalRegions = `platform:
  name: micro
  domain: example.dev
  state: { backend: local }
regions:
  - name: lon1
    provider: local
  - name: fra1
    provider: local
`

func TestInfraApplyRegistersWhatApplied(t *testing.T) {
	f := newFakeAPI(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "platform.yaml")
	if err := os.WriteFile(cfgPath, []byte(twoLocalRegions), 0o600); err != nil {
		t.Fatal(err)
	}
	eng := &fakeEngine{}
	saved := newInfraEngine
	newInfraEngine = func(o infra.EngineOptions) (infraEngine, error) { eng.opts = o; return eng, nil }
	t.Cleanup(func() { newInfraEngine = saved })

	r := f.run(t, "infra", "plan", "-c", cfgPath, "--engine", "/bin/true")
	if r.code != 0 || !strings.Contains(r.stdout, "fra1: 1 to create, 0 to update, 0 to replace, 0 to delete\n  + module.region.terraform_data.cluster\n  note: the control region lon1 is not applied yet") || !strings.Contains(r.stdout, "lon1: no changes") {
		t.Errorf("plan: %+v", r)
	}
	if eng.opts.WorkDir != filepath.Join(dir, ".platform", "infra") || eng.opts.Binary != "/bin/true" {
		t.Errorf("engine options: %+v", eng.opts)
	}

	r = f.run(t, "infra", "apply", "-c", cfgPath, "--engine", "/bin/true")
	if r.code != 1 || !strings.Contains(r.stdout, "fra1: apply failed") || !strings.Contains(r.stdout, "lon1: applied in 2s, registered (gateway https://lon1.example.dev)") {
		t.Errorf("apply: %+v", r)
	}
	if !strings.Contains(r.stderr, "[lon1] Apply complete!") || !strings.Contains(r.stderr, "run `platform infra apply` again") {
		t.Errorf("apply progress and hint: %q", r.stderr)
	}
	if len(f.regions) != 1 || f.regions[0] != (platform.Region{Name: "lon1", Provider: "local", Location: "local", GatewayEndpoint: "https://lon1.example.dev", KubeconfigRef: "local://lon1", CreatedAt: t0, UpdatedAt: t0}) {
		t.Errorf("registered regions: %+v, want lon1 only", f.regions)
	}

	r = f.run(t, "infra", "destroy", "-c", cfgPath, "--engine", "/bin/true", "--region", "lon1")
	if r.code != 0 || len(eng.destroyed) != 1 || !strings.Contains(r.stdout, "lon1: destroyed and unregistered") {
		t.Errorf("destroy: %+v %v", r, eng.destroyed)
	}
	if r := f.run(t, "infra", "destroy", "-c", cfgPath, "--engine", "/bin/true"); r.code != 2 {
		t.Errorf("destroy without --region: %+v, want a usage error", r)
	}
}

// TestInfraGlobalDNS shows apply and destroy update global DNS, leaving out a region whose
// apply failed, and plan showing the global root.
func TestInfraGlobalDNS(t *testing.T) {
	f := newFakeAPI(t)
	cfgPath := filepath.Join(t.TempDir(), "platform.yaml")
	withDNS := strings.Replace(twoLocalRegions, "regions:", "  dns: { provider: local }\nregions:", 1)
	if err := os.WriteFile(cfgPath, []byte(withDNS), 0o600); err != nil {
		t.Fatal(err)
	}
	eng := &fakeEngine{}
	saved := newInfraEngine
	newInfraEngine = func(o infra.EngineOptions) (infraEngine, error) { eng.opts = o; return eng, nil }
	t.Cleanup(func() { newInfraEngine = saved })

	r := f.run(t, "infra", "plan", "-c", cfgPath, "--engine", "/bin/true")
	if r.code != 0 || !strings.Contains(r.stdout, "global: no changes\n  api.example.dev: regions fra1, lon1 join the load balancer when they are applied") {
		t.Errorf("plan: %+v", r)
	}
	r = f.run(t, "infra", "apply", "-c", cfgPath, "--engine", "/bin/true")
	if r.code != 1 || !strings.Contains(r.stdout, "global: api.example.dev load-balances lon1") {
		t.Errorf("apply: %+v", r)
	}
	r = f.run(t, "infra", "destroy", "-c", cfgPath, "--engine", "/bin/true", "--region", "lon1")
	if r.code != 0 {
		t.Errorf("destroy: %+v", r)
	}
	// fra1 failed to apply: global DNS must not send traffic to whatever its state holds.
	want := []string{"[lon1] map[lon1:https://lon1.example.dev]", "[lon1 fra1] map[]"}
	if !slices.Equal(eng.global, want) {
		t.Errorf("ApplyGlobal calls = %q, want %q", eng.global, want)
	}
}

func TestInfraRefusesABadConfig(t *testing.T) {
	f := newFakeAPI(t)
	cfgPath := filepath.Join(t.TempDir(), "platform.yaml")
	os.WriteFile(cfgPath, []byte("platform:\n  name: micro\nregions:\n  - name: x\n    provider: awz\n"), 0o600)
	r := f.run(t, "infra", "plan", "-c", cfgPath, "--engine", "/bin/true")
	if r.code != 1 || !strings.Contains(r.stderr, `unknown provider "awz"`) || !strings.Contains(r.stderr, "platform.yaml:5") {
		t.Errorf("bad config: %+v", r)
	}
}
