package cli

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
	"github.com/micro/platform/infra"
)

// infraEngine is what the infra verbs need of infra.Engine; tests substitute it.
type infraEngine interface {
	Plan(ctx context.Context, cfg infra.Config, regions []string) ([]infra.RegionPlan, error)
	Apply(ctx context.Context, cfg infra.Config, regions []string) ([]infra.RegionResult, error)
	Destroy(ctx context.Context, cfg infra.Config, region string) error
	Status(ctx context.Context, cfg infra.Config) ([]infra.RegionStatus, error)
	PlanGlobal(ctx context.Context, cfg infra.Config, known map[string]string) (infra.GlobalPlan, error)
	ApplyGlobal(ctx context.Context, cfg infra.Config, known map[string]string) (infra.GlobalResult, error)
}

// newInfraEngine builds the engine; tests replace it.
var newInfraEngine = func(o infra.EngineOptions) (infraEngine, error) { return infra.NewEngine(o) }

// infraOptions are the flags shared by the infra verbs.
type infraOptions struct {
	config, engine, workDir string
	regions                 []string
	parallel                int
	register                bool
}

func (a *app) infraCmd() *cobra.Command {
	var o infraOptions
	cmd := &cobra.Command{
		Use:   "infra",
		Short: "Create, update and destroy regions on clouds with OpenTofu or Terraform",
		Long: "infra renders one Terraform root module per region of platform.yaml and runs the\n" +
			"engine (tofu preferred, terraform accepted) on it, regions in parallel, each with its\n" +
			"own state and lock. apply registers every region it creates with the control plane.",
		Args: args(0, 0, "a subcommand (plan, apply, destroy, status)"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error { return cmd.Help() }),
	}
	pf := cmd.PersistentFlags()
	pf.StringVarP(&o.config, "config", "c", "platform.yaml", "the platform's infrastructure file")
	pf.StringVar(&o.engine, "engine", "", "tofu or terraform binary (env PLATFORM_INFRA_ENGINE; default: tofu, then terraform, from PATH)")
	pf.StringVar(&o.workDir, "work-dir", "", "where root modules and local state live (default: .platform/infra beside the config)")
	pf.StringArrayVar(&o.regions, "region", nil, "only this region (repeatable; default all)")
	pf.IntVar(&o.parallel, "parallel", infra.DefaultParallelism, "regions at once")

	plan := &cobra.Command{
		Use: "plan", Short: "Show what would change, per region", Args: args(0, 0, "no arguments"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error { return a.infraPlan(cmd, o) }),
	}
	apply := &cobra.Command{
		Use: "apply", Short: "Create or update regions and register them with the control plane", Args: args(0, 0, "no arguments"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error { return a.infraApply(cmd, o) }),
	}
	apply.Flags().BoolVar(&o.register, "register", true, "register applied regions with the control plane (--server, --token)")
	destroy := &cobra.Command{
		Use: "destroy", Short: "Destroy one region and unregister it", Args: args(0, 0, "no arguments"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error { return a.infraDestroy(cmd, o) }),
	}
	destroy.Flags().BoolVar(&o.register, "register", true, "unregister the region from the control plane")
	status := &cobra.Command{
		Use: "status", Short: "Each region: applied resources, outputs, last apply", Args: args(0, 0, "no arguments"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error { return a.infraStatus(cmd, o) }),
	}
	cmd.AddCommand(plan, apply, destroy, status)
	return cmd
}

// infraSetup loads the config and builds the engine.
func (a *app) infraSetup(o infraOptions) (infra.Config, infraEngine, error) {
	cfg, err := infra.Load(o.config)
	if err != nil {
		return cfg, nil, err
	}
	bin := o.engine
	if bin == "" {
		bin = a.env["PLATFORM_INFRA_ENGINE"]
	}
	if bin == "" {
		for _, name := range []string{"tofu", "terraform"} {
			if p, err := exec.LookPath(name); err == nil {
				bin = p
				break
			}
		}
	}
	if bin == "" {
		return cfg, nil, platform.Errorf(platform.EINVALID, "no infrastructure engine found").
			WithHint("install OpenTofu (scripts/build-tofu builds it from the Go module proxy) and pass --engine PATH or set PLATFORM_INFRA_ENGINE")
	}
	work := o.workDir
	if work == "" {
		work = filepath.Join(filepath.Dir(o.config), ".platform", "infra")
	}
	var mu sync.Mutex
	eng, err := newInfraEngine(infra.EngineOptions{
		Binary: bin, WorkDir: work, Env: envSlice(a.env), CLIConfigFile: a.env["TF_CLI_CONFIG_FILE"],
		Parallelism: o.parallel,
		Progress: func(region, line string) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(a.stderr, "[%s] %s\n", region, line)
		},
	})
	return cfg, eng, err
}

