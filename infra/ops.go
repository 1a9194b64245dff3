package infra

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"

	"github.com/micro/platform"
)

// Action is what a plan does to one resource.
type Action string

// Actions of a [ResourceChange].
const (
	ActionCreate  Action = "create"
	ActionUpdate  Action = "update"
	ActionDelete  Action = "delete"
	ActionReplace Action = "replace"
	ActionRead    Action = "read"
	ActionNoOp    Action = "no-op"
)

// ResourceChange is one resource of a plan and what the plan does to it.
type ResourceChange struct {
	Address string // e.g. module.region.terraform_data.cluster
	Action  Action
}

// RegionPlan is the plan of one region: Changes lists every resource in address order,
// no-ops included. Err is set when the region could not be planned.
type RegionPlan struct {
	Region  string
	Changes []ResourceChange
	// Note says what the plan could not know yet: an agent region planned before the
	// control region made its token is planned without its control plane URL and token.
	Note string `json:",omitempty"`
	Err  error
}

// Count returns how many resources the plan does a to.
func (p RegionPlan) Count(a Action) int {
	n := 0
	for _, c := range p.Changes {
		if c.Action == a {
			n++
		}
	}
	return n
}

// HasChanges reports whether applying the plan would change any resource.
func (p RegionPlan) HasChanges() bool {
	return len(p.Changes) > p.Count(ActionNoOp)+p.Count(ActionRead)
}

// RegionResult is the outcome of applying one region. Outputs holds the root module's
// outputs (region, provider, location, kubernetes_version, gateway_endpoint,
// kubeconfig_ref, role, ...): strings as they are, other values as JSON. Sensitive outputs
// (the control region's region_tokens) are never in it. Err is set when the apply failed;
// a later apply continues from whatever the failed one left in the state.
type RegionResult struct {
	Region   string
	Outputs  map[string]string
	Duration time.Duration
	Err      error
}

// RegionStatus is what a region's state says. Applied is false for a region never applied
// or destroyed. LastApply is the time the state was last written, known for the local
// state backend only (zero otherwise).
type RegionStatus struct {
	Region    string
	Provider  string
	Location  string
	Applied   bool
	Resources int
	Outputs   map[string]string
	LastApply time.Time
	Err       error
}

// Plan plans each of regions (every region of cfg when empty) and summarises what would
// change per resource. A region that cannot be planned has Err set; the returned error
// joins every region's error.
func (e *Engine) Plan(ctx context.Context, cfg Config, regions []string) ([]RegionPlan, error) {
	regions, err := checkRegions(cfg, regions)
	if err != nil {
		return nil, err
	}
	// An agent region is planned with the control plane's URL and its token as the
	// control region's state holds them; before it holds them, without (and says so).
	var ctl controlOutputs
	var ctlErr error
	if slices.ContainsFunc(regions, func(r string) bool { return !cfg.IsControl(r) }) {
		ctl, ctlErr = e.readControl(ctx, cfg)
	}
	plans := make([]RegionPlan, len(regions))
	e.forEachRegion(regions, func(i int, region string) {
		plans[i] = RegionPlan{Region: region}
		var secret map[string]string
		if !cfg.IsControl(region) {
			if ctlErr != nil {
				plans[i].Err = ctlErr
				return
			}
			vars, err := ctl.agentVars(cfg, region)
			if err != nil {
				plans[i].Note = platform.ErrorMessage(err) + ": planned without them"
				vars = agentPlaceholders()
			}
			secret = vars
		}
		plans[i].Changes, plans[i].Err = e.planRegion(ctx, cfg, region, secret)
	})
	errs := make([]error, len(plans))
	for i, p := range plans {
		errs[i] = p.Err
	}
	return plans, errors.Join(errs...)
}

func (e *Engine) planRegion(ctx context.Context, cfg Config, region string, secret map[string]string) ([]ResourceChange, error) {
	tf, flush, err := e.initRegion(ctx, cfg, region)
	if err != nil {
		return nil, err
	}
	defer flush()
	return e.plan(ctx, region, tf, secret)
}

