// Package region is the runtime side of one region: a Reconciler that converges the
// region's driver to the desired state the control plane last applied, rolls releases
// out in the region (start, wait until every instance is registered and healthy, then stop
// the previous release), and reports what it observes and what happens.
//
// It knows nothing of the control plane: it is given a complete Desired state (Apply),
// and says what it runs through Observed and the Notify callbacks. The agent (package
// agent) connects it to a control plane over the runtime API; the control plane's own
// in-process region is the same code over the same API.
//
// Until the first Apply the Reconciler only re-adopts what the driver runs and changes
// nothing: a region whose agent restarted while the control plane is away keeps serving.
package region

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/sethvargo/go-retry"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/workqueue"
	"github.com/micro/platform/runtime"
)

// Desired is the complete desired state of a region.
type Desired struct {
	// Generation increases with every change the control plane makes.
	Generation int64
	// Namespaces exist in the region's mesh; the region removes every other one.
	Namespaces []string
	// NamespaceOrgs maps each namespace to the organisation that owns it.
	NamespaceOrgs map[string]string
	Services      []ServiceSpec
	// Routes say where every service runs, in this region or another, and
	// RegionGateways where each region's gateway is: the gateway forwards calls for
	// services the region does not run (see Router).
	Routes         []Route
	RegionGateways map[string]string
}

// ServiceSpec is what one service must run in the region.
type ServiceSpec struct {
	Namespace string
	Service   string
	// Current is the release that serves (nil before the first rollout).
	Current *runtime.WorkloadSpec
	// Next is a release to roll out beside Current (nil: none).
	Next *runtime.WorkloadSpec
	// Canary, from 1 to 99 with Next and Current set, makes Next a canary: once healthy
	// it is reported live but runs beside Current, which keeps serving, and takes Canary
	// percent of the calls that name no version (see Splitter). Current = the canary and
	// Next = nil then promotes it; Next gone with Current unchanged stops it.
	Canary int
	// Dev is set for the services of a dev namespace (platform.Namespace.Dev): Next
	// replaces Current as soon as every instance is registered and answers its health
	// check (no MinReady), looked at every devPollInterval, and Current is stopped
	// without DrainDelay. A Next that never gets there still never stops Current.
	Dev bool
}

// RolloutState is how a release's rollout went in the region.
type RolloutState string

// Rollout states.
const (
	RolloutRunning RolloutState = "rolling_out"
	RolloutLive    RolloutState = "live"
	RolloutFailed  RolloutState = "failed"
)

// Rollout is the outcome of the last release the region was asked to roll out.
type Rollout struct {
	Release string
	State   RolloutState
	Reason  string
}

// ServiceStatus is one service as the region runs it.
type ServiceStatus struct {
	Namespace string
	Service   string
	// Serving is the release the region serves ("" for none).
	Serving   string
	Rollout   *Rollout
	Instances []*platform.Instance
}

// Observed is the complete observed state of a region.
type Observed struct {
	// Generation is that of the last Desired applied (0: none yet).
	Generation int64
	Services   []ServiceStatus
}

