package infra

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/hashicorp/terraform-exec/tfexec"
	"golang.org/x/sync/errgroup"

	"github.com/micro/platform"
)

// DefaultParallelism is how many regions an [Engine] runs at once unless told otherwise.
const DefaultParallelism = 4

// EngineOptions configures an [Engine].
type EngineOptions struct {
	// Binary is the path of the engine, tofu (preferred) or terraform. Required.
	Binary string
	// WorkDir is the working directory of one configuration. The engine lays it out as
	// <WorkDir>/modules (the shipped [Modules]) and <WorkDir>/<region> (the rendered root
	// module of each region, with its .terraform directory and plan files). Required.
	WorkDir string
	// Env is the engine's whole environment, as KEY=value, e.g. the provider credentials
	// listed by [ProviderEnv] taken from the caller's environment. The package never reads
	// its own process environment. TF_VAR_name entries are handed over in a var file
	// readable by the owner only (terraform-exec refuses them in the environment, and the
	// command line is visible to other users); other TF_* variables terraform-exec manages
	// itself (TF_LOG, TF_CLI_ARGS, ...) are dropped.
	Env []string
	// CLIConfigFile, when set, is handed to the engine as TF_CLI_CONFIG_FILE (for example
	// a configuration that installs providers only from a filesystem mirror).
	CLIConfigFile string
	// Parallelism is how many regions run at once; 0 means [DefaultParallelism].
	Parallelism int
	// Progress, when set, receives every line the engine prints, with its region. It is
	// called from several goroutines at once when regions run in parallel.
	Progress func(region, line string)
	// ExtraVars sets root module variables per region (region name to variable name to
	// value), passed as -var. The local region kind declares fail_apply, which makes its
	// apply fail on purpose so that failure handling can be tested.
	ExtraVars map[string]map[string]string
}

// Engine runs tofu or terraform on the root modules [RenderRegion] renders, one state and
// one lock per region, several regions at once. Its methods are safe for concurrent use,
// but two runs on the same region contend for that region's state lock: the loser reports
// ECONFLICT and the engine never breaks a lock.
type Engine struct {
	opts    EngineOptions
	env     map[string]string
	secrets map[string]string // TF_VAR_ entries of Env, by variable name
	modules sync.Mutex        // serialises refreshing <WorkDir>/modules
}

// NewEngine checks opts and returns an Engine. It returns EINVALID when the binary or the
// work directory is missing.
func NewEngine(opts EngineOptions) (*Engine, error) {
	var problems []string
	if opts.Binary == "" {
		problems = append(problems, "the engine binary (tofu or terraform) is not set")
	} else if p, err := exec.LookPath(opts.Binary); err != nil {
		problems = append(problems, fmt.Sprintf("engine binary %s: %v", opts.Binary, err))
	} else {
		opts.Binary = p
	}
	if opts.WorkDir == "" {
		problems = append(problems, "the work directory is not set")
	}
	if opts.Parallelism < 0 {
		problems = append(problems, fmt.Sprintf("parallelism %d: want 1 or more", opts.Parallelism))
	}
	if len(problems) > 0 {
		return nil, platform.Errorf(platform.EINVALID, "%s", strings.Join(problems, "\n"))
	}
	if opts.Parallelism == 0 {
		opts.Parallelism = DefaultParallelism
	}
	dir, err := filepath.Abs(opts.WorkDir)
	if err != nil {
		return nil, fmt.Errorf("resolve work directory: %w", err)
	}
	opts.WorkDir = dir
	e := &Engine{opts: opts, env: map[string]string{"CHECKPOINT_DISABLE": "1"}, secrets: map[string]string{}}
	for _, kv := range opts.Env {
		k, v, _ := strings.Cut(kv, "=")
		if name, ok := strings.CutPrefix(k, "TF_VAR_"); ok {
			e.secrets[name] = v
			continue
		}
		e.env[k] = v
	}
	if opts.CLIConfigFile != "" {
		e.env["TF_CLI_CONFIG_FILE"] = opts.CLIConfigFile
	}
	tfexec.CleanEnv(e.env)
	return e, nil
}

