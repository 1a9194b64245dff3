package infra

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/micro/platform"
	"github.com/micro/platform/internal/kubetest"
)

// tofuDir holds the OpenTofu binary and CLI configuration scripts/build-tofu made for the
// engine tests; empty under -short.
var tofuDir string

func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Short() {
		cache := os.Getenv("PLATFORM_TEST_CACHE")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				fmt.Fprintln(os.Stderr, "infra tests: no home directory for the test cache:", err)
				os.Exit(1)
			}
			cache = filepath.Join(home, ".cache", "micro-platform-test")
		}
		tofuDir = filepath.Join(cache, "tofu")
		// The script skips the build when the binary is already there.
		cmd := exec.Command(filepath.Join("..", "scripts", "build-tofu"), tofuDir)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "infra tests: scripts/build-tofu failed (run with -short to skip engine tests):", err)
			os.Exit(1)
		}
	}
	// A real kube-apiserver for the platform module's install test (platform_test.go);
	// a start error fails only the tests that need it.
	stopKube, _ := kubetest.Start()
	code := m.Run()
	stopKube()
	os.Exit(code)
}

// engineFixture is a configuration of two local regions with local state, a work directory
// and an engine that records the progress lines of each region.
type engineFixture struct {
	dir string
	cfg Config
	mu  sync.Mutex
	log map[string][]string
}

const twoLocalRegions = `
platform:
  name: micro
  domain: example.dev
  state: { backend: local, path: %s }
regions:
  - name: one
    provider: local
  - name: two
    provider: local
`

func newEngineFixture(t *testing.T) *engineFixture {
	t.Helper()
	if testing.Short() {
		t.Skip("engine test: runs OpenTofu")
	}
	dir := t.TempDir()
	cfg, err := Parse(fmt.Appendf(nil, twoLocalRegions, filepath.Join(dir, "state")), "platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return &engineFixture{dir: dir, cfg: cfg, log: map[string][]string{}}
}

// env is the engine's environment: no credentials, a home of its own, the CLI config that
// allows only a filesystem mirror (so nothing reaches the network), and PATH for local-exec.
func (f *engineFixture) env() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + f.dir}
}

