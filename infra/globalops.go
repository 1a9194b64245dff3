package infra

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/micro/platform"
)

// GlobalResult is what [Engine.ApplyGlobal] did to the global load balancer.
type GlobalResult struct {
	// Hostname is the name the load balancer answers on.
	Hostname string `json:"hostname"`
	// Regions are the regions it sends traffic to: every region of the config whose state
	// holds a gateway endpoint. Pending are the others, not applied yet.
	Regions []string `json:"regions"`
	Pending []string `json:"pending,omitempty"`
	// Removed is true when no region was applied, so the load balancer was removed.
	Removed  bool              `json:"removed,omitempty"`
	Outputs  map[string]string `json:"outputs,omitempty"`
	Duration time.Duration     `json:"duration"`
}

// GlobalPlan is what applying the global root would change, and with which regions.
type GlobalPlan struct {
	RegionPlan
	Hostname string   `json:"hostname"`
	Regions  []string `json:"regions"`
	Pending  []string `json:"pending,omitempty"`
}

// ApplyGlobal points the global load balancer ([RenderGlobal]) at every applied region of
// cfg, and removes it when no region is applied. known holds gateway endpoints already at
// hand by region name (the outputs of an apply that just ran); every other region's
// endpoint is read from its state, so the load balancer always matches what is applied,
// whichever regions this run touched. Run it after [Engine.Apply] and after
// [Engine.Destroy]. EINVALID when cfg has no platform.dns.
func (e *Engine) ApplyGlobal(ctx context.Context, cfg Config, known map[string]string) (GlobalResult, error) {
	start := time.Now()
	files, res, err := e.renderGlobal(ctx, cfg, known)
	if err != nil {
		return res, err
	}
	tf, flush, err := e.initRoot(ctx, GlobalRoot, files)
	if err != nil {
		return res, err
	}
	defer flush()
	res.Outputs, _, err = e.apply(ctx, GlobalRoot, tf, nil)
	res.Duration = time.Since(start)
	return res, err
}

// PlanGlobal plans the global root as [Engine.ApplyGlobal] would apply it now: with the
// regions whose state holds a gateway endpoint (plus known ones). Regions not applied yet
// are listed in Pending; they join the load balancer when they are applied.
func (e *Engine) PlanGlobal(ctx context.Context, cfg Config, known map[string]string) (GlobalPlan, error) {
	files, res, err := e.renderGlobal(ctx, cfg, known)
	p := GlobalPlan{RegionPlan: RegionPlan{Region: GlobalRoot}, Hostname: res.Hostname, Regions: res.Regions, Pending: res.Pending}
	if err != nil {
		p.Err = err
		return p, err
	}
	tf, flush, err := e.initRoot(ctx, GlobalRoot, files)
	if err != nil {
		p.Err = err
		return p, err
	}
	defer flush()
	p.Changes, p.Err = e.plan(ctx, GlobalRoot, tf, nil)
	return p, p.Err
}

// renderGlobal collects the gateway endpoints of the applied regions and renders the
// global root for them, or an empty root that removes the load balancer when there are
// none.
func (e *Engine) renderGlobal(ctx context.Context, cfg Config, known map[string]string) (map[string][]byte, GlobalResult, error) {
	if cfg.Platform.DNS == nil {
		return nil, GlobalResult{}, platform.Errorf(platform.EINVALID, "the config has no platform.dns: global load balancing is off")
	}
	res := GlobalResult{Hostname: GlobalHostname(cfg.Platform)}
	endpoints, err := e.gatewayEndpoints(ctx, cfg, known)
	if err != nil {
		return nil, res, err
	}
	live := cfg
	live.Regions = nil
	for _, r := range cfg.Regions {
		if endpoints[r.Name] != "" {
			live.Regions = append(live.Regions, r)
			res.Regions = append(res.Regions, r.Name)
		} else {
			res.Pending = append(res.Pending, r.Name)
		}
	}
	if len(live.Regions) == 0 {
		res.Removed = true
		files, err := renderGlobalEmpty(cfg)
		return files, res, err
	}
	files, err := RenderGlobal(live, endpoints)
	return files, res, err
}

// gatewayEndpoints returns the gateway endpoint of every region of cfg that has one:
// known's, else the one in the region's state. Regions are read in parallel.
func (e *Engine) gatewayEndpoints(ctx context.Context, cfg Config, known map[string]string) (map[string]string, error) {
	endpoints := map[string]string{}
	var read []string
	for _, r := range cfg.Regions {
		if ep := known[r.Name]; ep != "" {
			endpoints[r.Name] = ep
		} else {
			read = append(read, r.Name)
		}
	}
	var mu sync.Mutex
	var failed []string
	e.forEachRegion(read, func(_ int, region string) {
		s := RegionStatus{Region: region}
		err := e.statusRegion(ctx, cfg, &s)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			failed = append(failed, fmt.Sprintf("%s: %s", region, platform.ErrorMessage(err)))
		case s.Applied && s.Outputs["gateway_endpoint"] != "":
			endpoints[region] = s.Outputs["gateway_endpoint"]
		}
	})
	if len(failed) > 0 {
		slices.Sort(failed)
		return nil, platform.Errorf(platform.EUNAVAILABLE, "read the state of regions for global DNS:\n%s", strings.Join(failed, "\n")).
			WithHint("fix the regions' state access and run the command again; the load balancer was not changed")
	}
	return endpoints, nil
}

// renderGlobalEmpty renders the global root with no load balancer: applying it removes
// whatever an earlier apply created, with the same provider and state.
func renderGlobalEmpty(cfg Config) (map[string][]byte, error) {
	backend, err := renderBackend(cfg.Platform, GlobalRoot)
	if err != nil {
		return nil, err
	}
	main := hclwrite.NewEmptyFile()
	files := map[string][]byte{
		"versions.tf": renderGlobalVersions(cfg.Platform.DNS.Provider),
		"backend.tf":  backend,
		"main.tf":     append([]byte(generatedHeader+"# No region is applied: the load balancer is removed.\n"), finish(main)[len(generatedHeader):]...),
	}
	if cfg.Platform.DNS.Provider == DNSCloudflare {
		files["providers.tf"] = renderGlobalProviders()
	}
	return files, nil
}
