package cli

import (
	"context"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
	"github.com/micro/platform/archive"
	"github.com/micro/platform/client"
	"github.com/micro/platform/gitops"
)

// devDebounce is how long after the last change in a burst `platform dev` waits before
// it redeploys: an editor's save is often several events (write, chmod, rename), and a
// formatter on save writes the file again.
const devDebounce = 100 * time.Millisecond

// devOptions are the flags of dev.
type devOptions struct {
	namespace, name string
	debounce        time.Duration
	noLogs          bool
}

func (a *app) devCmd() *cobra.Command {
	var o devOptions
	cmd := &cobra.Command{
		Use:   "dev DIR",
		Short: "Redeploy a service (or a micro.mu project) into a dev namespace on every save",
		Long: "dev deploys DIR into a dev namespace (`platform namespaces create NAME --dev`), then\n" +
			"watches it and redeploys on every save: only the services whose files changed (in a\n" +
			"micro.mu project; a change to shared code, go.mod or micro.mu redeploys them all). It\n" +
			"prints a line per redeploy with its time from the save to the new version serving,\n" +
			"the compiler's errors when a build fails (the running version keeps serving), and the\n" +
			"output of the services' instances, each line prefixed with its service.\n\n" +
			"In a dev namespace a release is built without debug information and replaces the\n" +
			"running one as soon as it is registered and answers its health check. Ctrl-C stops\n" +
			"watching and leaves the last good version running.",
		Example: `  platform namespaces create acme-dev --dev
  platform dev ./helloworld -n acme-dev
  platform dev . -n acme-dev          # a micro.mu project: every service in it`,
		Args: args(1, 1, "a directory"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			return a.dev(cmd, args[0], o)
		}),
	}
	f := cmd.Flags()
	addNamespaceFlag(cmd, &o.namespace)
	f.StringVar(&o.name, "name", "", "service name of a directory without micro.mu (default: the directory's name)")
	f.DurationVar(&o.debounce, "debounce", devDebounce, "quiet time after a change before redeploying")
	f.BoolVar(&o.noLogs, "no-logs", false, "do not print the instances' output")
	return cmd
}

func (a *app) dev(cmd *cobra.Command, dir string, o devOptions) error {
	if o.debounce < 0 {
		return usageErrorf("--debounce %s: must not be negative", o.debounce)
	}
	proj, err := loadDevProject(dir, o.name)
	if err != nil {
		return err
	}
	c, ns, err := a.connectNS(cmd, o.namespace)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	nsInfo, err := c.GetNamespace(ctx, ns)
	if err != nil {
		return err
	}
	if !nsInfo.Dev {
		return platform.Errorf(platform.EINVALID, "namespace %s is not a dev namespace: `platform dev` redeploys without the rollout's safety waits, so it deploys only into one", ns).
			WithHint("create one with `platform namespaces create %s-dev --dev`, or deploy here with `platform deploy`", ns)
	}
	w, err := newDevWatcher(proj.root, o.debounce)
	if err != nil {
		return err
	}
	defer w.close()
	s := &devSession{a: a, c: c, ns: ns, proj: proj, noLogs: o.noLogs, started: time.Now(),
		live: map[string]string{}, logs: map[string]bool{}}
	s.out = &devPrinter{w: a.stdout, width: proj.nameWidth()}
	if err := s.run(ctx, w); err != nil && ctx.Err() == nil {
		return err
	}
	s.out.status("Stopped watching %s. %s", proj.root, s.leftRunning())
	return nil
}

// devService is one service `platform dev` deploys.
type devService struct {
	Name string
	// Path is the service's directory relative to the project root, slash-separated
	// ("" the root): the deploy's Source.Path within the project's archive.
	Path string
}

// devProject is what `platform dev` watches: one service directory, or a micro.mu
// project and its services.
type devProject struct {
	root     string // absolute
	services []devService
	env      map[string]string
	// project is the micro.mu project; nil for a single service.
	project *gitops.Project
	// imports are the project's services' imported package directories; nil for a
	// single service.
	imports *devImports
}

