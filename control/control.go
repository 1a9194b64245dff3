// Package control is the control plane of one region: it implements platform.ControlPlane
// (namespaces, deploys, services, calls, logs, events, tokens, users, audit log), checks
// every request against the one policy (package authz) and audits changes and refusals,
// and runs the reconciler that converges the runtime driver to the desired state kept in
// the store. Directory serves sign-in integrations (package github).
package control

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/sethvargo/go-retry"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/seal"
	"github.com/micro/platform/internal/workqueue"
	"github.com/micro/platform/runtime"
)

// SourceStore keeps uploaded source archives for builds.
type SourceStore interface {
	// StoreArchive validates and stores a tar.gz archive and returns its sha256.
	StoreArchive(r io.Reader) (string, error)
}

// TokenInvalidator is implemented by authenticators that cache tokens, so that a deleted
// token stops working at once in this process.
type TokenInvalidator interface {
	InvalidateID(id string)
}

// Drainer is implemented by meshes that can stop sending calls to a node before it is
// stopped, so a rollout loses no request in the moment between an instance's
// deregistration and its exit.
type Drainer interface {
	DrainNode(ns, nodeID string)
}

// Options configure a Plane.
type Options struct {
	Store   platform.Store
	Mesh    platform.Mesh
	Driver  runtime.Driver
	Builder platform.Builder
	Sources SourceStore
	// Auth, if it caches, is told about deleted tokens, and (when it is a
	// UserInvalidator) about users whose role or state changed.
	Auth TokenInvalidator
	// Secrets seals the values of release environments at rest; they are opened only to
	// start instances and never shown back.
	Secrets *seal.Box
	// BuildLogDir keeps build output, one file per build.
	BuildLogDir string
	Logger      *slog.Logger
	Clock       platform.Clock
	// RolloutTimeout bounds how long a new release may take to become healthy.
	RolloutTimeout time.Duration
	// DrainDelay is how long calls are steered away from a running instance before it
	// is stopped, when the mesh is a Drainer.
	DrainDelay time.Duration
	// ReviveAfter is how long an instance of the serving release may run without being
	// registered in its namespace before it is restarted in place (drivers that implement
	// runtime.Restarter): an instance whose NATS connection gave up during a long outage
	// of the platform runs on but serves nothing.
	ReviveAfter time.Duration
	// MinReady is how long a new release must stay registered and healthy, without
	// restarts, before it replaces the current one.
	MinReady time.Duration
	// StopGrace is the time between SIGTERM and SIGKILL when stopping instances.
	StopGrace time.Duration
	// BuildConcurrency bounds concurrent builds.
	BuildConcurrency int
	// ResyncInterval is how often every service is reconciled even without a trigger.
	ResyncInterval time.Duration
	// Workers is how many services are reconciled at once.
	Workers int
	// GitHubOrgs is the operator's allowlist of GitHub organisations whose teams each
	// platform organisation may link (see platform.GitHubOrgs; empty: any, only in
	// platform.DefaultOrg).
	GitHubOrgs platform.GitHubOrgs
	// Isolation is what the local region's runtime confines instances with, shown on the
	// region named "local" (see Region.Isolation).
	Isolation string
	// InstanceEnv is extra environment for every instance (driver specific, e.g.
	// MICRO_SERVER_ADDRESS=127.0.0.1:0 for the local driver).
	InstanceEnv map[string]string
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = platform.SystemClock{}
	}
	if o.RolloutTimeout <= 0 {
		o.RolloutTimeout = 60 * time.Second
	}
	if o.StopGrace <= 0 {
		o.StopGrace = 10 * time.Second
	}
	if o.DrainDelay <= 0 {
		o.DrainDelay = 300 * time.Millisecond
	}
	if o.ReviveAfter <= 0 {
		o.ReviveAfter = time.Minute
	}
	if o.MinReady <= 0 {
		o.MinReady = 300 * time.Millisecond
	}
	if o.BuildConcurrency <= 0 {
		o.BuildConcurrency = 2
	}
	if o.ResyncInterval <= 0 {
		o.ResyncInterval = 5 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
}