// plan plans the initialised root module tf with the command's own secret variables and
// summarises it.
func (e *Engine) plan(ctx context.Context, region string, tf *tfexec.Terraform, secret map[string]string) ([]ResourceChange, error) {
	// The plan file holds the variables' values, secrets included: it lives only as long
	// as it takes to read it back.
	planFile := filepath.Join(tf.WorkingDir(), "platform.tfplan")
	defer os.Remove(planFile)
	vars, cleanup, err := e.variables(tf.WorkingDir(), region, secret)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	opts := []tfexec.PlanOption{tfexec.Out(planFile), tfexec.LockTimeout("0s")}
	if vars.file != "" {
		opts = append(opts, tfexec.VarFile(vars.file))
	}
	for _, v := range vars.assign {
		opts = append(opts, tfexec.Var(v))
	}
	if _, err := tf.Plan(ctx, opts...); err != nil {
		return nil, engineError(region, "plan", err)
	}
	plan, err := tf.ShowPlanFile(ctx, planFile)
	if err != nil {
		return nil, engineError(region, "show plan", err)
	}
	return summarise(plan), nil
}

// summarise lists the plan's managed resources and their actions, in address order.
func summarise(plan *tfjson.Plan) []ResourceChange {
	var out []ResourceChange
	for _, rc := range plan.ResourceChanges {
		if rc.Mode != tfjson.ManagedResourceMode || rc.Change == nil {
			continue
		}
		out = append(out, ResourceChange{Address: rc.Address, Action: action(rc.Change.Actions)})
	}
	return out
}

func action(a tfjson.Actions) Action {
	switch {
	case a.Replace():
		return ActionReplace
	case a.Create():
		return ActionCreate
	case a.Delete():
		return ActionDelete
	case a.Update():
		return ActionUpdate
	case a.Read():
		return ActionRead
	default:
		return ActionNoOp
	}
}

// Apply applies each of regions (every region of cfg when empty), at most Parallelism at
// once, and returns each region's outputs. The control region goes first, alone: the
// agent regions are applied after it with the control plane's URL and their tokens from
// its outputs (from its state when it is not among regions). An agent region whose
// control region failed, is not applied yet or has no token for it yet fails without
// being applied. One region's failure does not stop the others: it is in that region's
// Err and joined in the returned error. Applying again continues from the state the
// failed run left.
func (e *Engine) Apply(ctx context.Context, cfg Config, regions []string) ([]RegionResult, error) {
	regions, err := checkRegions(cfg, regions)
	if err != nil {
		return nil, err
	}
	results := make([]RegionResult, len(regions))
	var agents []int
	var ctl controlOutputs
	var ctlErr error
	control := slices.Index(regions, cfg.Platform.Control)
	for i := range regions {
		if i != control {
			agents = append(agents, i)
		}
	}
	switch {
	case control >= 0:
		var sensitive map[string]string
		results[control], sensitive = e.applyRegion(ctx, cfg, regions[control], nil)
		if r := results[control]; r.Err == nil {
			ctl = controlOutputs{applied: true, url: r.Outputs["gateway_endpoint"]}
			ctl.tokens, ctlErr = decodeTokens(cfg.Platform.Control, sensitive[OutputRegionTokens])
		} else {
			ctlErr = platform.Errorf(platform.EUNAVAILABLE, "not applied: its agent needs the control region %s, whose apply failed", cfg.Platform.Control).
				WithHint("fix the control region and run the apply again")
		}
	case len(agents) > 0:
		ctl, ctlErr = e.readControl(ctx, cfg)
	}
	e.forEachRegion(make([]string, len(agents)), func(j int, _ string) {
		i := agents[j]
		secret, err := ctl.agentVars(cfg, regions[i])
		if err = cmp.Or(ctlErr, err); err != nil {
			results[i] = RegionResult{Region: regions[i], Err: inRegion(regions[i], err)}
			return
		}
		results[i], _ = e.applyRegion(ctx, cfg, regions[i], secret)
	})
	errs := make([]error, len(results))
	for i, r := range results {
		errs[i] = r.Err
	}
	return results, errors.Join(errs...)
}

// applyRegion applies one region with the command's own secret variables, and returns
// its sensitive outputs apart from the result, which callers print.
func (e *Engine) applyRegion(ctx context.Context, cfg Config, region string, secret map[string]string) (res RegionResult, sensitive map[string]string) {
	start := time.Now()
	res.Region = region
	tf, flush, err := e.initRegion(ctx, cfg, region)
	if err == nil {
		defer flush()
		res.Outputs, sensitive, err = e.apply(ctx, region, tf, secret)
	}
	res.Err, res.Duration = err, time.Since(start)
	return res, sensitive
}