// loadDevProject reads dir: a micro.mu (or micro.json) names its services, as the GitOps
// worker reads one, with its "development" env block (else "production"); otherwise dir
// must hold a main package, the service named name or after the directory. EINVALID
// (a usage error) for anything else.
func loadDevProject(dir, name string) (*devProject, error) {
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if st, statErr := os.Stat(abs); err != nil || statErr != nil || !st.IsDir() {
		return nil, &usageError{err: platform.Errorf(platform.EINVALID, "%s is not a directory", dir).
			WithHint("pass the directory of a go-micro service, or of a project with a micro.mu")}
	}
	p := &devProject{root: abs}
	if hasManifest(abs) {
		if name != "" {
			return nil, usageErrorf("--name: %s has a micro.mu, which names its services", dir)
		}
		proj, err := gitops.LoadProject(abs, "", filepath.Base(abs), "development")
		if err != nil {
			return nil, &usageError{err: err}
		}
		p.project, p.env, p.imports = proj, proj.Env, &devImports{}
		for _, s := range proj.Services {
			if err := checkMainPackage(filepath.Join(abs, filepath.FromSlash(s.Path)), s.Name); err != nil {
				return nil, err
			}
			p.services = append(p.services, devService{Name: s.Name, Path: s.Path})
		}
		return p, nil
	}
	if name == "" {
		name = strings.ToLower(filepath.Base(abs))
	}
	if err := platform.ValidateName("service", name); err != nil {
		return nil, usageErrorf("%s (pass --name NAME)", platform.ErrorMessage(err))
	}
	if err := checkMainPackage(abs, name); err != nil {
		return nil, err
	}
	p.services = []devService{{Name: name}}
	return p, nil
}

func hasManifest(dir string) bool {
	for _, m := range []string{"micro.mu", "micro.json"} {
		if _, err := os.Stat(filepath.Join(dir, m)); err == nil {
			return true
		}
	}
	return false
}

// checkMainPackage reports a usage error unless dir holds a Go file of package main.
func checkMainPackage(dir, service string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return &usageError{err: platform.Errorf(platform.EINVALID, "service %s: %v", service, err)}
	}
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, n), nil, parser.PackageClauseOnly)
		if err == nil && f.Name.Name == "main" {
			return nil
		}
	}
	return &usageError{err: platform.Errorf(platform.EINVALID, "%s has no main package: service %s needs a main.go (package main) that calls service.Run()", dir, service).
		WithHint("pass the directory of a go-micro service, or of a project with a micro.mu")}
}

// affected returns the services a batch of changed paths (slash-separated, relative to
// the root) touches. A single service: for any change. A micro.mu project: a change to
// the manifest, go.mod, go.sum or go.work touches every service; a file inside a
// service's directory touches that service; a Go file touches every service that builds
// the package of its directory (`go list -deps`, devImports), so shared code redeploys
// only the services that import it. While the imports are not known (`go list` failed or
// is reading them again after a change) it falls back to gitops' Project.Affected, which
// redeploys every service for a change to Go code outside them.
func (p *devProject) affected(changed []string) []devService {
	if len(changed) == 0 {
		return nil
	}
	if p.project == nil {
		return slices.Clone(p.services)
	}
	imports := p.imports.get()
	if imports == nil {
		var out []devService
		for _, s := range p.project.Affected(changed, true, "") {
			out = append(out, devService{Name: s.Name, Path: s.Path})
		}
		return out
	}
	touched := map[string]bool{}
	for _, c := range changed {
		switch path.Base(c) {
		case "micro.mu", "micro.json", "go.mod", "go.sum", "go.work", "go.work.sum":
			return slices.Clone(p.services)
		}
		if owner := p.owner(c); owner != "" {
			touched[owner] = true
		}
		if strings.HasSuffix(c, ".go") {
			for name, dirs := range imports {
				if dirs[path.Dir(c)] {
					touched[name] = true
				}
			}
		}
	}
	return slices.DeleteFunc(slices.Clone(p.services), func(s devService) bool { return !touched[s.Name] })
}

// owner names the service whose directory holds file most closely, "" for none.
func (p *devProject) owner(file string) string {
	best, bestLen := "", -1
	for _, s := range p.services {
		if (s.Path == "" || file == s.Path || strings.HasPrefix(file, s.Path+"/")) && len(s.Path) > bestLen {
			best, bestLen = s.Name, len(s.Path)
		}
	}
	return best
}

