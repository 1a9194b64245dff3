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

	"golang.org/x/time/rate"

	platform "github.com/micro/platform"
	"github.com/micro/platform/billing"
	"github.com/micro/platform/internal/refusal"
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

// Options configure a Plane.
type Options struct {
	Store   platform.Store
	Builder platform.Builder
	Sources SourceStore
	// Auth, if it caches, is told about deleted tokens, and (when it is a
	// UserInvalidator) about users whose role or state changed.
	Auth TokenInvalidator
	// Secrets seals the values of release environments at rest; they are opened only to
	// send a region the workloads it runs, and never shown back.
	Secrets *seal.Box
	// BuildLogDir keeps build output, one file per build.
	BuildLogDir string
	Logger      *slog.Logger
	Clock       platform.Clock
	// BuildConcurrency bounds concurrent builds.
	BuildConcurrency int
	// ResyncInterval is how often every service is reconciled even without a trigger.
	ResyncInterval time.Duration
	// Workers is how many services are reconciled at once.
	Workers int
	// SampleInterval is how often the CPU and memory of running instances are sampled
	// for ServiceMetrics; default 30s, so that every minute gets a sample.
	SampleInterval time.Duration
	// GitHubOrgs is the operator's allowlist of GitHub organisations whose teams each
	// platform organisation may link (see platform.GitHubOrgs; empty: any, only in
	// platform.DefaultOrg).
	GitHubOrgs platform.GitHubOrgs
	// Hooks installs the webhooks of repository links (nil: users add them by hand).
	Hooks HookInstaller
	// Actions verifies GitHub Actions OIDC tokens (nil: the exchange is off).
	Actions ActionsVerifier
	// Alerts is the alert engine beside the plane (nil: alerting is off); it is woken
	// when events are appended and notifications enqueued.
	Alerts Alerts
	// Metering, when set, receives the usage of instances (instance-seconds, each
	// minute) and builds (build-seconds), for billing.
	Metering UsagePublisher
	// MeterInterval is how often instance and build usage is metered; default 1m.
	MeterInterval time.Duration
	// SpendInterval is how often each organisation's spend is checked against its
	// plan's spend limit (see watchSpend); default 1m.
	SpendInterval time.Duration
	// Plans turns billing on: organisations are on these plans (the default one unless
	// assigned another), whose quotas and spend limit are enforced where they are used,
	// and invoices are made of them. nil: billing is off; usage is still metered and
	// shown, nothing is refused or charged.
	Plans *billing.Plans
	// AlertsAllowPrivate lets alert channels deliver to loopback and private addresses
	// (notify.Options.AllowPrivate): checked when a channel is created.
	AlertsAllowPrivate bool
	// PublicURL is the platform's address as GitHub and users reach it, for webhook
	// URLs and links ("" when unknown).
	PublicURL string
	// DefaultRegion places the services of namespaces that name no regions; default
	// LocalRegion.
	DefaultRegion string
	// MeshSecret authenticates the regions' NATS gateways to each other; the control
	// plane hands it to agents (ControlService.MeshConfig). Empty: regions do not mesh.
	MeshSecret []byte
	// DeveloperMesh admits developers' processes to the namespaces' mesh (Connect,
	// ListConnections, DialMesh): the in-process region's mesh server. nil: refused.
	DeveloperMesh platform.DeveloperMesh
	// LocalMeshGateway returns the in-process region's NATS gateway URL ("" when it is not
	// in the mesh), a seed for the agents.
	LocalMeshGateway func() string

	// The in-process region (`platform server`): with Driver and Mesh set, the plane runs
	// a region named LocalRegion itself, over the same runtime API as remote agents.
	Driver runtime.Driver
	Mesh   platform.Mesh
	// LocalRegion names the in-process region; default "local".
	LocalRegion string
	// Isolation is what the in-process region confines instances with (see
	// Region.Isolation).
	Isolation string
	// InstanceEnv is extra environment for every instance of the in-process region.
	InstanceEnv map[string]string
	// RolloutTimeout, DrainDelay, ReviveAfter, MinReady and StopGrace configure the
	// in-process region's rollouts (see region.Options).
	RolloutTimeout time.Duration
	DrainDelay     time.Duration
	ReviveAfter    time.Duration
	MinReady       time.Duration
	StopGrace      time.Duration
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = platform.SystemClock{}
	}
	if o.BuildConcurrency <= 0 {
		o.BuildConcurrency = 2
	}
	if o.MeterInterval <= 0 {
		o.MeterInterval = time.Minute
	}
	if o.SpendInterval <= 0 {
		o.SpendInterval = time.Minute
	}
	if o.ResyncInterval <= 0 {
		o.ResyncInterval = 5 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.SampleInterval <= 0 {
		o.SampleInterval = 30 * time.Second
	}
	if o.LocalRegion == "" {
		o.LocalRegion = "local"
	}
	if o.DefaultRegion == "" {
		o.DefaultRegion = o.LocalRegion
	}
}