// Plane implements platform.ControlPlane over a store, a mesh, a builder and a driver.
type Plane struct {
	opts   Options
	store  platform.Store
	logger *slog.Logger
	events *hub
	logs   *buildLogs
	queue  *workqueue.Queue
	builds chan struct{} // build slots

	// nsMu orders namespace creation and deletion against the start-up listing that
	// tells the mesh the complete namespace list, so a namespace deleted (or created)
	// meanwhile is neither brought back nor dropped on the mesh.
	nsMu     sync.Mutex
	mu       sync.Mutex
	inflight map[string]*inflightBuild // build ID → the build running in this process
	rollouts map[string]*rollout       // release ID → progress seen by this process
	missing  map[string]time.Time      // instance ID → first seen running but unregistered
	ready    bool
}

var _ platform.ControlPlane = (*Plane)(nil)

// New returns a Plane. Call Start to run its reconciler.
func New(opts Options) (*Plane, error) {
	opts.setDefaults()
	if opts.Store == nil || opts.Mesh == nil || opts.Driver == nil || opts.Builder == nil || opts.Sources == nil || opts.Secrets == nil {
		return nil, fmt.Errorf("control: Store, Mesh, Driver, Builder, Sources and Secrets are required")
	}
	logs, err := newBuildLogs(opts.BuildLogDir)
	if err != nil {
		return nil, fmt.Errorf("control: build logs: %w", err)
	}
	return &Plane{
		opts:     opts,
		store:    opts.Store,
		logger:   opts.Logger,
		events:   newHub(opts.Store, opts.Logger),
		logs:     logs,
		queue:    workqueue.New(),
		builds:   make(chan struct{}, opts.BuildConcurrency),
		inflight: map[string]*inflightBuild{},
		rollouts: map[string]*rollout{},
		missing:  map[string]time.Time{},
	}, nil
}

// Ready reports whether the plane has recovered its state and takes deploys.
func (p *Plane) Ready() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready
}

// HandleRuntimeEvent turns a driver's instance event into a platform event and queues the
// service; pass it as the driver's EventFunc.
func (p *Plane) HandleRuntimeEvent(e runtime.Event) {
	ev := &platform.Event{
		Namespace: e.Namespace,
		Service:   e.Service,
		Time:      e.Time,
		Message:   e.Message,
		Data:      map[string]string{"release": e.WorkloadID, "instance": e.InstanceID},
	}
	switch e.Kind {
	case runtime.EventStarted:
		ev.Type = platform.EventInstanceStarted
	case runtime.EventExited:
		ev.Type = platform.EventInstanceCrashed
		ev.Data["exit_code"] = fmt.Sprint(e.ExitCode)
	case runtime.EventCrashLoop:
		ev.Type = platform.EventInstanceCrashLoop
	case runtime.EventStopped:
		ev.Type = platform.EventInstanceStopped
	default:
		ev.Type = "instance." + string(e.Kind)
	}
	if ev.Message == "" {
		ev.Message = fmt.Sprintf("instance %s %s", e.InstanceID, e.Kind)
	}
	p.events.Publish(context.Background(), ev)
	p.queue.Add(key(e.Namespace, e.Service))
}

// namespaceSyncer is a mesh that can be told the complete list of namespaces, and removes
// every other one (natsbus.Bus).
type namespaceSyncer interface {
	SyncNamespaces(ctx context.Context, names []string) error
}