func (a *app) infraPlan(cmd *cobra.Command, o infraOptions) error {
	cfg, eng, err := a.infraSetup(o)
	if err != nil {
		return err
	}
	plans, err := eng.Plan(cmd.Context(), cfg, o.regions)
	var global *infra.GlobalPlan
	if cfg.Platform.DNS != nil {
		g, gerr := eng.PlanGlobal(cmd.Context(), cfg, nil)
		global = &g
		err = errors.Join(err, gerr)
	}
	if a.jsonOutput() {
		out := map[string]any{"regions": plans}
		if global != nil {
			out["global"] = global
		}
		if jerr := a.printJSON(out); jerr != nil {
			return jerr
		}
		return err
	}
	for _, p := range plans {
		a.printPlan(p)
	}
	if global != nil {
		a.printPlan(global.RegionPlan)
		if global.Err == nil && len(global.Pending) > 0 {
			fmt.Fprintf(a.stdout, "  %s: regions %s join the load balancer when they are applied\n", global.Hostname, strings.Join(global.Pending, ", "))
		}
	}
	return err
}

// printPlan prints one root module's plan: a summary line, then each changing resource.
func (a *app) printPlan(p infra.RegionPlan) {
	if p.Err != nil {
		fmt.Fprintf(a.stdout, "%s: plan failed: %s\n", p.Region, platform.ErrorMessage(p.Err))
		return
	}
	if p.Note != "" {
		defer fmt.Fprintf(a.stdout, "  note: %s\n", p.Note)
	}
	if !p.HasChanges() {
		fmt.Fprintf(a.stdout, "%s: no changes\n", p.Region)
		return
	}
	fmt.Fprintf(a.stdout, "%s: %d to create, %d to update, %d to replace, %d to delete\n", p.Region,
		p.Count(infra.ActionCreate), p.Count(infra.ActionUpdate), p.Count(infra.ActionReplace), p.Count(infra.ActionDelete))
	for _, c := range p.Changes {
		if c.Action != infra.ActionNoOp && c.Action != infra.ActionRead {
			fmt.Fprintf(a.stdout, "  %s %s\n", actionSymbol(c.Action), c.Address)
		}
	}
}

func actionSymbol(a infra.Action) string {
	switch a {
	case infra.ActionCreate:
		return "+"
	case infra.ActionDelete:
		return "-"
	case infra.ActionReplace:
		return "-/+"
	default:
		return "~"
	}
}

func (a *app) infraApply(cmd *cobra.Command, o infraOptions) error {
	cfg, eng, err := a.infraSetup(o)
	if err != nil {
		return err
	}
	results, applyErr := eng.Apply(cmd.Context(), cfg, o.regions)
	var errs []error
	if applyErr != nil {
		errs = append(errs, applyErr)
	}
	registered := map[string]bool{}
	if o.register {
		c, err := a.connect(cmd)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		for _, r := range results {
			if r.Err != nil {
				continue
			}
			reg, _ := cfg.Region(r.Region)
			_, err := c.RegisterRegion(cmd.Context(), &platform.Region{
				Name: r.Region, Provider: reg.Provider, Location: reg.Location,
				GatewayEndpoint: r.Outputs["gateway_endpoint"], KubeconfigRef: r.Outputs["kubeconfig_ref"],
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("register region %s: %w", r.Region, err))
				continue
			}
			registered[r.Region] = true
		}
	}
	// Global DNS follows what is applied now, the regions that just failed excepted: their
	// state may hold an endpoint from an earlier apply that no longer serves.
	var global *infra.GlobalResult
	var globalErr error
	if cfg.Platform.DNS != nil {
		live, known := cfg, map[string]string{}
		live.Regions = nil
		for _, r := range results {
			if r.Err == nil {
				known[r.Region] = r.Outputs["gateway_endpoint"]
			}
		}
		for _, reg := range cfg.Regions {
			if !slices.ContainsFunc(results, func(r infra.RegionResult) bool { return r.Region == reg.Name && r.Err != nil }) {
				live.Regions = append(live.Regions, reg)
			}
		}
		g, err := eng.ApplyGlobal(cmd.Context(), live, known)
		global, globalErr = &g, err
		if err != nil {
			errs = append(errs, fmt.Errorf("global DNS: %w", err))
		}
	}
	if a.jsonOutput() {
		out := map[string]any{"regions": results}
		if global != nil {
			out["global"] = global
		}
		if err := a.printJSON(out); err != nil {
			return err
		}
	} else {
		defer a.printGlobal(global, globalErr)
		for _, r := range results {
			switch {
			case r.Err != nil:
				fmt.Fprintf(a.stdout, "%s: apply failed after %s: %s\n", r.Region, r.Duration.Round(1e8), platform.ErrorMessage(r.Err))
				if hint := platform.ErrorHint(r.Err); hint != "" {
					fmt.Fprintf(a.stdout, "  hint: %s\n", hint)
				}
			case registered[r.Region]:
				fmt.Fprintf(a.stdout, "%s: applied in %s, registered (gateway %s)\n", r.Region, r.Duration.Round(1e8), orDash(r.Outputs["gateway_endpoint"]))
			default:
				fmt.Fprintf(a.stdout, "%s: applied in %s\n", r.Region, r.Duration.Round(1e8))
			}
		}
	}
	if len(errs) > 0 {
		return platform.Errorf(platform.ErrorCode(errs[0]), "%s", platform.ErrorMessage(errors.Join(errs...))).
			WithHint("fix the cause and run `platform infra apply` again: applied regions are left as they are and the rest continue")
	}
	return nil
}

