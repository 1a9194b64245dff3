package infra

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestEngineGlobal runs the global root for real with the local DNS provider: the load
// balancer follows what is applied, region by region, and goes when no region is left.
func TestEngineGlobal(t *testing.T) {
	t.Parallel()
	f := newEngineFixture(t)
	cfg, err := Parse(fmt.Appendf(nil, strings.Replace(twoLocalRegions, "regions:", "  dns: { provider: local }\nregions:", 1),
		filepath.Join(f.dir, "state")), "platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := f.engine(t, nil)
	ctx := context.Background()

	t.Run("plan before any region is applied", func(t *testing.T) {
		p, err := e.PlanGlobal(ctx, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.HasChanges() || len(p.Regions) != 0 || !reflect.DeepEqual(p.Pending, []string{"one", "two"}) || p.Hostname != "api.example.dev" {
			t.Errorf("plan = %+v, want no changes with both regions pending", p)
		}
	})
	t.Run("apply one region, then the load balancer", func(t *testing.T) {
		results, err := e.Apply(ctx, cfg, []string{"one"})
		if err != nil {
			t.Fatal(err)
		}
		known := map[string]string{"one": results[0].Outputs["gateway_endpoint"]}
		res, err := e.ApplyGlobal(ctx, cfg, known)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(res.Regions, []string{"one"}) || !reflect.DeepEqual(res.Pending, []string{"two"}) || res.Removed {
			t.Errorf("result = %+v, want region one with two pending", res)
		}
		if res.Outputs["hostname"] != "api.example.dev" || !sameJSON(res.Outputs["origins"], `{"one":"one.example.dev"}`) {
			t.Errorf("outputs = %v", res.Outputs)
		}
	})
	t.Run("second region joins from its state", func(t *testing.T) {
		if _, err := e.Apply(ctx, cfg, []string{"two"}); err != nil {
			t.Fatal(err)
		}
		p, err := e.PlanGlobal(ctx, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := actions(p.RegionPlan); !reflect.DeepEqual(got, map[string]Action{
			"module.dns.terraform_data.load_balancer": ActionUpdate,
			"module.dns.terraform_data.monitor":       ActionNoOp,
			`module.dns.terraform_data.pool["one"]`:   ActionNoOp,
			`module.dns.terraform_data.pool["two"]`:   ActionCreate,
		}) {
			t.Errorf("plan = %v, want pool two created and the load balancer updated", got)
		}
		// No known endpoints: both are read from the regions' state.
		res, err := e.ApplyGlobal(ctx, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !sameJSON(res.Outputs["origins"], `{"one":"one.example.dev","two":"two.example.dev"}`) || len(res.Pending) != 0 {
			t.Errorf("result = %+v", res)
		}
		again, err := e.PlanGlobal(ctx, cfg, nil)
		if err != nil || again.HasChanges() {
			t.Errorf("plan after apply = %v (err %v), want no changes", again.Changes, err)
		}
	})
	t.Run("destroying a region takes it out", func(t *testing.T) {
		if err := e.Destroy(ctx, cfg, "one"); err != nil {
			t.Fatal(err)
		}
		res, err := e.ApplyGlobal(ctx, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !sameJSON(res.Outputs["origins"], `{"two":"two.example.dev"}`) || !reflect.DeepEqual(res.Pending, []string{"one"}) {
			t.Errorf("result = %+v, want two alone", res)
		}
	})
	t.Run("no region left removes the load balancer", func(t *testing.T) {
		if err := e.Destroy(ctx, cfg, "two"); err != nil {
			t.Fatal(err)
		}
		res, err := e.ApplyGlobal(ctx, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Removed || len(res.Outputs) != 0 {
			t.Errorf("result = %+v, want the load balancer removed", res)
		}
		s := RegionStatus{Region: GlobalRoot}
		tf, flush, err := e.initRoot(ctx, GlobalRoot, mustRenderEmpty(t, cfg))
		if err != nil {
			t.Fatal(err)
		}
		defer flush()
		state, err := tf.Show(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if state.Values != nil {
			s.Resources = countResources(state.Values.RootModule)
		}
		if s.Resources != 0 {
			t.Errorf("global state holds %d resources after removal, want 0", s.Resources)
		}
	})
	t.Run("no dns configured", func(t *testing.T) {
		if _, err := e.ApplyGlobal(ctx, f.cfg, nil); err == nil || !strings.Contains(err.Error(), "no platform.dns") {
			t.Errorf("err = %v", err)
		}
	})
}

// sameJSON reports whether two JSON documents hold the same value.
func sameJSON(a, b string) bool {
	var va, vb any
	return json.Unmarshal([]byte(a), &va) == nil && json.Unmarshal([]byte(b), &vb) == nil && reflect.DeepEqual(va, vb)
}

func mustRenderEmpty(t *testing.T, cfg Config) map[string][]byte {
	t.Helper()
	files, err := renderGlobalEmpty(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return files
}
