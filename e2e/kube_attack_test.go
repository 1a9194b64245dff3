package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/micro/platform/runtime/kubernetes"
)

// TestTenantCodeIsConfinedOnKubernetes is the sandbox attack on a real cluster: a hostile
// service in namespace a of a kubernetes region goes after namespace b's pods, the
// Kubernetes API and the node's services (API server, kubelet), the service account
// token, the image's files, the kernel's namespace and mount doors, and more CPU and
// memory than its size. Every attempt must be refused, as the hardened pod (non-root, read-only root,
// no capabilities, RuntimeDefault seccomp) and the namespace's NetworkPolicies (enforced
// by the cluster's policy controller) say, while its own mesh stays reachable.
func TestTenantCodeIsConfinedOnKubernetes(t *testing.T) {
	skipShort(t)
	if os.Getenv(envRealCluster) == "" {
		t.Skip("needs a real cluster (" + envRealCluster + "): the process kubelet runs pods as host processes")
	}
	t.Parallel()
	const owner = "platform-attack"
	kube := kubeCluster(t, owner)
	kube.fresh(t, owner)
	kc := kube.admin(t)
	s := startServer(t, t.TempDir())
	// A prefix of this run's own: a run's namespaces are deleted at its end, and the next
	// run must not meet them while they terminate.
	prefix := fmt.Sprintf("atk%06x-", rand.Uint32()&0xffffff)
	agent := startAgent(t, s, "k8s", "--config", kube.configFile(t, "kube_owner: "+owner+"\nkube_namespace_prefix: "+prefix+"\n"),
		"--runtime", "kubernetes", "--kubeconfig", kube.kubeconfig, "--rollout-timeout", "90s")
	for _, ns := range []string{"a", "b"} {
		s.must(t, "namespaces", "create", ns, "--regions", "k8s")
		t.Cleanup(func() {
			_ = kc.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: prefix + ns}})
		})
	}
	s.must(t, "deploy", "./e2e/testdata/attacker", "-n", "a")
	s.must(t, "deploy", "./examples/orders", "-n", "b", "--replicas", "2")

	ctx := t.Context()
	var victims corev1.PodList
	must(t, kc.List(ctx, &victims, client.InNamespace(prefix+"b"), client.MatchingLabels{kubernetes.LabelService: "orders"}))
	if len(victims.Items) == 0 || victims.Items[0].Status.PodIP == "" {
		t.Fatalf("no running pod of b's orders: %d pods", len(victims.Items))
	}
	victim := victims.Items[0].Status.PodIP
	var api corev1.Service
	must(t, kc.Get(ctx, client.ObjectKey{Namespace: "default", Name: "kubernetes"}, &api))
	natsPort, err := os.ReadFile(filepath.Join(agent.dir, "nats.port"))
	must(t, err)
	node := kube.natsHost
	mesh := net.JoinHostPort(node, strings.TrimSpace(string(natsPort)))
	_, gwPort, _ := net.SplitHostPort(agent.gateway)
	_, apiPort, _ := net.SplitHostPort(strings.TrimPrefix(kube.cfg.Host, "https://"))

	targets := map[string]any{
		"read":  []string{"/var/run/secrets/kubernetes.io/serviceaccount/token", "/etc/shadow", "/root", "/var/lib/kubelet"},
		"write": []string{"/app/attacker", "/etc/passwd", "/attacker"},
		"dial": []string{
			net.JoinHostPort(victim, "9090"), net.JoinHostPort(victim, "8081"), // b's pods
			net.JoinHostPort(api.Spec.ClusterIP, "443"),                      // the Kubernetes API service
			net.JoinHostPort(node, apiPort), net.JoinHostPort(node, "10250"), // the node's API server and kubelet
			net.JoinHostPort(node, gwPort), // the region's gateway, from inside
			mesh,                           // its namespace's mesh: allowed
		},
		"escape": true,
	}
	body, _ := json.Marshal(targets)
	out := s.must(t, "call", "attacker", "Attack.Run", string(body), "-n", "a")
	t.Logf("attack results: %s", out)
	var got struct {
		Results map[string]string `json:"results"`
		Procs   int               `json:"procs"`
		UID     int               `json:"uid"`
	}
	must(t, json.Unmarshal([]byte(out), &got))
	if got.UID == 0 {
		t.Error("the tenant's code runs as root")
	}
	if got.Procs != 1 {
		t.Errorf("the tenant's code sees %d processes, want only its own", got.Procs)
	}
	if len(got.Results) < 14 {
		t.Errorf("%d results, want one per target", len(got.Results))
	}
	for what, res := range got.Results {
		allowed := what == "dial "+mesh
		if ok := strings.HasPrefix(res, "ok:"); ok != allowed {
			t.Errorf("%s: %s (want refused: %v)", what, res, !allowed)
		}
	}
	if r := got.Results["write /app/attacker"]; !strings.Contains(r, "read-only file system") {
		t.Errorf("write /app/attacker: %s, want refused by the read-only root", r)
	}
	if out := s.must(t, "call", "orders", "Status.Check", `{}`, "-n", "b"); !strings.Contains(out, "200 OK") {
		t.Errorf("victim after the attack: %s", out)
	}

	// More CPU than its size (nano: 100m): the CFS quota holds it to a tenth of a core.
	checkCPULimit(t, s, "a")

	// More memory than its size: the kernel kills the container, the event says why.
	if r := s.platform(t, "call", "attacker", "Attack.Hog", `{"mib":400}`, "-n", "a"); r.code == 0 {
		t.Errorf("allocating 400 MiB beyond the instance's memory limit succeeded: %s", r.stdout)
	}
	eventually(t, "an event saying the instance exceeded its memory limit", func() bool {
		return strings.Contains(s.must(t, "events", "-n", "a"), "killed for exceeding its memory limit")
	})
}