// readImports (re)reads, in the background, which package directories of the project
// each service builds; until it is done affected uses the coarser rule. Called at start
// and after every batch that changed Go code or the module (an import may have come or
// gone). A single service has nothing to read.
func (p *devProject) readImports(ctx context.Context) {
	if p.imports == nil {
		return
	}
	gen := p.imports.invalidate()
	go func() {
		dirs := map[string]map[string]bool{}
		for _, s := range p.services {
			d, err := goListDirs(ctx, p.root, s.Path)
			if err != nil {
				return // unknown: the coarse rule stays
			}
			dirs[s.Name] = d
		}
		p.imports.set(gen, dirs)
	}()
}

// goListDirs returns the directories, relative to root and slash-separated, of the
// packages inside root that the main package at root/dir builds from (itself included).
func goListDirs(ctx context.Context, root, dir string) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", ".")
	cmd.Dir = filepath.Join(root, filepath.FromSlash(dir))
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list in %s: %w", cmd.Dir, err)
	}
	dirs := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" {
			continue
		}
		rel, err := filepath.Rel(root, line)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			continue // the module cache, another module outside the project
		}
		dirs[filepath.ToSlash(rel)] = true
	}
	return dirs, nil
}

// devImports holds what readImports found: per service, the package directories it
// builds from; nil while unknown. A generation number makes a read that an invalidation
// overtook harmless.
type devImports struct {
	mu   sync.Mutex
	gen  int
	dirs map[string]map[string]bool
}

func (d *devImports) get() map[string]map[string]bool {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dirs
}

func (d *devImports) invalidate() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	d.dirs = nil
	return d.gen
}

func (d *devImports) set(gen int, dirs map[string]map[string]bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if gen == d.gen {
		d.dirs = dirs
	}
}

// nameWidth is the width of the widest service name, for aligned prefixes.
func (p *devProject) nameWidth() int {
	n := 0
	for _, s := range p.services {
		n = max(n, len(s.Name))
	}
	return n
}

// devSession is one run of `platform dev`: it deploys, waits for each release's verdict
// on one event stream, and follows the services' logs.
type devSession struct {
	a       *app
	c       *client.Client
	ns      string
	proj    *devProject
	out     *devPrinter
	noLogs  bool
	started time.Time
	hub     *devEventHub

	mu   sync.Mutex
	live map[string]string // service → the version that serves
	logs map[string]bool   // services whose logs are followed
	wg   sync.WaitGroup    // log followers
}

// devRound is a redeploy in progress: its services, and those it has not finished.
type devRound struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	left   map[string]devService
}

func (r *devRound) unfinished() []devService {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Collect(maps.Values(r.left))
}

func (r *devRound) finish(name string) {
	r.mu.Lock()
	delete(r.left, name)
	r.mu.Unlock()
}

// run deploys every service, then redeploys the affected ones after each batch of
// changes until ctx ends. A batch that comes during a redeploy cancels it (the newer
// release supersedes the older on the server) and redeploys what it had not finished
// with what the batch touches: the latest save wins.
func (s *devSession) run(ctx context.Context, w *devWatcher) error {
	latest, err := s.c.Events(ctx, platform.EventFilter{Namespace: s.ns, Limit: 1})
	if err != nil {
		return err
	}
	var afterID int64
	for _, e := range latest {
		afterID = e.ID
	}
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		s.wg.Wait()
	}()
	if s.hub, err = startDevEventHub(ctx, s.c, s.ns, afterID); err != nil {
		return err
	}
	names := make([]string, len(s.proj.services))
	for i, svc := range s.proj.services {
		names[i] = svc.Name
	}
	s.out.status("Watching %s (%s) → namespace %s. Ctrl-C stops watching; the last good version keeps running.",
		s.proj.root, strings.Join(names, ", "), s.ns)

	var cur *devRound
	start := func(services []devService, at time.Time) {
		rctx, rcancel := context.WithCancel(ctx)
		r := &devRound{cancel: rcancel, done: make(chan struct{}), left: map[string]devService{}}
		for _, svc := range services {
			r.left[svc.Name] = svc
		}
		cur = r
		go func() {
			defer close(r.done)
			s.round(rctx, r, services, at)
		}()
	}
	s.proj.readImports(ctx)
	start(s.proj.services, time.Now())
	for {
		var roundDone chan struct{}
		if cur != nil {
			roundDone = cur.done
		}
		select {
		case <-ctx.Done():
			if cur != nil {
				cur.cancel()
				<-cur.done
			}
			return nil
		case <-roundDone:
			cur = nil
		case err := <-w.errs:
			s.out.status("warning: watching %s: %v", s.proj.root, err)
		case err := <-s.hub.failed:
			return err
		case b := <-w.batches:
			services := s.proj.affected(b.paths)
			if slices.ContainsFunc(b.paths, func(p string) bool {
				return strings.HasSuffix(p, ".go") || strings.HasPrefix(path.Base(p), "go.")
			}) {
				s.proj.readImports(ctx)
			}
			if len(services) == 0 {
				continue
			}
			if cur != nil {
				cur.cancel()
				<-cur.done
				services = mergeServices(s.proj.services, services, cur.unfinished())
			}
			start(services, b.at)
		}
	}
}

