package kubernetes

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/kubetest"
	"github.com/micro/platform/runtime"
)

// flakySecrets is a cache whose Secret reads fail while fail is set, as a cache read can
// while the API server is unavailable.
type flakySecrets struct {
	cache.Cache
	fail atomic.Bool
}

func (f *flakySecrets) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*corev1.Secret); ok && f.fail.Load() {
		return apierrors.NewServiceUnavailable("etcd leader changed")
	}
	return f.Cache.Get(ctx, key, obj, opts...)
}

// TestRecoverKeepsWorkloadOnTransientError restarts the driver while the workload's
// Secrets cannot be read: Recover must fail and leave the running Deployment alone, and
// adopt it once the Secrets can be read.
func TestRecoverKeepsWorkloadOnTransientError(t *testing.T) {
	cfg := kubetest.Config(t)
	owner := fmt.Sprintf("rec%d", time.Now().UnixNano()%1_000_000_000)
	opts := Options{Config: cfg, Owner: owner, NamespacePrefix: owner + "-"}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	d1, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := d1.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	spec := runtime.WorkloadSpec{ID: "r-" + owner, Namespace: "acme", Service: "hello", Artifact: "registry.invalid/acme/hello:v1",
		Replicas: 1, Env: map[string]string{"GREETING": "hi"}}
	if err := d1.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	_ = d1.Close()

	d2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d2.Close() })
	flaky := &flakySecrets{Cache: d2.cache}
	flaky.fail.Store(true)
	d2.cache = flaky
	if err := d2.Recover(ctx); platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Fatalf("Recover with unreadable secrets = %v, want EUNAVAILABLE", err)
	}
	var dep appsv1.Deployment
	key := client.ObjectKey{Namespace: d2.namespaceName(spec.Namespace), Name: deploymentName(&spec)}
	if err := d2.client.Get(ctx, key, &dep); err != nil || dep.DeletionTimestamp != nil {
		t.Fatalf("deployment after a failed Recover: %v (deleting: %v), want it running", err, dep.DeletionTimestamp != nil)
	}
	flaky.fail.Store(false)
	if err := d2.Recover(ctx); err != nil {
		t.Fatalf("Recover once secrets can be read: %v", err)
	}
	st, err := d2.Inspect(ctx, spec.ID)
	if err != nil || st.Spec.Env["GREETING"] != "hi" {
		t.Fatalf("Inspect after Recover = %+v, %v; want the adopted workload", st, err)
	}
	if err := d2.Stop(ctx, spec.ID, time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}
