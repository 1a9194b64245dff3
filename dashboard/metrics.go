package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	platform "github.com/micro/platform"
)

// activity is a service's last hour of traffic, for the services page's sparklines.
type activity struct {
	Requests  []float64
	Errors    []float64
	Rate      string
	ErrorRate string
}

// sparkWindow is the services page's sparkline window.
const sparkWindow = time.Hour

// activity reads each service's last hour, a few at a time. A service whose metrics
// cannot be read (a role without the right) has no sparkline; the page still renders.
func (d *Dashboard) activity(ctx context.Context, ns string, list []*platform.ServiceView) map[string]*activity {
	out := make(map[string]*activity, len(list))
	var mu sync.Mutex
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, sv := range list {
		g.Go(func() error {
			m, err := d.cp.ServiceMetrics(ctx, ns, sv.Name, sparkWindow)
			if err != nil {
				return nil
			}
			a := newActivity(m)
			mu.Lock()
			out[sv.Name] = a
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	return out
}

func newActivity(m *platform.ServiceMetrics) *activity {
	a := &activity{Requests: make([]float64, len(m.Points)), Errors: make([]float64, len(m.Points))}
	for i, p := range m.Points {
		a.Requests[i], a.Errors[i] = float64(p.Requests), float64(p.Errors)
	}
	minutes := max(1, len(m.Points))
	a.Rate = fmt.Sprintf("%.1f", float64(m.Total.Requests)/float64(minutes))
	if m.Total.Requests > 0 {
		a.ErrorRate = fmt.Sprintf("%.1f%%", 100*float64(m.Total.Errors)/float64(m.Total.Requests))
	} else {
		a.ErrorRate = "0%"
	}
	return a
}

// activityFragment answers the services page's script with the rows' sparklines, so the
// page itself renders without waiting for every service's metrics.
func (d *Dashboard) activityFragment(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	ctx, cancel := ctxTimeout(r.Context())
	defer cancel()
	list, err := d.cp.ListServices(ctx, v.NS)
	if err != nil {
		return "", err
	}
	v.Data = servicesData{Services: list, Activity: d.activity(ctx, v.NS, list)}
	return "activity", nil
}

// metricsData is the metrics tab's data.
type metricsData struct {
	*serviceData
	Metrics *platform.ServiceMetrics
	Window  string
	// Series for the charts.
	Requests, Errors, ClientErrors, P50, P99, CPU, Memory []float64
}

// metricsWindows are the windows the metrics tab offers.
var metricsWindows = []string{"1h", "6h", "24h"}

func (d *Dashboard) serviceMetrics(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	sd, err := d.loadService(r, v, "metrics")
	if err != nil {
		return "", err
	}
	window := r.URL.Query().Get("window")
	if window == "" {
		window = "1h"
	}
	since, err := time.ParseDuration(window)
	if err != nil {
		return "", platform.Errorf(platform.EINVALID, "window %q is not a duration", window).WithHint("one of 1h, 6h, 24h")
	}
	m, err := d.cp.ServiceMetrics(r.Context(), v.NS, v.Service, since)
	if err != nil {
		return "", err
	}
	md := &metricsData{serviceData: sd, Metrics: m, Window: window}
	for _, p := range m.Points {
		md.Requests = append(md.Requests, float64(p.Requests))
		md.Errors = append(md.Errors, float64(p.Errors))
		md.ClientErrors = append(md.ClientErrors, float64(p.ClientErrors))
		md.P50 = append(md.P50, float64(p.P50)/float64(time.Millisecond))
		md.P99 = append(md.P99, float64(p.P99)/float64(time.Millisecond))
		md.CPU = append(md.CPU, p.CPU*100)
		md.Memory = append(md.Memory, float64(p.Memory))
	}
	v.Data = md
	return "metrics", nil
}
