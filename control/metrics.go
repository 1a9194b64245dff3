package control

import (
	"context"
	"math"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
	"github.com/micro/platform/runtime"
)

// ServiceMetrics implements platform.ControlPlane from the usage the regions' gateways
// record (platform.UsageStore) and the resource samples of sampleResources
// (platform.ResourceStore). The window is whole minutes and ends with the current
// one, so that a chart refreshed every few seconds moves its last point; since is
// rounded up to a minute.
func (p *Plane) ServiceMetrics(ctx context.Context, namespace, service string, since time.Duration) (*platform.ServiceMetrics, error) {
	if err := p.authorizeNamespace(ctx, authz.ServiceRead, namespace); err != nil {
		return nil, err
	}
	if since == 0 {
		since = platform.DefaultMetricsWindow
	}
	if since < 0 || since > platform.MaxMetricsWindow {
		return nil, platform.Errorf(platform.EINVALID, "metrics window %s must be positive and at most %s", since, platform.MaxMetricsWindow).
			WithHint("ask for since=1h, or up to since=%s", platform.MaxMetricsWindow)
	}
	if _, err := p.store.GetService(ctx, namespace, service); err != nil {
		return nil, err
	}
	minutes := int((since + time.Minute - 1) / time.Minute)
	to := p.opts.Clock.Now().UTC().Truncate(time.Minute).Add(time.Minute)
	from := to.Add(-time.Duration(minutes) * time.Minute)
	rows, err := p.store.ListRequestUsage(ctx, namespace, service, from, to)
	if err != nil {
		return nil, err
	}
	byMinute := make([]platform.RequestUsage, minutes)
	var total platform.RequestUsage
	for _, u := range rows {
		i := int(u.Minute.Sub(from) / time.Minute)
		if i < 0 || i >= minutes {
			continue // the store keeps to [from, to); be safe with a row stamped oddly
		}
		byMinute[i].Add(u)
		total.Add(u)
	}
	samples, err := p.store.ListResourceUsage(ctx, namespace, service, from, to)
	if err != nil {
		return nil, err
	}
	m := &platform.ServiceMetrics{
		Namespace: namespace,
		Service:   service,
		From:      from,
		To:        to,
		Points:    make([]*platform.MetricPoint, minutes),
		Total:     platform.NewMetricPoint(from, &total),
	}
	for i := range byMinute {
		m.Points[i] = platform.NewMetricPoint(from.Add(time.Duration(i)*time.Minute), &byMinute[i])
	}
	var cpu int64
	for _, u := range samples {
		i := int(u.Minute.Sub(from) / time.Minute)
		if i < 0 || i >= minutes {
			continue
		}
		m.Points[i].CPU = float64(u.CPUMillicores) / 1000
		m.Points[i].Memory = u.MemoryBytes
		cpu += u.CPUMillicores
		m.Total.Memory = max(m.Total.Memory, u.MemoryBytes)
	}
	if len(samples) > 0 {
		m.Total.CPU = float64(cpu) / 1000 / float64(len(samples))
	}
	return m, nil
}

// sampleResources samples the resources of running instances every SampleInterval
// until ctx ends.
func (p *Plane) sampleResources(ctx context.Context) {
	p.every(ctx, p.opts.SampleInterval, false, "sample instance resources", p.sampleOnce)
}

// every calls fn every interval until ctx ends, the first time at once when now is set
// (else after an interval), logging a failure as what: the plane's periodic jobs.
func (p *Plane) every(ctx context.Context, interval time.Duration, now bool, what string, fn func(context.Context) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if now {
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				p.logger.Warn(what+" failed; trying again", "err", err)
			}
		}
		now = true
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sampleOnce stores what every service's running instances use now, summed over its
// instances and regions, as its sample of the current minute. The figures are the
// runtime's own samples (runtime.Driver.Stats through each region, as GetService shows
// them per instance): a CPU rate since the runtime's previous sample and the memory
// held. A region that is not connected or does not answer within a second adds nothing.
func (p *Plane) sampleOnce(ctx context.Context) error {
	namespaces, err := p.store.ListNamespaces(ctx)
	if err != nil {
		return err
	}
	now := p.opts.Clock.Now()
	var samples []*platform.ResourceUsage
	for _, ns := range namespaces {
		instances, err := p.store.ListInstances(ctx, ns.Name, "")
		if err != nil {
			return err
		}
		type release struct{ region, id string }
		stats := map[release]map[string]runtime.InstanceStats{}
		byService := map[string]*platform.ResourceUsage{}
		for _, in := range instances {
			if in.State != platform.InstanceRunning {
				continue
			}
			k := release{in.Region, in.ReleaseID}
			byID, ok := stats[k]
			if !ok {
				byID = p.releaseStats(ctx, k.region, k.id)
				stats[k] = byID
			}
			st, ok := byID[in.ID]
			if !ok {
				continue
			}
			u := byService[in.Service]
			if u == nil {
				u = &platform.ResourceUsage{Namespace: ns.Name, Service: in.Service, Minute: now}
				byService[in.Service] = u
				samples = append(samples, u)
			}
			u.CPUMillicores += int64(math.Round(st.CPUPercent * 10)) // percent of a core to millicores
			u.MemoryBytes += int64(min(st.MemoryBytes, math.MaxInt64))
		}
	}
	return p.store.PutResourceUsage(ctx, samples)
}

// releaseStats returns the runtime's samples of a release's instances in region, by
// instance ID; none when the region is not connected or does not answer.
func (p *Plane) releaseStats(ctx context.Context, region, release string) map[string]runtime.InstanceStats {
	c := p.links.client(region)
	if c == nil {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	list, err := c.Stats(sctx, release)
	if err != nil {
		return nil
	}
	out := make(map[string]runtime.InstanceStats, len(list))
	for _, st := range list {
		out[st.InstanceID] = st
	}
	return out
}