// mergeServices returns the services of all named in any of the lists, in all's order.
func mergeServices(all []devService, lists ...[]devService) []devService {
	want := map[string]bool{}
	for _, l := range lists {
		for _, s := range l {
			want[s.Name] = true
		}
	}
	return slices.DeleteFunc(slices.Clone(all), func(s devService) bool { return !want[s.Name] })
}

// round uploads the project once and deploys each of services from it, then waits for
// each release's verdict and prints it; at is when the change was saved.
func (s *devSession) round(ctx context.Context, r *devRound, services []devService, at time.Time) {
	digest, err := s.upload(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.out.status("upload failed: %s", describeErr(err))
			for _, svc := range services {
				r.finish(svc.Name) // the next save tries again
			}
		}
		return
	}
	var wg sync.WaitGroup
	for _, svc := range services {
		req := platform.DeployRequest{Namespace: s.ns, Service: svc.Name, Dev: true, Env: s.proj.env,
			Source: platform.Source{Kind: platform.SourceArchive, Archive: digest, Path: svc.Path}}
		rel, err := s.c.Deploy(ctx, req)
		if err != nil {
			if ctx.Err() == nil {
				s.out.service(svc.Name, "deploy refused: %s", describeErr(err))
				r.finish(svc.Name)
			}
			continue
		}
		s.followLogs(ctx, svc.Name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := s.hub.wait(ctx, rel.ID)
			if err != nil {
				return // cancelled: a newer save redeploys it
			}
			r.finish(svc.Name)
			s.verdict(rel, e, time.Since(at))
		}()
	}
	wg.Wait()
}

// upload packs the project root and uploads it, returning the archive's digest.
func (s *devSession) upload(ctx context.Context) (string, error) {
	pr, pw := io.Pipe()
	packed := make(chan error, 1)
	go func() {
		err := archive.Pack(s.proj.root, pw)
		pw.CloseWithError(err)
		packed <- err
	}()
	digest, upErr := s.c.UploadSource(ctx, s.ns, pr)
	pr.CloseWithError(errors.New("upload ended"))
	if err := <-packed; err != nil {
		return "", fmt.Errorf("pack %s: %w", s.proj.root, err)
	}
	return digest, upErr
}

// verdict prints how release rel ended, took since the save.
func (s *devSession) verdict(rel *platform.Release, e *platform.Event, took time.Duration) {
	s.mu.Lock()
	prev := s.live[rel.Service]
	if e.Type == platform.EventReleaseRolledOut {
		s.live[rel.Service] = rel.Version
	}
	s.mu.Unlock()
	keeps := "nothing was serving yet"
	if prev != "" {
		keeps = prev + " keeps serving"
	}
	switch e.Type {
	case platform.EventReleaseRolledOut:
		s.out.service(rel.Service, "%s %s live in %.2f s", rel.Service, rel.Version, took.Seconds())
	case platform.EventBuildFailed:
		msg := strings.TrimPrefix(e.Message, fmt.Sprintf("build of %s %s failed: ", rel.Service, rel.Version))
		s.out.service(rel.Service, "%s %s build failed (%s):", rel.Service, rel.Version, keeps)
		for _, line := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
			s.out.service(rel.Service, "  %s", line)
		}
	case platform.EventReleaseSuperseded:
		// A newer save's release replaced it: its own verdict follows.
	default:
		reason := e.Data["reason"]
		if reason == "" {
			reason = e.Message
		}
		s.out.service(rel.Service, "%s %s failed (%s): %s", rel.Service, rel.Version, keeps, reason)
	}
}