// apply applies the initialised root module tf with the command's own secret variables
// and returns its outputs, the sensitive ones apart.
func (e *Engine) apply(ctx context.Context, region string, tf *tfexec.Terraform, secret map[string]string) (outputs, sensitive map[string]string, err error) {
	vars, cleanup, err := e.variables(tf.WorkingDir(), region, secret)
	if err != nil {
		return nil, nil, err
	}
	defer cleanup()
	opts := []tfexec.ApplyOption{tfexec.LockTimeout("0s")}
	if vars.file != "" {
		opts = append(opts, tfexec.VarFile(vars.file))
	}
	for _, v := range vars.assign {
		opts = append(opts, tfexec.Var(v))
	}
	if err := tf.Apply(ctx, opts...); err != nil {
		return nil, nil, engineError(region, "apply", err)
	}
	return e.outputs(ctx, region, tf)
}

// outputs reads the outputs in the state of the initialised root module tf, the sensitive
// ones apart.
func (e *Engine) outputs(ctx context.Context, region string, tf *tfexec.Terraform) (outputs, sensitive map[string]string, err error) {
	// The engine's JSON holds the sensitive values: it must not reach Progress.
	tf.SetStdout(io.Discard)
	meta, err := tf.Output(ctx)
	if err != nil {
		return nil, nil, engineError(region, "read outputs", err)
	}
	outputs, sensitive = make(map[string]string, len(meta)), map[string]string{}
	for k, m := range meta {
		if m.Sensitive {
			sensitive[k] = outputString(m.Value)
		} else {
			outputs[k] = outputString(m.Value)
		}
	}
	return outputs, sensitive, nil
}

// outputString returns a JSON string value as it is and any other value as JSON.
func outputString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// Destroy destroys every resource of region and leaves its (empty) state in place.
func (e *Engine) Destroy(ctx context.Context, cfg Config, region string) error {
	if _, err := checkRegions(cfg, []string{region}); err != nil {
		return err
	}
	tf, flush, err := e.initRegion(ctx, cfg, region)
	if err != nil {
		return err
	}
	defer flush()
	// An agent region's root declares its control plane URL and token; destroying needs
	// neither.
	var secret map[string]string
	if !cfg.IsControl(region) {
		secret = agentPlaceholders()
	}
	vars, cleanup, err := e.variables(tf.WorkingDir(), region, secret)
	if err != nil {
		return err
	}
	defer cleanup()
	opts := []tfexec.DestroyOption{tfexec.LockTimeout("0s")}
	if vars.file != "" {
		opts = append(opts, tfexec.VarFile(vars.file))
	}
	for _, v := range vars.assign {
		opts = append(opts, tfexec.Var(v))
	}
	return engineError(region, "destroy", tf.Destroy(ctx, opts...))
}

// Status reads every region's state: whether it is applied, how many resources it holds,
// its outputs and, for the local backend, when it was last written.
func (e *Engine) Status(ctx context.Context, cfg Config) ([]RegionStatus, error) {
	out := make([]RegionStatus, len(cfg.Regions))
	e.forEachRegion(regionNames(cfg), func(i int, region string) {
		r := cfg.Regions[i]
		out[i] = RegionStatus{Region: region, Provider: r.Provider, Location: r.Location}
		out[i].Err = e.statusRegion(ctx, cfg, &out[i])
	})
	errs := make([]error, len(out))
	for i, s := range out {
		errs[i] = s.Err
	}
	return out, errors.Join(errs...)
}

// regionNames lists the names of cfg's regions in order.
func regionNames(cfg Config) []string {
	names := make([]string, len(cfg.Regions))
	for i, r := range cfg.Regions {
		names[i] = r.Name
	}
	return names
}

