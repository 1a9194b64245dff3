package control

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	platform "github.com/micro/platform"
)

// UsagePublisher takes usage events to the metering pipeline (metering.Publisher).
type UsagePublisher interface {
	// PublishWait hands e over, waiting for room until ctx ends.
	PublishWait(ctx context.Context, e platform.UsageEvent) error
	// Flush waits until what was handed over is published; an error when some was not.
	Flush(ctx context.Context) error
}

// meterCatchUp is how far back the usage meter goes when it starts: the instances
// that ran while the server was down (they keep running across a restart) and the
// builds that ended then are metered for that long. The pipeline counts each event
// once, so minutes metered before the restart are not counted twice.
const meterCatchUp = time.Hour

// usageMeter emits the usage the control plane sees: instance-seconds (each minute
// an instance was observed running, from its start, times its size's weight) and
// build-seconds (each build that ended). Its events are named by what they measure
// ("inst/<region>/<instance>/<minute>", "build/<build>"), so emitting one again (after a
// failed publish, or a restart) never counts it twice.
type usageMeter struct {
	p   *Plane
	pub UsagePublisher
	// next is the start of the first minute not yet metered; zero before the first run.
	next time.Time
	// sizes caches the size of each release's instances.
	sizes map[string]platform.Size
}

// meterUsage meters every interval until ctx ends.
func (p *Plane) meterUsage(ctx context.Context) {
	if p.opts.Metering == nil {
		return
	}
	m := &usageMeter{p: p, pub: p.opts.Metering, sizes: make(map[string]platform.Size)}
	// The first run waits an interval: after a restart the stored instances are what
	// was last seen, and the regions report what runs now within it.
	p.every(ctx, p.opts.MeterInterval, false, "metering instance and build usage", m.run)
}

// run emits the instance-seconds of the minutes from m.next to the current one (not
// included) and the build-seconds of the builds that ended since m.next and, once all of
// it is published, moves m.next to the current minute. A failure keeps m.next, so the
// next run emits the same events again.
func (m *usageMeter) run(ctx context.Context) error {
	now := m.p.opts.Clock.Now().UTC()
	end := now.Truncate(time.Minute)
	from := m.next
	if from.IsZero() {
		from = end.Add(-meterCatchUp)
	}
	nss, err := m.p.store.ListNamespaces(ctx)
	if err != nil {
		return fmt.Errorf("list namespaces: %w", err)
	}
	var errs []error
	for _, ns := range nss {
		if err := m.namespace(ctx, ns, from, end); err != nil {
			errs = append(errs, fmt.Errorf("namespace %s: %w", ns.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := m.pub.Flush(ctx); err != nil {
		return err
	}
	m.next = end
	return nil
}

// namespace emits the instance-seconds of ns's running instances for the minutes in
// [from, end), and the build-seconds of its builds that ended then.
func (m *usageMeter) namespace(ctx context.Context, ns *platform.Namespace, from, end time.Time) error {
	org := cmp.Or(ns.Org, platform.DefaultOrg)
	instances, err := m.p.store.ListInstances(ctx, ns.Name, "")
	if err != nil {
		return err
	}
	for _, in := range instances {
		if in.State != platform.InstanceRunning || in.StartedAt.IsZero() {
			continue
		}
		weight, err := m.weight(ctx, in.ReleaseID)
		if err != nil {
			return err
		}
		first := in.StartedAt.UTC().Truncate(time.Minute)
		if first.Before(from) {
			first = from
		}
		for minute := first; minute.Before(end); minute = minute.Add(time.Minute) {
			began := minute
			if in.StartedAt.After(began) {
				began = in.StartedAt
			}
			secs := int64(minute.Add(time.Minute).Sub(began) / time.Second)
			if secs <= 0 {
				continue
			}
			e := platform.UsageEvent{
				ID:  fmt.Sprintf("inst/%s/%s/%d", in.Region, in.ID, minute.Unix()),
				Org: org, Namespace: ns.Name, Service: in.Service, Region: in.Region,
				Meter: platform.MeterInstanceSeconds, Quantity: secs * weight, Time: minute,
			}
			if err := m.pub.PublishWait(ctx, e); err != nil {
				return err
			}
		}
	}
	builds, err := m.p.store.ListBuilds(ctx, ns.Name, "", 100)
	if err != nil {
		return err
	}
	for _, b := range builds {
		// A build is metered as soon as it ended (its event is the same whenever sent):
		// those that ended since from, up to now.
		if b.StartedAt == nil || b.FinishedAt == nil || b.FinishedAt.Before(from) {
			continue
		}
		secs := int64((b.FinishedAt.Sub(*b.StartedAt) + time.Second - 1) / time.Second) // a started second counts
		e := platform.UsageEvent{
			ID:  "build/" + b.ID,
			Org: org, Namespace: ns.Name, Service: b.Service, Region: m.p.opts.LocalRegion,
			Meter: platform.MeterBuildSeconds, Quantity: max(secs, 0), Time: b.FinishedAt.UTC(),
		}
		if err := m.pub.PublishWait(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// weight returns the instance-seconds weight of a release's instances.
func (m *usageMeter) weight(ctx context.Context, releaseID string) (int64, error) {
	size, ok := m.sizes[releaseID]
	if !ok {
		r, err := m.p.store.GetRelease(ctx, releaseID)
		switch {
		case platform.IsNotFound(err):
			// Its release is gone (the service was deleted while it ran): the default size.
		case err != nil:
			return 0, err
		default:
			size = r.Size
		}
		m.sizes[releaseID] = size
	}
	return size.Weight(), nil
}
