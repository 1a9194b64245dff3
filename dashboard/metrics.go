package dashboard

import (
	"context"
	"net/http"

	platform "github.com/micro/platform"
)

// activity is a service's recent traffic, for the services page's sparklines.
type activity struct {
	Requests  []float64
	Errors    []float64
	Rate      string
	ErrorRate string
}

func (d *Dashboard) activity(ctx context.Context, ns string, list []*platform.ServiceView) map[string]*activity {
	return nil
}

func (d *Dashboard) serviceMetrics(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	sd, err := d.loadService(r, v, "metrics")
	if err != nil {
		return "", err
	}
	v.Data = sd
	return "metrics", nil
}