func (e *Engine) statusRegion(ctx context.Context, cfg Config, s *RegionStatus) error {
	tf, flush, err := e.initRegion(ctx, cfg, s.Region)
	if err != nil {
		return err
	}
	defer flush()
	// The state's JSON holds the sensitive values: it must not reach Progress.
	tf.SetStdout(io.Discard)
	state, err := tf.Show(ctx)
	if err != nil {
		return engineError(s.Region, "show state", err)
	}
	if state.Values != nil {
		s.Resources = countResources(state.Values.RootModule)
		s.Outputs = map[string]string{}
		for k, o := range state.Values.Outputs {
			if o.Sensitive {
				continue // the control region's region_tokens
			}
			if raw, err := json.Marshal(o.Value); err == nil {
				s.Outputs[k] = outputString(raw)
			}
		}
	}
	s.Applied = s.Resources > 0
	if cfg.Platform.State.Backend == BackendLocal && s.Applied {
		if fi, err := os.Stat(localStatePath(cfg, tf.WorkingDir(), s.Region)); err == nil {
			s.LastApply = fi.ModTime()
		}
	}
	return nil
}

// localStatePath is where the local backend keeps region's state, as rendered.
func localStatePath(cfg Config, dir, region string) string {
	p := filepath.Join(cfg.Platform.State.Path, region, "terraform.tfstate")
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	return p
}

func countResources(m *tfjson.StateModule) int {
	if m == nil {
		return 0
	}
	n := 0
	for _, r := range m.Resources {
		if r.Mode == tfjson.ManagedResourceMode {
			n++
		}
	}
	for _, c := range m.ChildModules {
		n += countResources(c)
	}
	return n
}

// initRegion renders the region and initialises its working directory.
func (e *Engine) initRegion(ctx context.Context, cfg Config, region string) (*tfexec.Terraform, func(), error) {
	files, err := RenderRegion(cfg, region)
	if err != nil {
		return nil, nil, err
	}
	return e.initRoot(ctx, region, files)
}

// initRoot writes a root module's files and initialises its working directory.
func (e *Engine) initRoot(ctx context.Context, root string, files map[string][]byte) (*tfexec.Terraform, func(), error) {
	dir, err := e.prepare(root, files)
	if err != nil {
		return nil, nil, err
	}
	tf, flush, err := e.terraform(root, dir)
	if err != nil {
		return nil, nil, err
	}
	stamp := e.initStamp(files)
	if initDone(dir, stamp) {
		return tf, flush, nil
	}
	if err := tf.Init(ctx, tfexec.Upgrade(false)); err != nil {
		flush()
		return nil, nil, engineError(root, "init", err)
	}
	// Without the stamp the next run initialises again, which is only slower.
	_ = os.WriteFile(filepath.Join(dir, initStampFile), []byte(stamp), 0o644)
	return tf, flush, nil
}

// initStampFile records, in a root module's directory, what its last successful init was
// run on, so that an unchanged root is not initialised again: init re-reads every module
// and provider and takes about as long as a plan of a small root.
const initStampFile = ".init-stamp"

// initStamp identifies everything init depends on: the engine binary, the CLI
// configuration (provider installation), the shipped modules and the root's own files
// (backend configuration and provider requirements included).
func (e *Engine) initStamp(files map[string][]byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "binary %s\nconfig %s\nmodules %s\n", e.opts.Binary, e.opts.CLIConfigFile, modulesDigest())
	for _, name := range sortedKeys(files) {
		fmt.Fprintf(h, "%s %d\n", name, len(files[name]))
		h.Write(files[name])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// initDone reports whether dir was initialised for stamp and still holds what init made.
func initDone(dir, stamp string) bool {
	got, err := os.ReadFile(filepath.Join(dir, initStampFile))
	if err != nil || string(got) != stamp {
		return false
	}
	_, err = os.Stat(filepath.Join(dir, ".terraform"))
	return err == nil
}

// modulesDigest is the SHA-256 of the shipped modules, computed once.
var modulesDigest = sync.OnceValue(func() string {
	h := sha256.New()
	_ = fs.WalkDir(Modules(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(Modules(), p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", p, len(data))
		h.Write(data)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))
})

// String summarises the plan in one line, e.g. "lon1: 2 to create, 1 to update".
func (p RegionPlan) String() string {
	if p.Err != nil {
		return fmt.Sprintf("%s: %v", p.Region, p.Err)
	}
	if !p.HasChanges() {
		return p.Region + ": no changes"
	}
	return fmt.Sprintf("%s: %d to create, %d to update, %d to replace, %d to delete", p.Region,
		p.Count(ActionCreate), p.Count(ActionUpdate), p.Count(ActionReplace), p.Count(ActionDelete))
}
