package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/micro/platform/internal/kubetest"
	"github.com/micro/platform/runtime/kubernetes"
)

// envRealCluster names the admin kubeconfig of a real cluster (scripts/real-k8s/up.sh
// prints it) that the Kubernetes tests then run on: pods run in containers on a real
// kubelet, rollouts go through the Deployment controller. Without it they run on the test
// binary's API server with the process kubelet.
const envRealCluster = "PLATFORM_TEST_REAL_K8S"

// cluster is where a Kubernetes test's platform runs its pods.
type cluster struct {
	real       bool
	cfg        *rest.Config
	kubeconfig string // a kubeconfig file for the platform's --kubeconfig
	// natsHost is the address the platform's NATS listens on so that pods reach it: the
	// node's IP on a real cluster, loopback for the process kubelet's processes.
	natsHost string
	kubelet  *processKubelet // nil on a real cluster
}

// kubeCluster returns the real cluster when PLATFORM_TEST_REAL_K8S names one, else the
// test API server with a process kubelet for owner's Deployments.
func kubeCluster(t *testing.T, owner string) *cluster {
	t.Helper()
	if path := os.Getenv(envRealCluster); path != "" {
		// controller-runtime's client logs through a logger nobody set otherwise (it
		// prints a stack saying so).
		ctrllog.SetLogger(logr.Discard())
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			t.Fatalf("%s=%s: %v", envRealCluster, path, err)
		}
		c := &cluster{real: true, cfg: cfg, kubeconfig: path}
		kc, err := client.New(cfg, client.Options{})
		must(t, err)
		var nodes corev1.NodeList
		must(t, kc.List(context.Background(), &nodes))
		for _, n := range nodes.Items {
			for _, a := range n.Status.Addresses {
				if a.Type == corev1.NodeInternalIP && c.natsHost == "" {
					c.natsHost = a.Address
				}
			}
		}
		if c.natsHost == "" {
			t.Fatalf("the cluster of %s has no node with an internal IP", path)
		}
		return c
	}
	cfg := kubetest.Config(t)
	return &cluster{cfg: cfg, kubeconfig: writeKubeconfig(t), natsHost: "127.0.0.1", kubelet: startProcessKubelet(t, cfg, owner)}
}

// admin returns a client with full rights on the cluster.
func (c *cluster) admin(t *testing.T) client.Client {
	t.Helper()
	kc, err := client.New(c.cfg, client.Options{})
	must(t, err)
	return kc
}

// configFile writes the platform's config file for this cluster: where NATS listens, and
// extra lines.
func (c *cluster) configFile(t *testing.T, extra string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "platform.yaml")
	must(t, os.WriteFile(file, []byte("nats_host: "+c.natsHost+"\n"+extra), 0o600))
	return file
}

// fresh deletes, on a real cluster, the Kubernetes namespaces a platform with owner left
// there (a test run that failed, or one that ended before its clean-up), waits until they
// are gone, and deletes the ones this test makes when it ends: a driver adopts what carries
// its owner label, so a leftover would fight the new run. The process kubelet's API server
// lives as long as the test binary: nothing to do there.
func (c *cluster) fresh(t *testing.T, owner string) {
	t.Helper()
	if !c.real {
		return
	}
	kc := c.admin(t)
	sweep := func(ctx context.Context) int {
		var list corev1.NamespaceList
		if err := kc.List(ctx, &list, client.MatchingLabels{kubernetes.LabelOwner: owner}); err != nil {
			t.Logf("list namespaces of %s: %v", owner, err)
			return 0
		}
		for i := range list.Items {
			if list.Items[i].DeletionTimestamp == nil {
				_ = kc.Delete(ctx, &list.Items[i])
			}
		}
		return len(list.Items)
	}
	t.Cleanup(func() { sweep(context.Background()) })
	deadline := time.Now().Add(3 * time.Minute)
	for sweep(t.Context()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("namespaces of owner %s left by an earlier run are still terminating after 3m", owner)
		}
		time.Sleep(time.Second)
	}
}