// Plane implements platform.ControlPlane over a store and a builder; the regions run
// what it decides, over the runtime API (see links).
type Plane struct {
	opts   Options
	plans  planCache // the gateway's view of each organisation's plan
	gate   spendGate // the preview namespaces scaled to zero at the spend limit
	store  platform.Store
	logger *slog.Logger
	events *hub
	logs   *buildLogs
	queue  *workqueue.Queue
	builds chan struct{} // build slots
	links  *links
	local  *localRegion // the in-process region, if any

	// nsMu orders namespace creation and deletion.
	nsMu      sync.Mutex
	mu        sync.Mutex
	inflight  map[string]*inflightBuild        // build ID → the build running in this process
	workloads map[string]*runtime.WorkloadSpec // release ID → its workload (releases with an artifact do not change)
	unplaced  map[string]bool                  // service key → reported that no region of its placement is connected

	// exchanges bounds the public GitHub Actions token exchange, whose refusals are
	// audited within actionsRefusals.
	exchanges       *rate.Limiter
	actionsRefusals refusal.Limiter
	ready           bool
	runCtx          context.Context // Start's, for the sessions of agents that connect
}

var _ platform.ControlPlane = (*Plane)(nil)

// New returns a Plane. Call Start to run its reconciler.
func New(opts Options) (*Plane, error) {
	opts.setDefaults()
	if opts.Store == nil || opts.Builder == nil || opts.Sources == nil || opts.Secrets == nil {
		return nil, fmt.Errorf("control: Store, Builder, Sources and Secrets are required")
	}
	if (opts.Driver == nil) != (opts.Mesh == nil) {
		return nil, fmt.Errorf("control: the in-process region needs both Driver and Mesh")
	}
	logs, err := newBuildLogs(opts.BuildLogDir)
	if err != nil {
		return nil, fmt.Errorf("control: build logs: %w", err)
	}
	p := &Plane{
		opts:      opts,
		store:     opts.Store,
		logger:    opts.Logger,
		events:    newHub(opts.Store, opts.Logger, opts.Alerts),
		logs:      logs,
		queue:     workqueue.New(),
		builds:    make(chan struct{}, opts.BuildConcurrency),
		inflight:  map[string]*inflightBuild{},
		workloads: map[string]*runtime.WorkloadSpec{},
		unplaced:  map[string]bool{},
		exchanges: rate.NewLimiter(10, 30),
	}
	p.links = newLinks(p)
	if opts.Driver != nil {
		if p.local, err = p.newLocalRegion(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Ready reports whether the plane has recovered its state and takes deploys: with an
// in-process region, once that region has re-adopted its instances and applied its
// desired state.
func (p *Plane) Ready() bool {
	p.mu.Lock()
	ready := p.ready
	p.mu.Unlock()
	if p.local != nil {
		return ready && p.local.rec.Recovered() && p.local.rec.Applied() && p.links.connected(p.opts.LocalRegion)
	}
	return ready
}

// HandleRuntimeEvent passes a driver's instance event to the in-process region; pass it
// as the driver's EventFunc.
func (p *Plane) HandleRuntimeEvent(e runtime.Event) {
	if p.local != nil {
		p.local.rec.HandleRuntimeEvent(e)
	}
}

// Start reconciles until ctx ends: the in-process region, if any, and every service; and
// samples the resources of running instances.
func (p *Plane) Start(ctx context.Context) error {
	if err := p.sealStoredSources(ctx); err != nil {
		return fmt.Errorf("seal stored git credentials: %w", err)
	}
	p.mu.Lock()
	p.runCtx = ctx
	p.mu.Unlock()
	go p.queue.CloseOn(ctx)
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	if p.local != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.local.run(ctx); err != nil {
				errc <- err
			}
		}()
	}
	for range p.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.work(ctx)
		}()
	}
	wg.Go(func() { p.sampleResources(ctx) })
	wg.Go(func() { p.meterUsage(ctx) })
	wg.Go(func() { p.watchSpend(ctx) })
	p.resyncAll(ctx)
	p.mu.Lock()
	p.ready = true
	p.mu.Unlock()
	t := time.NewTicker(p.opts.ResyncInterval)
	defer t.Stop()
	lost := time.NewTicker(time.Second)
	defer lost.Stop()
	for {
		select {
		case err := <-errc:
			return err
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
		case <-lost.C:
			p.links.checkLost(ctx)
		}
	}
}

// resyncAll queues every stored service.
func (p *Plane) resyncAll(ctx context.Context) {
	svcs, err := p.store.ListServices(ctx, "")
	if err != nil {
		p.logger.Error("resync: list services", "err", err)
		return
	}
	for _, s := range svcs {
		p.queue.Add(key(s.Namespace, s.Name))
	}
}

func (p *Plane) work(ctx context.Context) {
	p.queue.Work(ctx, p.logger, func(ctx context.Context, k string) (time.Duration, error) {
		ns, name := workqueue.SplitKey(k)
		return p.reconcile(ctx, ns, name)
	})
}

func key(ns, name string) string { return workqueue.Key(ns, name) }
