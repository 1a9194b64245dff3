package server

import (
	"cmp"
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	platform "github.com/micro/platform"
	"github.com/micro/platform/billing"
	"github.com/micro/platform/billing/stripe"
	"github.com/micro/platform/metering"
)

// usagePipe is the server's end of the metering pipeline (package metering): the
// gateway and the control plane hand it usage events from the moment they are built;
// it holds them back until Run has connected to NATS's usage account and started the
// publisher, then passes them on. Where NATS has no JetStream (a server in a
// supercluster) there is no stream: events are dropped, as the server said when it
// started.
type usagePipe struct {
	ready chan struct{}
	once  sync.Once
	pub   *metering.Publisher // nil when metering is off
}

func newUsagePipe() *usagePipe { return &usagePipe{ready: make(chan struct{})} }

// PublishWait hands e to the publisher, waiting for it (and for room) until ctx ends.
func (u *usagePipe) PublishWait(ctx context.Context, e platform.UsageEvent) error {
	select {
	case <-u.ready:
	case <-ctx.Done():
		return platform.Errorf(platform.EUNAVAILABLE, "metering: usage event %s not handed over: the pipeline is not up yet", e.ID)
	}
	if u.pub == nil {
		return nil
	}
	return u.pub.PublishWait(ctx, e)
}

// Flush waits until the events handed over are published.
func (u *usagePipe) Flush(ctx context.Context) error {
	select {
	case <-u.ready:
	case <-ctx.Done():
		return platform.Errorf(platform.EUNAVAILABLE, "metering: the pipeline is not up yet")
	}
	if u.pub == nil {
		return nil
	}
	return u.pub.Flush(ctx)
}

// open sets the publisher (nil: metering is off) and lets events through.
func (u *usagePipe) open(pub *metering.Publisher) {
	u.once.Do(func() {
		u.pub = pub
		close(u.ready)
	})
}

// startMetering connects to NATS's usage account and runs the publisher and the folder
// (which folds the stream into the store's hourly rollups) in g. The publisher runs
// until stop is called, after the components that emit usage have stopped, so their
// last events are published.
func (a *App) startMetering(ctx context.Context, g *errgroup.Group, reg prometheus.Registerer) (stop func()) {
	conn, err := a.bus.UsageConn(ctx, "platform-metering")
	if err != nil {
		a.logger.Warn("usage is not metered: the NATS server has no usage stream", "component", "metering", "err", err)
		a.usage.open(nil)
		return func() {}
	}
	log := a.logger.With("component", "metering")
	pub, err := metering.NewPublisher(conn, metering.PublisherOptions{Logger: log, Metrics: reg})
	if err == nil {
		var folder *metering.Folder
		if folder, err = metering.NewFolder(conn, a.store, metering.FolderOptions{Logger: log, Metrics: reg}); err == nil {
			g.Go(func() error { return folder.Start(ctx) })
		}
	}
	if err != nil {
		conn.Close()
		a.logger.Warn("usage is not metered", "component", "metering", "err", err)
		a.usage.open(nil)
		return func() {}
	}
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = pub.Start(pctx)
	}()
	a.usage.open(pub)
	return func() {
		cancel()
		<-done
		conn.Close()
	}
}

// plans returns the plans billing enforces, nil when billing is off.
func (a *App) plans() *billing.Plans {
	if !a.cfg.Billing.Enabled {
		return nil
	}
	ps := a.cfg.Billing.PlanCatalog()
	return &ps
}

// newInvoicer returns the invoicer that makes each period's invoices at its end and
// exports them to Stripe when a key is configured; nil when billing is off.
func (a *App) newInvoicer() (*billing.Invoicer, error) {
	plans := a.plans()
	if plans == nil {
		return nil, nil
	}
	log := a.logger.With("component", "billing")
	opts := billing.InvoicerOptions{Store: a.store, Plans: *plans, Logger: log}
	if key := a.cfg.Billing.StripeKey; key != "" {
		exporter, err := stripe.New(stripe.Options{Key: key, URL: a.cfg.Billing.StripeURL, Logger: log})
		if err != nil {
			return nil, err
		}
		opts.Exporter = exporter
	} else {
		log.Info("invoices are made but not exported: no Stripe key", "env", stripe.EnvKey)
	}
	return billing.NewInvoicer(opts)
}

// orgOf returns the organisation of a namespace, for usage events that know only the
// namespace.
func (a *App) orgOf(ctx context.Context, ns string) (string, error) {
	n, err := a.store.GetNamespace(ctx, ns)
	if err != nil {
		return "", err
	}
	return cmp.Or(n.Org, platform.DefaultOrg), nil
}