// Start recovers the driver's workloads, queues every service and reconciles until ctx
// ends.
func (p *Plane) Start(ctx context.Context) error {
	if err := p.sealStoredSources(ctx); err != nil {
		return fmt.Errorf("seal stored git credentials: %w", err)
	}
	// A runtime that is briefly unavailable at start (an API server restarting, a read that
	// failed) is waited for rather than taking the whole server down with it.
	backoff := retry.WithCappedDuration(30*time.Second, retry.NewExponential(time.Second))
	if err := retry.Do(ctx, backoff, func(ctx context.Context) error {
		err := p.opts.Driver.Recover(ctx)
		if platform.ErrorCode(err) == platform.EUNAVAILABLE {
			p.logger.Warn("runtime unavailable at start; retrying", "err", err)
			return retry.RetryableError(err)
		}
		return err
	}); err != nil {
		return fmt.Errorf("recover runtime: %w", err)
	}
	p.nsMu.Lock()
	namespaces, err := p.store.ListNamespaces(ctx)
	if err != nil {
		p.nsMu.Unlock()
		return fmt.Errorf("list namespaces: %w", err)
	}
	names := make([]string, len(namespaces))
	for i, ns := range namespaces {
		if err := p.opts.Mesh.EnsureNamespace(ctx, ns.Name); err != nil {
			p.nsMu.Unlock()
			return fmt.Errorf("namespace %s: %w", ns.Name, err)
		}
		names[i] = ns.Name
	}
	// A mesh that outlives the platform (a remote mesh node) may still hold a namespace
	// deleted while it was away: the stored list is authoritative.
	if m, ok := p.opts.Mesh.(namespaceSyncer); ok {
		if err := m.SyncNamespaces(ctx, names); err != nil {
			p.logger.Warn("mesh: could not send the namespace list; it is sent again when the mesh reconnects", "err", err)
		}
	}
	p.nsMu.Unlock()
	go p.queue.CloseOn(ctx)
	var wg sync.WaitGroup
	for range p.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.work(ctx)
		}()
	}
	p.resyncAll(ctx)
	p.mu.Lock()
	p.ready = true
	p.mu.Unlock()
	t := time.NewTicker(p.opts.ResyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			p.mu.Lock()
			for _, b := range p.inflight {
				b.cancel()
			}
			p.mu.Unlock()
			return nil
		case <-t.C:
			p.resyncAll(ctx)
		}
	}
}

// resyncAll queues every stored service and stops workloads nobody wants.
func (p *Plane) resyncAll(ctx context.Context) {
	svcs, err := p.store.ListServices(ctx, "")
	if err != nil {
		p.logger.Error("resync: list services", "err", err)
		return
	}
	known := map[string]bool{}
	for _, s := range svcs {
		k := key(s.Namespace, s.Name)
		known[k] = true
		p.queue.Add(k)
	}
	workloads, err := p.opts.Driver.List(ctx)
	if err != nil {
		p.logger.Error("resync: list workloads", "err", err)
		return
	}
	for _, w := range workloads {
		if !known[key(w.Spec.Namespace, w.Spec.Service)] {
			p.logger.Info("stopping orphaned workload", "workload", w.Spec.ID, "namespace", w.Spec.Namespace, "service", w.Spec.Service)
			if err := p.opts.Driver.Stop(ctx, w.Spec.ID, p.opts.StopGrace); err != nil {
				p.logger.Error("stop orphaned workload", "workload", w.Spec.ID, "err", err)
			}
		}
	}
}

func (p *Plane) work(ctx context.Context) {
	for {
		k, ok := p.queue.Get()
		if !ok {
			return
		}
		ns, name := splitKey(k)
		after, err := p.reconcile(ctx, ns, name)
		if err != nil && ctx.Err() == nil {
			p.logger.Error("reconcile", "namespace", ns, "service", name, "err", err)
			if after == 0 {
				after = 2 * time.Second
			}
		}
		p.queue.Done(k)
		if after > 0 && ctx.Err() == nil {
			p.queue.AddAfter(k, after)
		}
	}
}

func key(ns, name string) string { return ns + "/" + name }

func splitKey(k string) (string, string) {
	for i := range len(k) {
		if k[i] == '/' {
			return k[:i], k[i+1:]
		}
	}
	return k, ""
}
