package control

import (
	"context"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
)

// ServiceMetrics implements platform.ControlPlane from the usage the regions' gateways
// record (platform.UsageStore). The window is whole minutes and ends with the current
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
	return m, nil
}
