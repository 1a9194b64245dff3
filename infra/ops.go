package infra

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"
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
	Err     error
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
// kubeconfig_ref): strings as they are, other values as JSON. Err is set when the apply
// failed; a later apply continues from whatever the failed one left in the state.
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
	plans := make([]RegionPlan, len(regions))
	e.forEachRegion(regions, func(i int, region string) {
		changes, err := e.planRegion(ctx, cfg, region)
		plans[i] = RegionPlan{Region: region, Changes: changes, Err: err}
	})
	errs := make([]error, len(plans))
	for i, p := range plans {
		errs[i] = p.Err
	}
	return plans, errors.Join(errs...)
}

func (e *Engine) planRegion(ctx context.Context, cfg Config, region string) ([]ResourceChange, error) {
	tf, flush, err := e.initRegion(ctx, cfg, region)
	if err != nil {
		return nil, err
	}
	defer flush()
	return e.plan(ctx, region, tf)
}

// plan plans the initialised root module tf and summarises it.
func (e *Engine) plan(ctx context.Context, region string, tf *tfexec.Terraform) ([]ResourceChange, error) {
	// The plan file holds the variables' values, secrets included: it lives only as long
	// as it takes to read it back.
	planFile := filepath.Join(tf.WorkingDir(), "platform.tfplan")
	defer os.Remove(planFile)
	vars, cleanup, err := e.variables(tf.WorkingDir(), region)
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
// once, and returns each region's outputs. One region's failure does not stop the others:
// it is in that region's Err and joined in the returned error. Applying again continues
// from the state the failed run left.
func (e *Engine) Apply(ctx context.Context, cfg Config, regions []string) ([]RegionResult, error) {
	regions, err := checkRegions(cfg, regions)
	if err != nil {
		return nil, err
	}
	results := make([]RegionResult, len(regions))
	e.forEachRegion(regions, func(i int, region string) {
		start := time.Now()
		outputs, err := e.applyRegion(ctx, cfg, region)
		results[i] = RegionResult{Region: region, Outputs: outputs, Duration: time.Since(start), Err: err}
	})
	errs := make([]error, len(results))
	for i, r := range results {
		errs[i] = r.Err
	}
	return results, errors.Join(errs...)
}

func (e *Engine) applyRegion(ctx context.Context, cfg Config, region string) (map[string]string, error) {
	tf, flush, err := e.initRegion(ctx, cfg, region)
	if err != nil {
		return nil, err
	}
	defer flush()
	return e.apply(ctx, region, tf)
}

// apply applies the initialised root module tf and returns its outputs.
func (e *Engine) apply(ctx context.Context, region string, tf *tfexec.Terraform) (map[string]string, error) {
	vars, cleanup, err := e.variables(tf.WorkingDir(), region)
	if err != nil {
		return nil, err
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
		return nil, engineError(region, "apply", err)
	}
	meta, err := tf.Output(ctx)
	if err != nil {
		return nil, engineError(region, "read outputs", err)
	}
	outputs := make(map[string]string, len(meta))
	for k, m := range meta {
		outputs[k] = outputString(m.Value)
	}
	return outputs, nil
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
	vars, cleanup, err := e.variables(tf.WorkingDir(), region)
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
	state, err := tf.Show(ctx)
	if err != nil {
		return engineError(s.Region, "show state", err)
	}
	if state.Values != nil {
		s.Resources = countResources(state.Values.RootModule)
		s.Outputs = map[string]string{}
		for k, o := range state.Values.Outputs {
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