// followLogs prints the service's instance output from now on, across its releases,
// until ctx ends (once per service and session).
func (s *devSession) followLogs(ctx context.Context, service string) {
	s.mu.Lock()
	if s.noLogs || s.logs[service] {
		s.mu.Unlock()
		return
	}
	s.logs[service] = true
	s.mu.Unlock()
	// The session's context, not the round's: the logs outlive the redeploy.
	ctx = s.hub.ctx
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		since := s.started
		for ctx.Err() == nil {
			st, err := s.c.Logs(ctx, platform.LogQuery{Namespace: s.ns, Service: service, Follow: true, Tail: 10})
			if err == nil {
				for st.Next() {
					e := st.Value()
					if e.Time.Before(since) {
						continue // printed already, or from before this session
					}
					since = e.Time
					s.out.service(service, "%s", e.Line)
				}
				st.Close()
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
}

// leftRunning says what keeps running after the session.
func (s *devSession) leftRunning() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	for _, svc := range s.proj.services {
		if v := s.live[svc.Name]; v != "" {
			parts = append(parts, svc.Name+" "+v)
		}
	}
	if len(parts) == 0 {
		return "Nothing was deployed live."
	}
	return fmt.Sprintf("%s keeps running in %s.", strings.Join(parts, ", "), s.ns)
}

func describeErr(err error) string {
	msg := platform.ErrorMessage(err)
	if h := platform.ErrorHint(err); h != "" {
		msg += " (" + h + ")"
	}
	return msg
}

// devEventHub reads the namespace's events on one stream and hands each release's
// verdict (terminalEvents) to whoever waits for it, even if it came first.
type devEventHub struct {
	ctx    context.Context
	failed chan error

	mu      sync.Mutex
	ended   map[string]*platform.Event
	waiters map[string]chan *platform.Event
}

func startDevEventHub(ctx context.Context, c *client.Client, ns string, afterID int64) (*devEventHub, error) {
	st, err := c.FollowEvents(ctx, platform.EventFilter{Namespace: ns, AfterID: afterID})
	if err != nil {
		return nil, err
	}
	h := &devEventHub{ctx: ctx, failed: make(chan error, 1), ended: map[string]*platform.Event{}, waiters: map[string]chan *platform.Event{}}
	go func() {
		defer st.Close()
		for st.Next() {
			e := st.Value()
			if !slices.Contains(terminalEvents, e.Type) || e.Data["release"] == "" {
				continue
			}
			h.mu.Lock()
			if ch, ok := h.waiters[e.Data["release"]]; ok {
				ch <- e
				delete(h.waiters, e.Data["release"])
			} else if len(h.ended) < 1024 {
				h.ended[e.Data["release"]] = e
			}
			h.mu.Unlock()
		}
		if ctx.Err() == nil {
			err := st.Err()
			if err == nil {
				err = platform.Errorf(platform.EUNAVAILABLE, "the event stream of namespace %s ended", ns)
			}
			h.failed <- err
		}
	}()
	return h, nil
}

// wait returns the event that ended release id, or ctx's error.
func (h *devEventHub) wait(ctx context.Context, id string) (*platform.Event, error) {
	h.mu.Lock()
	if e, ok := h.ended[id]; ok {
		delete(h.ended, id)
		h.mu.Unlock()
		return e, nil
	}
	ch := make(chan *platform.Event, 1)
	h.waiters[id] = ch
	h.mu.Unlock()
	select {
	case e := <-ch:
		return e, nil
	case <-ctx.Done():
		h.mu.Lock()
		delete(h.waiters, id)
		h.mu.Unlock()
		return nil, ctx.Err()
	}
}

// devPrinter writes whole lines from many goroutines, a service's prefixed with its
// name.
type devPrinter struct {
	mu    sync.Mutex
	w     io.Writer
	width int
}

func (p *devPrinter) status(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}

func (p *devPrinter) service(name, format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%-*s │ %s\n", p.width, name, fmt.Sprintf(format, args...))
}