func (f *engineFixture) engine(t *testing.T, extra map[string]map[string]string) *Engine {
	t.Helper()
	e, err := NewEngine(EngineOptions{
		Binary:        filepath.Join(tofuDir, "tofu"),
		WorkDir:       filepath.Join(f.dir, "work"),
		Env:           f.env(),
		CLIConfigFile: filepath.Join(tofuDir, "tofurc"),
		Parallelism:   2,
		ExtraVars:     extra,
		Progress: func(region, line string) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.log[region] = append(f.log[region], line)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (f *engineFixture) statePath(region string) string {
	return filepath.Join(f.dir, "state", region, "terraform.tfstate")
}

var localResources = []string{
	"module.region.terraform_data.cluster",
	"module.region.terraform_data.node_pool",
	"module.region.terraform_data.platform",
}

// actions maps each planned resource of p to its action.
func actions(p RegionPlan) map[string]Action {
	out := map[string]Action{}
	for _, c := range p.Changes {
		out[c.Address] = c.Action
	}
	return out
}

// tokenResource is the control region's token of the agent region called agent.
func tokenResource(agent string) string {
	return `module.region.module.tokens.terraform_data.token["` + agent + `"]`
}

// allActions maps each resource of a region of twoLocalRegions to a: the control region
// one has the token of the agent region two besides.
func allActions(region string, a Action) map[string]Action {
	out := map[string]Action{}
	for _, r := range localResources {
		out[r] = a
	}
	if region == "one" {
		out[tokenResource("two")] = a
	}
	return out
}

func checkPlans(t *testing.T, plans []RegionPlan, want map[string]map[string]Action) {
	t.Helper()
	if len(plans) != len(want) {
		t.Fatalf("got %d plans, want %d", len(plans), len(want))
	}
	for _, p := range plans {
		if p.Err != nil {
			t.Errorf("region %s: %v", p.Region, p.Err)
			continue
		}
		if got := actions(p); !reflect.DeepEqual(got, want[p.Region]) {
			t.Errorf("region %s planned %v, want %v", p.Region, got, want[p.Region])
		}
	}
}

func checkApplied(t *testing.T, results []RegionResult, regions ...string) {
	t.Helper()
	for _, r := range results {
		if !contains(regions, r.Region) {
			continue
		}
		if r.Err != nil {
			t.Errorf("apply %s: %v", r.Region, r.Err)
			continue
		}
		want := map[string]string{
			"gateway_endpoint": "https://" + r.Region + ".example.dev",
			"kubeconfig_ref":   "local:micro/" + r.Region,
			"region":           r.Region,
			"provider":         ProviderLocal,
		}
		for k, v := range want {
			if r.Outputs[k] != v {
				t.Errorf("apply %s: output %s = %q, want %q", r.Region, k, r.Outputs[k], v)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestEngineLifecycle runs plan, apply, a plan with no changes, a plan after a config
// change, status and destroy on two local regions with the real engine.
func TestEngineLifecycle(t *testing.T) {
	t.Parallel()
	f := newEngineFixture(t)
	e := f.engine(t, nil)
	ctx := context.Background()

	t.Run("plan creates both regions", func(t *testing.T) {
		plans, err := e.Plan(ctx, f.cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkPlans(t, plans, map[string]map[string]Action{"one": allActions("one", ActionCreate), "two": allActions("two", ActionCreate)})
		if got := plans[0].String(); got != "one: 4 to create, 0 to update, 0 to replace, 0 to delete" {
			t.Errorf("summary = %q", got)
		}
		if plans[0].Note != "" || !strings.Contains(plans[1].Note, "the control region one is not applied yet") {
			t.Errorf("notes = %q, %q: want the agent region two's to say the control region is not applied", plans[0].Note, plans[1].Note)
		}
		if left, _ := filepath.Glob(filepath.Join(f.dir, "work", "*", "*.tfplan")); len(left) > 0 {
			t.Errorf("plan files, which hold variables' values, left behind: %v", left)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, r := range []string{"one", "two"} {
			if !strings.Contains(strings.Join(f.log[r], "\n"), "module.region.terraform_data.cluster will be created") {
				t.Errorf("progress of %s does not show the plan: %q", r, f.log[r])
			}
		}
	})
	t.Run("apply creates state and outputs", func(t *testing.T) {
		results, err := e.Apply(ctx, f.cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkApplied(t, results, "one", "two")
		for _, r := range []string{"one", "two"} {
			if _, err := os.Stat(f.statePath(r)); err != nil {
				t.Errorf("state of %s: %v", r, err)
			}
		}
	})
	t.Run("second plan has no changes", func(t *testing.T) {
		plans, err := e.Plan(ctx, f.cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkPlans(t, plans, map[string]map[string]Action{"one": allActions("one", ActionNoOp), "two": allActions("two", ActionNoOp)})
		for _, p := range plans {
			if p.HasChanges() || p.String() != p.Region+": no changes" {
				t.Errorf("%s", p)
			}
		}
		// plan, apply, plan of an unchanged root: init ran once.
		f.mu.Lock()
		defer f.mu.Unlock()
		if n := strings.Count(strings.Join(f.log["one"], "\n"), "has been successfully initialized"); n != 1 {
			t.Errorf("region one was initialised %d times, want once for an unchanged root", n)
		}
	})
	t.Run("config change updates one region alone", func(t *testing.T) {
		changed := f.cfg
		changed.Regions = append([]Region(nil), f.cfg.Regions...)
		changed.Regions[1].Nodes.Max = 5
		plans, err := e.Plan(ctx, changed, nil)
		if err != nil {
			t.Fatal(err)
		}
		two := allActions("two", ActionNoOp)
		two["module.region.terraform_data.node_pool"] = ActionUpdate
		checkPlans(t, plans, map[string]map[string]Action{"one": allActions("one", ActionNoOp), "two": two})
	})
	t.Run("status", func(t *testing.T) {
		status, err := e.Status(ctx, f.cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range status {
			if !s.Applied || s.Resources != len(allActions(s.Region, ActionNoOp)) || s.LastApply.IsZero() || s.Outputs["gateway_endpoint"] != "https://"+s.Region+".example.dev" {
				t.Errorf("status %+v", s)
			}
		}
	})
	t.Run("destroy one region", func(t *testing.T) {
		if err := e.Destroy(ctx, f.cfg, "two"); err != nil {
			t.Fatal(err)
		}
		status, err := e.Status(ctx, f.cfg)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, s := range status {
			got[s.Region] = s.Resources
		}
		if want := map[string]int{"one": 4, "two": 0}; !reflect.DeepEqual(got, want) {
			t.Errorf("resources after destroying two = %v, want %v", got, want)
		}
		plans, err := e.Plan(ctx, f.cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkPlans(t, plans, map[string]map[string]Action{"one": allActions("one", ActionNoOp), "two": allActions("two", ActionCreate)})
	})
	t.Run("unknown region", func(t *testing.T) {
		_, err := e.Plan(ctx, f.cfg, []string{"one", "nowhere"})
		if platform.ErrorCode(err) != platform.ENOTFOUND || !strings.Contains(err.Error(), `"nowhere"`) {
			t.Errorf("err = %v, want ENOTFOUND naming the region", err)
		}
	})
}

// TestEngineFailedApply shows a region failing at apply leaves the other applied, and the
// next apply completes it.
func TestEngineFailedApply(t *testing.T) {
	t.Parallel()
	f := newEngineFixture(t)
	ctx := context.Background()

	results, err := f.engine(t, map[string]map[string]string{"two": {"fail_apply": "true"}}).Apply(ctx, f.cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "region two: apply failed") {
		t.Fatalf("err = %v, want the failure of region two", err)
	}
	if strings.Contains(err.Error(), "region one") {
		t.Errorf("err = %v, mentions region one, which succeeded", err)
	}
	checkApplied(t, results, "one")
	if r := results[1]; r.Err == nil || !strings.Contains(r.Err.Error(), "fail_apply is set") || r.Outputs != nil {
		t.Errorf("region two: %+v, want its error with the engine's diagnostics", r)
	}

	e := f.engine(t, nil)
	results, err = e.Apply(ctx, f.cfg, nil)
	if err != nil {
		t.Fatalf("apply after fixing the failure: %v", err)
	}
	checkApplied(t, results, "one", "two")
	plans, err := e.Plan(ctx, f.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkPlans(t, plans, map[string]map[string]Action{"one": allActions("one", ActionNoOp), "two": allActions("two", ActionNoOp)})
}

// TestEngineStateLock holds a region's state lock with another engine run and checks plan
// and apply report it as ECONFLICT without breaking it.
func TestEngineStateLock(t *testing.T) {
	t.Parallel()
	f := newEngineFixture(t)
	e := f.engine(t, nil)
	ctx := context.Background()
	if _, err := e.Apply(ctx, f.cfg, []string{"one"}); err != nil {
		t.Fatal(err)
	}
	id, release := holdLock(t, f, "one")
	for _, op := range []string{"plan", "apply"} {
		var err error
		if op == "plan" {
			_, err = e.Plan(ctx, f.cfg, []string{"one"})
		} else {
			_, err = e.Apply(ctx, f.cfg, []string{"one"})
		}
		want := fmt.Sprintf("state of region one is locked by another run (ID %s)", id)
		if platform.ErrorCode(err) != platform.ECONFLICT || platform.ErrorMessage(err) != want {
			t.Errorf("%s: err = %v, want ECONFLICT %q", op, err, want)
		}
		if hint := platform.ErrorHint(err); !strings.Contains(hint, "OperationTypeApply") || !strings.Contains(hint, "never broken") {
			t.Errorf("%s: hint = %q, want who holds the lock for what", op, hint)
		}
	}
	// The lock is still the other run's: nothing broke or replaced it. release checks the
	// other run then unlocks and ends cleanly.
	if data, err := os.ReadFile(lockInfoPath(f.statePath("one"))); err != nil || !strings.Contains(string(data), id) {
		t.Errorf("the other run's lock is gone or changed: %s (err %v)", data, err)
	}
	release()
	if _, err := e.Apply(ctx, f.cfg, []string{"one"}); err != nil {
		t.Errorf("apply after the lock was released: %v", err)
	}
	if _, err := os.Stat(lockInfoPath(f.statePath("one"))); !os.IsNotExist(err) {
		t.Errorf("lock info left behind after both runs ended: %v", err)
	}
}

func lockInfoPath(state string) string {
	return filepath.Join(filepath.Dir(state), "."+filepath.Base(state)+".lock.info")
}

// holdLock starts another engine run on the region's state: tofu apply of a copy of the
// region's root with one more resource, whose provisioner waits until release is called,
// so that the run holds the state lock meanwhile. It returns the lock's ID.
func holdLock(t *testing.T, f *engineFixture, region string) (string, func()) {
	t.Helper()
	dir := filepath.Join(f.dir, "work", region+"-other-run")
	gate := filepath.Join(f.dir, "gate")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(f.dir, "work", region, "*.tf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hold := fmt.Sprintf(`resource "terraform_data" "hold" {
  provisioner "local-exec" {
    command = "i=0; while [ -e %s ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done"
  }
}
`, gate)
	for p, data := range map[string]string{filepath.Join(dir, "hold.tf"): hold, gate: ""} {
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(tofuDir, "tofu"), args...)
		cmd.Dir = dir
		cmd.Env = append(f.env(), "TF_CLI_CONFIG_FILE="+filepath.Join(tofuDir, "tofurc"), "TF_IN_AUTOMATION=1")
		return cmd
	}
	if out, err := run("init", "-input=false").CombinedOutput(); err != nil {
		t.Fatalf("init the other run: %v\n%s", err, out)
	}
	cmd := run("apply", "-auto-approve", "-input=false")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	release := func() {
		_ = os.Remove(gate)
		if err := cmd.Wait(); err != nil {
			t.Errorf("the other run: %v\n%s", err, out.String())
		}
	}
	infoPath := lockInfoPath(f.statePath(region))
	deadline := time.Now().Add(30 * time.Second)
	for {
		var info struct{ ID string }
		data, err := os.ReadFile(infoPath)
		if err == nil && json.Unmarshal(data, &info) == nil && info.ID != "" {
			return info.ID, release
		}
		if time.Now().After(deadline) {
			release()
			t.Fatalf("the other run did not take the lock: %v", errors.Join(err, errors.New(out.String())))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestNewEngineInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts EngineOptions
		want []string
	}{
		{"nothing set", EngineOptions{}, []string{"engine binary", "work directory"}},
		{"missing binary", EngineOptions{Binary: filepath.Join(t.TempDir(), "tofu"), WorkDir: t.TempDir()}, []string{"engine binary"}},
		{"negative parallelism", EngineOptions{Binary: "/bin/sh", WorkDir: t.TempDir(), Parallelism: -1}, []string{"parallelism -1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewEngine(tt.opts)
			if platform.ErrorCode(err) != platform.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to mention %q", err, w)
				}
			}
		})
	}
}

// TestEngineEnvVariables shows TF_VAR_ entries of Env reach the engine (here fail_apply,
// which the local root declares) through a var file that is removed after the run, and
// that an undeclared one (database_url) is no error.
func TestEngineEnvVariables(t *testing.T) {
	t.Parallel()
	f := newEngineFixture(t)
	e, err := NewEngine(EngineOptions{
		Binary:        filepath.Join(tofuDir, "tofu"),
		WorkDir:       filepath.Join(f.dir, "work"),
		Env:           append(f.env(), "TF_VAR_fail_apply=true", "TF_VAR_database_url=postgres://user:secret@db/platform"),
		CLIConfigFile: filepath.Join(tofuDir, "tofurc"),
		Progress: func(region, line string) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.log[region] = append(f.log[region], line)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	results, err := e.Apply(context.Background(), f.cfg, []string{"one"})
	if err == nil || !strings.Contains(err.Error(), "fail_apply is set") {
		t.Fatalf("err = %v, want the failure fail_apply asks for", err)
	}
	f.mu.Lock()
	log := strings.Join(f.log["one"], "\n")
	f.mu.Unlock()
	if strings.Contains(err.Error()+log, "user:secret") {
		t.Errorf("the secret variable's value shows in the error or progress: %v\n%s", err, log)
	}
	if !strings.Contains(log, "undeclared variable") {
		t.Errorf("progress does not warn of the undeclared variable:\n%s", log)
	}
	if len(results) != 1 || results[0].Err == nil {
		t.Errorf("results = %+v, want region one failed", results)
	}
	left, err := filepath.Glob(filepath.Join(f.dir, "work", "one", ".platform-*"))
	if err != nil || len(left) > 0 {
		t.Errorf("var files left behind: %v (err %v)", left, err)
	}
}

func TestProgressWriter(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	progress := ProgressWriter(&out)
	w := &lineWriter{fn: func(line string) { progress("lon1", line) }}
	for _, chunk := range []string{"Plan: 3 to ", "add\r\nApply", " complete!\n", "last"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	if want := "lon1: Plan: 3 to add\nlon1: Apply complete!\nlon1: last\n"; out.String() != want {
		t.Errorf("progress = %q, want %q", out.String(), want)
	}
}

// TestForEachRegionLimit checks regions run in parallel up to Parallelism and no further.
func TestForEachRegionLimit(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{1, 2, 4} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			t.Parallel()
			e := &Engine{opts: EngineOptions{Parallelism: limit}}
			var mu sync.Mutex
			running, peak := 0, 0
			done := make([]bool, 6)
			e.forEachRegion([]string{"a", "b", "c", "d", "e", "f"}, func(i int, _ string) {
				mu.Lock()
				running++
				peak = max(peak, running)
				mu.Unlock()
				time.Sleep(100 * time.Millisecond)
				mu.Lock()
				running--
				done[i] = true
				mu.Unlock()
			})
			if peak != limit {
				t.Errorf("peak concurrency = %d, want %d", peak, limit)
			}
			for i, d := range done {
				if !d {
					t.Errorf("region %d did not run", i)
				}
			}
		})
	}
}