// Options configure a Reconciler. Driver and Mesh are required.
type Options struct {
	// Name is the region's name; events and instances carry it.
	Name   string
	Driver runtime.Driver
	Mesh   platform.Mesh
	// Artifacts turns a workload's artifact reference into what the driver runs (e.g.
	// fetches a binary); nil passes it through.
	Artifacts func(ctx context.Context, w *runtime.WorkloadSpec) (string, error)
	// Notify is called, without locks held, when the observed state changed.
	Notify func()
	// Event receives every event of the region (its Region is set). Must not block long.
	Event func(*platform.Event)

	Logger *slog.Logger
	Clock  platform.Clock
	// RolloutTimeout bounds how long a new release may take to become healthy.
	RolloutTimeout time.Duration
	// DrainDelay is how long calls are steered away from an instance before it is
	// stopped, when the mesh is a Drainer.
	DrainDelay time.Duration
	// ReviveAfter is how long an instance of the serving release may run without being
	// registered before it is restarted in place (drivers that are runtime.Restarter).
	ReviveAfter time.Duration
	// MinReady is how long a new release must stay registered and healthy, without
	// restarts, before it replaces the current one.
	MinReady time.Duration
	// StopGrace is the time between SIGTERM and SIGKILL when stopping instances.
	StopGrace time.Duration
	// ResyncInterval is how often every service is reconciled even without a trigger.
	ResyncInterval time.Duration
	// Workers is how many services are reconciled at once.
	Workers int
	// InstanceEnv is extra environment for every instance.
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
	if o.ResyncInterval <= 0 {
		o.ResyncInterval = 5 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Notify == nil {
		o.Notify = func() {}
	}
	if o.Event == nil {
		o.Event = func(*platform.Event) {}
	}
}

// Drainer is implemented by meshes that can stop sending calls to a node before it is
// stopped, so a rollout loses no request between an instance's deregistration and its
// exit.
type Drainer interface {
	DrainNode(ns, nodeID string)
}

// Splitter is implemented by meshes that can split the calls of a service that name no
// version between two of its versions, for canary releases.
type Splitter interface {
	// SplitCalls sends percent (0 to 100) of the calls to service in ns that name no
	// version to nodes of version canary and the rest to nodes of version stable; with
	// canary "" they are no longer split.
	SplitCalls(ns, service, stable, canary string, percent int)
}

// namespaceSyncer is a mesh that can be told the complete list of namespaces, and
// removes every other one (natsbus.Bus).
type namespaceSyncer interface {
	SyncNamespaces(ctx context.Context, names []string) error
}

// Reconciler converges one region's driver to its desired state.
type Reconciler struct {
	opts   Options
	logger *slog.Logger
	queue  *workqueue.Queue

	mu         sync.Mutex
	applied    bool
	desired    Desired
	specs      map[string]ServiceSpec    // key → spec of the applied desired state
	namespaces map[string]bool           // namespaces ensured in the mesh
	observed   map[string]*ServiceStatus // key → last observed
	rollouts   map[string]*rollout       // release ID → progress seen by this process
	outcomes   map[string]*Rollout       // release ID → a rollout's end (live or failed)
	promoted   map[string]string         // key → release promoted in the region, until it is Current
	missing    map[string]time.Time      // instance ID → first seen running but unregistered
	refused    map[string]bool           // namespaces the mesh refused, reported once
	started    map[string]*resolved      // release ID → the workload as last started
	recovered  bool
}

// New returns a Reconciler; Start runs it.
func New(opts Options) (*Reconciler, error) {
	opts.setDefaults()
	if opts.Driver == nil || opts.Mesh == nil {
		return nil, fmt.Errorf("region: Driver and Mesh are required")
	}
	return &Reconciler{
		opts:       opts,
		logger:     opts.Logger,
		queue:      workqueue.New(),
		specs:      map[string]ServiceSpec{},
		namespaces: map[string]bool{},
		observed:   map[string]*ServiceStatus{},
		rollouts:   map[string]*rollout{},
		outcomes:   map[string]*Rollout{},
		promoted:   map[string]string{},
		missing:    map[string]time.Time{},
		started:    map[string]*resolved{},
		refused:    map[string]bool{},
	}, nil
}

// Name is the region's name.
func (r *Reconciler) Name() string { return r.opts.Name }

// Apply replaces the desired state. It is level-triggered and idempotent: applying the
// same state again changes nothing. Namespaces are made to exist in the mesh before the
// services are looked at; one the mesh refuses is reported and tried again at the next
// resync.
func (r *Reconciler) Apply(ctx context.Context, d Desired) error {
	specs := make(map[string]ServiceSpec, len(d.Services))
	for _, s := range d.Services {
		specs[key(s.Namespace, s.Service)] = s
	}
	r.mu.Lock()
	old := r.specs
	r.desired, r.specs, r.applied = d, specs, true
	// An outcome is kept while the release is desired, so a failed one is not tried
	// again; the rest are history.
	for id := range r.outcomes {
		if !referenced(specs, id) {
			delete(r.outcomes, id)
		}
	}
	r.mu.Unlock()
	r.syncNamespaces(ctx, d.Namespaces)
	for k, s := range specs {
		if o, ok := old[k]; !ok || !sameSpec(o, s) {
			r.queue.Add(k)
		}
	}
	for k := range old {
		if _, ok := specs[k]; !ok {
			r.queue.Add(k)
		}
	}
	r.opts.Notify()
	return nil
}

// syncNamespaces makes the mesh hold exactly names.
func (r *Reconciler) syncNamespaces(ctx context.Context, names []string) {
	ensured := map[string]bool{}
	for _, ns := range names {
		if err := r.opts.Mesh.EnsureNamespace(ctx, ns); err != nil {
			r.logger.Error("namespace refused by the mesh", "namespace", ns, "err", err)
			r.reportRefused(ns, err)
			continue
		}
		r.reportRefused(ns, nil)
		ensured[ns] = true
	}
	r.mu.Lock()
	var gone []string
	for ns := range r.namespaces {
		if !slices.Contains(names, ns) {
			gone = append(gone, ns)
		}
	}
	r.mu.Unlock()
	for _, ns := range gone {
		if err := r.opts.Mesh.RemoveNamespace(ctx, ns); err != nil {
			r.logger.Warn("remove namespace from the mesh", "namespace", ns, "err", err)
		}
	}
	// A mesh that outlives the region's process (a remote mesh node) may still hold a
	// namespace deleted while it was away: the desired list is authoritative.
	if m, ok := r.opts.Mesh.(namespaceSyncer); ok {
		if err := m.SyncNamespaces(ctx, names); err != nil {
			r.logger.Warn("mesh: could not send the namespace list", "err", err)
		}
	}
	r.mu.Lock()
	r.namespaces = ensured
	r.mu.Unlock()
}

// reportRefused records an event the first time the mesh refuses namespace ns (and
// forgets it once the mesh takes it): its services cannot run in the region until then.
func (r *Reconciler) reportRefused(ns string, err error) {
	r.mu.Lock()
	_, reported := r.refused[ns]
	if err == nil {
		delete(r.refused, ns)
	} else {
		r.refused[ns] = true
	}
	r.mu.Unlock()
	if err == nil || reported {
		return
	}
	msg := platform.ErrorMessage(err)
	if platform.ErrorCode(err) == platform.EINTERNAL {
		msg = "the messaging layer could not take it"
	}
	r.publish(&platform.Event{
		Namespace: ns, Type: platform.EventNamespaceRefused,
		Message: fmt.Sprintf("region %s could not set namespace %s up: %s; its services cannot run there until it can (tried again every %s)", r.opts.Name, ns, msg, r.opts.ResyncInterval),
	})
}

func referenced(specs map[string]ServiceSpec, release string) bool {
	for _, s := range specs {
		if (s.Current != nil && s.Current.ID == release) || (s.Next != nil && s.Next.ID == release) {
			return true
		}
	}
	return false
}

func sameSpec(a, b ServiceSpec) bool {
	return sameWorkload(a.Current, b.Current) && sameWorkload(a.Next, b.Next) && a.Canary == b.Canary
}

func sameWorkload(a, b *runtime.WorkloadSpec) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.ID == b.ID && a.Replicas == b.Replicas && a.Artifact == b.Artifact && a.Resources == b.Resources
}