// forEachRegion runs fn on every region, at most Parallelism at once. A region's failure
// does not stop the others; fn reports it in its own result.
func (e *Engine) forEachRegion(regions []string, fn func(i int, region string)) {
	var g errgroup.Group
	g.SetLimit(e.opts.Parallelism)
	for i, r := range regions {
		g.Go(func() error {
			fn(i, r)
			return nil
		})
	}
	_ = g.Wait() // fn returns nothing: each region's error is in its result
}

// checkRegions returns the regions to run, all of cfg's when regions is empty, and
// ENOTFOUND naming every region cfg does not have.
func checkRegions(cfg Config, regions []string) ([]string, error) {
	if len(regions) == 0 {
		return regionNames(cfg), nil
	}
	var missing []string
	seen := map[string]bool{}
	var out []string
	for _, name := range regions {
		if _, ok := cfg.Region(name); !ok {
			missing = append(missing, fmt.Sprintf("%q", name))
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	if len(missing) > 0 {
		return nil, platform.Errorf(platform.ENOTFOUND, "region %s not in the config", strings.Join(missing, ", "))
	}
	return out, nil
}

// prepare refreshes <WorkDir>/modules from [Modules] and writes the root module files
// into <WorkDir>/<root> (a region's name or [GlobalRoot]), removing .tf files left over
// from an earlier rendering. It keeps the engine's own files (.terraform, the dependency
// lock file).
func (e *Engine) prepare(root string, files map[string][]byte) (string, error) {
	if err := e.writeModules(); err != nil {
		return "", err
	}
	dir := filepath.Join(e.opts.WorkDir, root)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s directory: %w", root, err)
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return "", fmt.Errorf("list %s directory: %w", root, err)
	}
	for _, p := range old {
		if _, ok := files[filepath.Base(p)]; !ok {
			if err := os.Remove(p); err != nil {
				return "", fmt.Errorf("remove stale %s: %w", p, err)
			}
		}
	}
	for name, content := range files {
		if err := writeIfChanged(filepath.Join(dir, name), content); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// writeModules copies [Modules] into <WorkDir>/modules, rewriting only changed files.
func (e *Engine) writeModules() error {
	e.modules.Lock()
	defer e.modules.Unlock()
	root := filepath.Join(e.opts.WorkDir, "modules")
	return fs.WalkDir(Modules(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(root, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := fs.ReadFile(Modules(), p)
		if err != nil {
			return err
		}
		return writeIfChanged(dst, data)
	})
}

// writeIfChanged writes data to path unless the file already holds it, through a
// temporary file so a reader never sees half a file.
func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(f.Name(), 0o644)); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// terraform returns an engine driver for the region's root module in dir, its output
// streamed to Progress line by line.
func (e *Engine) terraform(region, dir string) (*tfexec.Terraform, func(), error) {
	tf, err := tfexec.NewTerraform(dir, e.opts.Binary)
	if err != nil {
		return nil, nil, fmt.Errorf("region %s: %w", region, err)
	}
	if err := tf.SetEnv(e.env); err != nil {
		return nil, nil, fmt.Errorf("region %s: %w", region, err)
	}
	out := &lineWriter{fn: func(line string) { e.progress(region, line) }}
	tf.SetStdout(out)
	tf.SetStderr(out)
	return tf, out.Flush, nil
}

// ProgressWriter returns an [EngineOptions].Progress function that writes each line to w
// prefixed by its region, as "lon1: Apply complete!", one line at a time even when
// regions run in parallel.
func ProgressWriter(w io.Writer) func(region, line string) {
	var mu sync.Mutex
	return func(region, line string) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = fmt.Fprintf(w, "%s: %s\n", region, line)
	}
}

func (e *Engine) progress(region, line string) {
	if e.opts.Progress != nil {
		e.opts.Progress(region, line)
	}
}

// regionVars are the variables of one engine command.
type regionVars struct {
	file   string   // a var file holding the TF_VAR_ entries of Env, or ""
	assign []string // ExtraVars, as name=value
}

// variables returns the region's variables for one command and a function that removes
// the var file. TF_VAR_ entries of Env and secret, the variables of this command only (an
// agent region's control plane URL and token), go in a var file readable by the owner
// only, so that secrets such as a database URL or a region token never appear on a command
// line, and a variable the root module does not declare is a warning, as it is in the
// environment. ExtraVars go on the command line, sorted so that it is stable.
func (e *Engine) variables(dir, region string, secret map[string]string) (regionVars, func(), error) {
	var v regionVars
	extra := e.opts.ExtraVars[region]
	for _, k := range sortedKeys(extra) {
		v.assign = append(v.assign, k+"="+extra[k])
	}
	if len(e.secrets) == 0 && len(secret) == 0 {
		return v, func() {}, nil
	}
	all := make(map[string]string, len(e.secrets)+len(secret))
	maps.Copy(all, e.secrets)
	maps.Copy(all, secret)
	data, err := json.Marshal(all)
	if err != nil {
		return v, nil, fmt.Errorf("encode variables: %w", err)
	}
	f, err := os.CreateTemp(dir, ".platform-*.tfvars.json") // created 0600
	if err != nil {
		return v, nil, fmt.Errorf("write variables: %w", err)
	}
	remove := func() { _ = os.Remove(f.Name()) }
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Close()); err != nil {
		remove()
		return v, nil, fmt.Errorf("write variables: %w", err)
	}
	v.file = f.Name()
	return v, remove, nil
}

// lineWriter calls fn with each complete line written to it.
type lineWriter struct {
	mu  sync.Mutex
	buf []byte
	fn  func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.fn(strings.TrimRight(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
}

// Flush passes on a last line that has no newline.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.fn(string(w.buf))
		w.buf = nil
	}
}

// lockFieldRE finds the fields of the lock info in the engine's "Error acquiring the
// state lock" message, e.g. "  ID:        0f2c...".
var lockFieldRE = regexp.MustCompile(`(?m)^\s*(ID|Operation|Who|Created):[ \t]*(\S.*?)\s*$`)

// engineError turns a failed engine command into an error for the user. A state lock
// held by another run becomes ECONFLICT naming the lock; the engine's diagnostics are
// kept in the message of any other failure, with code EUNAVAILABLE, as the run did not
// complete. Context errors pass through.
func engineError(region, op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("region %s: %s: %w", region, op, err)
	}
	text := err.Error()
	if strings.Contains(text, "Error acquiring the state lock") {
		lock := map[string]string{"ID": "unknown", "Who": "unknown", "Operation": "unknown", "Created": "unknown"}
		for _, m := range lockFieldRE.FindAllStringSubmatch(text, -1) {
			lock[m[1]] = m[2]
		}
		return platform.Errorf(platform.ECONFLICT, "state of region %s is locked by another run (ID %s)", region, lock["ID"]).
			WithHint("the lock is held by %s for %s since %s: wait for that run to finish and try again; the lock is never broken automatically",
				lock["Who"], lock["Operation"], lock["Created"])
	}
	return platform.Errorf(platform.EUNAVAILABLE, "region %s: %s failed: %s", region, op, diagnostics(text)).
		WithHint("fix the cause and run again: regions that completed are left as they are")
}

// diagnostics trims an engine error to its message: tfexec prefixes the exit status.
func diagnostics(text string) string {
	if _, rest, ok := strings.Cut(text, "\n"); ok && strings.HasPrefix(text, "exit status") {
		text = rest
	}
	return strings.TrimSpace(text)
}