func (a *app) infraDestroy(cmd *cobra.Command, o infraOptions) error {
	if len(o.regions) != 1 {
		return &usageError{err: errors.New("destroy takes exactly one --region")}
	}
	cfg, eng, err := a.infraSetup(o)
	if err != nil {
		return err
	}
	region := o.regions[0]
	if err := eng.Destroy(cmd.Context(), cfg, region); err != nil {
		return err
	}
	var global *infra.GlobalResult
	if cfg.Platform.DNS != nil {
		g, err := eng.ApplyGlobal(cmd.Context(), cfg, nil)
		if err != nil {
			return fmt.Errorf("region %s is destroyed, but global DNS still sends traffic to it: %w", region, err)
		}
		global = &g
	}
	if o.register {
		c, err := a.connect(cmd)
		if err != nil {
			return err
		}
		if err := c.DeleteRegion(cmd.Context(), region); err != nil && !platform.IsNotFound(err) {
			return fmt.Errorf("unregister region %s: %w", region, err)
		}
	}
	if a.jsonOutput() {
		out := map[string]any{"region": region, "status": "destroyed"}
		if global != nil {
			out["global"] = global
		}
		return a.printJSON(out)
	}
	fmt.Fprintf(a.stdout, "%s: destroyed and unregistered\n", region)
	a.printGlobal(global, nil)
	return nil
}

// printGlobal prints what an apply of the global root did.
func (a *app) printGlobal(g *infra.GlobalResult, err error) {
	switch {
	case g == nil:
	case err != nil:
		fmt.Fprintf(a.stdout, "global: DNS update failed: %s\n", platform.ErrorMessage(err))
	case g.Removed:
		fmt.Fprintf(a.stdout, "global: no region is applied: load balancer for %s removed\n", g.Hostname)
	default:
		fmt.Fprintf(a.stdout, "global: %s load-balances %s\n", g.Hostname, strings.Join(g.Regions, ", "))
	}
}

func (a *app) infraStatus(cmd *cobra.Command, o infraOptions) error {
	cfg, eng, err := a.infraSetup(o)
	if err != nil {
		return err
	}
	list, err := eng.Status(cmd.Context(), cfg)
	if err != nil {
		return err
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Region < list[j].Region })
	if a.jsonOutput() {
		return a.printJSON(list)
	}
	tw := table(a.stdout)
	fmt.Fprintln(tw, "REGION\tPROVIDER\tLOCATION\tAPPLIED\tRESOURCES\tGATEWAY\tLAST APPLY")
	for _, s := range list {
		applied := "no"
		if s.Applied {
			applied = "yes"
		}
		if s.Err != nil {
			applied = "error: " + strings.SplitN(platform.ErrorMessage(s.Err), "\n", 2)[0]
		}
		last := "-"
		if !s.LastApply.IsZero() {
			last = a.fmtTime(s.LastApply)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", s.Region, s.Provider, orDash(s.Location), applied, s.Resources, orDash(s.Outputs["gateway_endpoint"]), last)
	}
	return tw.Flush()
}
