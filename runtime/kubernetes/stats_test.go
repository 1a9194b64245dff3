package kubernetes_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime/kubernetes"
)

// TestStatsThroughMetricsAPI reads Stats through the API server's aggregation layer:
// first without a metrics API (unavailable), then with a stand-in metrics-server
// registered as the metrics.k8s.io APIService.
func TestStatsThroughMetricsAPI(t *testing.T) {
	d := newDriver(t, kubernetes.Options{})
	c := adminClient(t)
	spec := workload("acme", "hello")
	mustStart(t, d, spec)

	if _, err := d.Stats(t.Context(), spec.ID); platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Errorf("Stats without metrics-server = %v, want unavailable", err)
	}
	if _, err := d.Stats(t.Context(), "r-nope"); platform.ErrorCode(err) != platform.ENOTFOUND {
		t.Errorf("Stats of an unknown workload = %v, want not_found", err)
	}

	ns := d.opts.NamespacePrefix + "acme"
	selector := make(chan string, 16)
	metrics := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/apis/metrics.k8s.io/v1beta1":
			_ = json.NewEncoder(w).Encode(metav1.APIResourceList{
				TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
				GroupVersion: "metrics.k8s.io/v1beta1",
				APIResources: []metav1.APIResource{{Name: "pods", Namespaced: true, Kind: "PodMetrics", Verbs: []string{"get", "list"}}},
			})
		case "/apis/metrics.k8s.io/v1beta1/namespaces/" + ns + "/pods":
			select {
			case selector <- r.URL.Query().Get("labelSelector"):
			default:
			}
			_, _ = w.Write([]byte(`{"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1","items":[` +
				`{"metadata":{"name":"hello-b","namespace":"` + ns + `"},"timestamp":"2026-11-28T08:00:00Z","window":"15s",` +
				`"containers":[{"name":"service","usage":{"cpu":"250m","memory":"64Mi"}}]},` +
				`{"metadata":{"name":"hello-a","namespace":"` + ns + `"},"timestamp":"2026-11-28T08:00:00Z","window":"15s",` +
				`"containers":[{"name":"service","usage":{"cpu":"1500m","memory":"1Gi"}}]}]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	metrics.StartTLS()
	t.Cleanup(metrics.Close)
	_, port, _ := net.SplitHostPort(metrics.Listener.Addr().String())
	portNum, _ := strconv.Atoi(port)

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-server", Namespace: ns},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "localhost"},
	}
	if err := c.Create(t.Context(), svc); err != nil {
		t.Fatal(err)
	}
	api := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": "v1beta1.metrics.k8s.io"},
		"spec": map[string]any{
			"group": "metrics.k8s.io", "version": "v1beta1", "insecureSkipTLSVerify": true,
			"groupPriorityMinimum": int64(100), "versionPriority": int64(100),
			"service": map[string]any{"namespace": ns, "name": "metrics-server", "port": int64(portNum)},
		},
	}}
	if err := c.Create(t.Context(), api); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), api) })

	var stats []struct {
		id  string
		cpu float64
		mem uint64
	}
	waitFor(t, "stats through the metrics API", func() bool {
		got, err := d.Stats(t.Context(), spec.ID)
		if err != nil {
			return false
		}
		stats = stats[:0]
		for _, s := range got {
			if !s.Time.Equal(time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)) {
				t.Errorf("sample time = %v", s.Time)
			}
			stats = append(stats, struct {
				id  string
				cpu float64
				mem uint64
			}{s.InstanceID, s.CPUPercent, s.MemoryBytes})
		}
		return true
	})
	if len(stats) != 2 || stats[0].id != "hello-a" || stats[0].cpu != 150 || stats[0].mem != 1<<30 ||
		stats[1].id != "hello-b" || stats[1].cpu != 25 || stats[1].mem != 64<<20 {
		t.Errorf("stats = %+v, want hello-a at 150%% and 1Gi, hello-b at 25%% and 64Mi", stats)
	}
	if sel := <-selector; !strings.Contains(sel, kubernetes.LabelRelease+"="+spec.ID) || !strings.Contains(sel, kubernetes.LabelOwner+"=") {
		t.Errorf("metrics asked with selector %q, want the workload's owner and release", sel)
	}
}