// Observed returns the region's complete observed state.
func (r *Reconciler) Observed() Observed {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := Observed{Generation: r.desired.Generation}
	keys := make([]string, 0, len(r.observed))
	for k := range r.observed {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		s := *r.observed[k]
		if s.Rollout != nil {
			ro := *s.Rollout
			s.Rollout = &ro
		}
		s.Instances = slices.Clone(s.Instances)
		o.Services = append(o.Services, s)
	}
	return o
}

// Applied reports whether a desired state was applied since the start.
func (r *Reconciler) Applied() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applied
}

// Recovered reports whether the driver re-adopted its workloads.
func (r *Reconciler) Recovered() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recovered
}

// HandleRuntimeEvent turns a driver's instance event into an event of the region and
// queues the service; pass it as the driver's EventFunc.
func (r *Reconciler) HandleRuntimeEvent(e runtime.Event) {
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
	r.publish(ev)
	r.queue.Add(key(e.Namespace, e.Service))
}

func (r *Reconciler) publish(e *platform.Event) {
	e.Region = r.opts.Name
	if e.Time.IsZero() {
		e.Time = r.opts.Clock.Now().UTC()
	}
	r.opts.Event(e)
}

// Start re-adopts the driver's workloads and reconciles until ctx ends.
func (r *Reconciler) Start(ctx context.Context) error {
	// A runtime that is briefly unavailable at start (an API server restarting) is
	// waited for rather than taking the region down with it.
	backoff := retry.WithCappedDuration(30*time.Second, retry.NewExponential(time.Second))
	if err := retry.Do(ctx, backoff, func(ctx context.Context) error {
		err := r.opts.Driver.Recover(ctx)
		if platform.ErrorCode(err) == platform.EUNAVAILABLE {
			r.logger.Warn("runtime unavailable at start; retrying", "err", err)
			return retry.RetryableError(err)
		}
		return err
	}); err != nil {
		return fmt.Errorf("recover runtime: %w", err)
	}
	r.mu.Lock()
	r.recovered = true
	r.mu.Unlock()
	go r.queue.CloseOn(ctx)
	var wg sync.WaitGroup
	for range r.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.work(ctx)
		}()
	}
	r.resyncAll(ctx)
	t := time.NewTicker(r.opts.ResyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-t.C:
			r.resyncAll(ctx)
		}
	}
}

// resyncAll queues every desired service and every service the driver runs. Before the
// first Apply it does nothing: what runs keeps running.
func (r *Reconciler) resyncAll(ctx context.Context) {
	r.mu.Lock()
	applied := r.applied
	keys := make([]string, 0, len(r.specs))
	for k := range r.specs {
		keys = append(keys, k)
	}
	var missingNS []string
	for _, ns := range r.desired.Namespaces {
		if !r.namespaces[ns] {
			missingNS = append(missingNS, ns)
		}
	}
	names := slices.Clone(r.desired.Namespaces)
	r.mu.Unlock()
	if !applied {
		return
	}
	if len(missingNS) > 0 {
		r.syncNamespaces(ctx, names)
	}
	for _, k := range keys {
		r.queue.Add(k)
	}
	workloads, err := r.opts.Driver.List(ctx)
	if err != nil {
		r.logger.Error("resync: list workloads", "err", err)
		return
	}
	for _, w := range workloads {
		r.queue.Add(key(w.Spec.Namespace, w.Spec.Service))
	}
}

func (r *Reconciler) work(ctx context.Context) {
	r.queue.Work(ctx, r.logger, func(ctx context.Context, k string) (time.Duration, error) {
		ns, name := workqueue.SplitKey(k)
		return r.reconcile(ctx, ns, name)
	})
}

func key(ns, name string) string { return workqueue.Key(ns, name) }
