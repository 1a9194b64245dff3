package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// probeImage is internal/realk8s/probe, imported into the real cluster's containerd by
// scripts/real-k8s/up.sh (no registry: pods use it with imagePullPolicy Never).
const probeImage = "localhost/probe:1"

// probeSettle is how long a dialing pod waits (in an init container) before it dials: the
// policy controller confines a pod's egress only once it has seen the pod's IP, a few hundred
// milliseconds after the pod's containers may have started.
const probeSettle = "3s"

// TestNetworkPolicyIsEnforced proves that the real cluster enforces NetworkPolicies (kube-router's
// firewall, see scripts/real-k8s): without policies a pod of namespace A reaches B's server
// and the node; with B denying ingress except from A's pods labelled role=friend, only the
// friend gets through; with A's egress denied except DNS, no pod of A reaches B, the API
// server (service IP, node IP) or the kubelet. Every pod is hardened as the platform's are.
func TestNetworkPolicyIsEnforced(t *testing.T) {
	skipShort(t)
	if os.Getenv(envRealCluster) == "" {
		t.Skip("needs a real cluster that enforces NetworkPolicies (" + envRealCluster + ")")
	}
	t.Parallel()
	kube := kubeCluster(t, "netpol")
	// Every dialing pod of a phase is polled at once: more than client-go's default 5 QPS.
	cfg := rest.CopyConfig(kube.cfg)
	cfg.QPS, cfg.Burst = 50, 100
	kc, err := client.New(cfg, client.Options{})
	must(t, err)
	cs, err := kubernetes.NewForConfig(cfg)
	must(t, err)
	ctx := t.Context()

	suffix := fmt.Sprintf("%06x", rand.Uint32()&0xffffff)
	nsA, nsB := "netpol-a-"+suffix, "netpol-b-"+suffix
	for _, ns := range []string{nsA, nsB} {
		must(t, kc.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
		t.Cleanup(func() {
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := kc.Delete(cctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				t.Logf("delete namespace %s: %v", ns, err)
			}
		})
	}
	// Pods cannot be created before the controller-manager has made the namespace's ServiceAccount.
	for _, ns := range []string{nsA, nsB} {
		waitFor(t, 30*time.Second, "ServiceAccount "+ns+"/default", func() bool {
			return kc.Get(ctx, client.ObjectKey{Namespace: ns, Name: "default"}, &corev1.ServiceAccount{}) == nil
		})
	}

	serverB := startProbeServer(t, kc, nsB)
	toA := net.JoinHostPort(startProbeServer(t, kc, nsA), "8080")
	node := kube.natsHost
	var api corev1.Service
	must(t, kc.Get(ctx, client.ObjectKey{Namespace: "default", Name: "kubernetes"}, &api))
	apiService := net.JoinHostPort(api.Spec.ClusterIP, "443")
	_, apiPort, err := net.SplitHostPort(strings.TrimPrefix(kube.cfg.Host, "https://"))
	must(t, err)
	apiNode := net.JoinHostPort(node, apiPort)
	var nodes corev1.NodeList
	must(t, kc.List(ctx, &nodes))
	kubelet := net.JoinHostPort(node, strconv.Itoa(int(nodes.Items[0].Status.DaemonEndpoints.KubeletEndpoint.Port)))
	toB := net.JoinHostPort(serverB, "8080")
	friend := map[string]string{"role": "friend"}

	// Without policies everything below connects, except the API server when it listens on
	// loopback only (scripts/real-k8s: 127.0.0.1, so its endpoint on the node IP refuses):
	// then the kubelet stands for "the node is reachable".
	base := runProbes(t, kc, cs, "open", []probeCase{
		{name: "plain-to-b", ns: nsA, target: toB, want: connects},
		{name: "friend-to-b", ns: nsA, labels: friend, target: toB, want: connects},
		{name: "plain-to-kubelet", ns: nsA, target: kubelet, want: connects},
		{name: "plain-to-api-service", ns: nsA, target: apiService, want: either},
		{name: "plain-to-api-node", ns: nsA, target: apiNode, want: either},
	})
	if !base["plain-to-api-service"] || !base["plain-to-api-node"] {
		t.Logf("without policies the API server is not reachable from pods (it listens on loopback): its cases below cannot tell a policy's REJECT from a closed port; the kubelet's can")
	}

	// B: deny all ingress, then admit A's friends.
	port := intstr.FromInt32(8080)
	tcp := corev1.ProtocolTCP
	createPolicy(t, kc, &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "default-deny-ingress", Namespace: nsB},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		},
	})
	createPolicy(t, kc, &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "allow-friends-of-a", Namespace: nsB},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": nsA}},
					PodSelector:       &metav1.LabelSelector{MatchLabels: friend},
				}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}},
			}},
		},
	})
	runProbes(t, kc, cs, "ingress", []probeCase{
		{name: "plain-to-b", ns: nsA, target: toB, want: refused},
		{name: "friend-to-b", ns: nsA, labels: friend, target: toB, want: connects},
		// B's friend rule names A: a role=friend pod of B itself is no friend.
		{name: "b-friend-to-b", ns: nsB, labels: friend, target: toB, want: refused},
		{name: "plain-to-kubelet", ns: nsA, target: kubelet, want: connects},
		// B's policies are about B's ingress: A's server still admits B.
		{name: "b-to-a", ns: nsB, target: toA, want: connects},
	})

	// A: egress only to DNS.
	dns := intstr.FromInt32(53)
	udp := corev1.ProtocolUDP
	createPolicy(t, kc, &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "egress-dns-only", Namespace: nsA},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &dns}, {Protocol: &tcp, Port: &dns}},
			}},
		},
	})
	egress := runProbes(t, kc, cs, "egress", []probeCase{
		{name: "plain-to-api-service", ns: nsA, target: apiService, want: refused},
		{name: "plain-to-api-node", ns: nsA, target: apiNode, want: refused},
		{name: "plain-to-kubelet", ns: nsA, target: kubelet, want: refused},
		{name: "plain-to-a", ns: nsA, target: toA, want: refused},
		// B admits the friend, but A's egress does not let it out.
		{name: "friend-to-b", ns: nsA, labels: friend, target: toB, want: refused},
		// B's own pods are not under A's policy.
		{name: "b-to-kubelet", ns: nsB, target: kubelet, want: connects},
		// Dialing at once, before the policy controller has seen the pod's IP: reported only
		// (see probeSettle); a connection here is the start-up window of the enforcement.
		{name: "at-once-to-kubelet", ns: nsA, target: kubelet, want: either, atOnce: true},
	})
	if egress["at-once-to-kubelet"] {
		t.Logf("a pod of A that dialed the kubelet as it started got through: egress policies confine a pod only once kube-router has seen its IP")
	}
}

// expect is what a probeCase's connection must do.
type expect int

const (
	connects expect = iota
	refused         // not connected: REJECTed by a policy, or nothing listens
	either          // only reported
)

// probeCase is one dialing pod: in ns, with labels, dialing target, after probeSettle
// unless atOnce.
type probeCase struct {
	name   string
	ns     string
	labels map[string]string
	target string
	want   expect
	atOnce bool
}

// hardened returns the security context of the platform's pods: non-root 65532, read-only
// root, no capabilities, no privilege escalation, RuntimeDefault seccomp.
func hardened() (*corev1.PodSecurityContext, *corev1.SecurityContext) {
	uid, yes, no := int64(65532), true, false
	return &corev1.PodSecurityContext{
			RunAsNonRoot: &yes, RunAsUser: &uid, RunAsGroup: &uid,
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		}, &corev1.SecurityContext{
			RunAsNonRoot: &yes, ReadOnlyRootFilesystem: &yes, AllowPrivilegeEscalation: &no,
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		}
}

// probePod returns a hardened pod running the probe image with args.
func probePod(ns, name string, labels map[string]string, restart corev1.RestartPolicy, args ...string) *corev1.Pod {
	psc, sc := hardened()
	no := false
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: corev1.PodSpec{
			RestartPolicy: restart, SecurityContext: psc, AutomountServiceAccountToken: &no,
			TerminationGracePeriodSeconds: new(int64),
			Containers: []corev1.Container{{
				Name: "probe", Image: probeImage, ImagePullPolicy: corev1.PullNever, Args: args, SecurityContext: sc,
			}},
		},
	}
}

// startProbeServer runs `probe serve :8080` in ns and returns its pod IP once it is ready.
func startProbeServer(t *testing.T, kc client.Client, ns string) string {
	t.Helper()
	pod := probePod(ns, "server", map[string]string{"app": "server"}, corev1.RestartPolicyAlways, "serve", ":8080")
	pod.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}
	pod.Spec.Containers[0].ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
		PeriodSeconds: 1,
	}
	must(t, kc.Create(t.Context(), pod))
	waitFor(t, 90*time.Second, "probe server in "+ns, func() bool {
		must(t, kc.Get(t.Context(), client.ObjectKeyFromObject(pod), pod))
		return podReady(pod) && pod.Status.PodIP != ""
	})
	return pod.Status.PodIP
}

// createPolicy creates np; the dialing pods, created afterwards, wait probeSettle before
// they dial, by when the policy controller has applied it.
func createPolicy(t *testing.T, kc client.Client, np *networkingv1.NetworkPolicy) {
	t.Helper()
	must(t, kc.Create(t.Context(), np))
}

// runProbes runs one dialing pod per case, all at the same time (restartPolicy Never, after
// probeSettle in an init container unless the case dials atOnce), waits for all to end, and checks each exit code against its want
// (exit 0: connected). It returns whether each case connected.
func runProbes(t *testing.T, kc client.Client, cs kubernetes.Interface, phase string, cases []probeCase) map[string]bool {
	t.Helper()
	ctx := t.Context()
	pods := make([]*corev1.Pod, len(cases))
	for i, c := range cases {
		p := probePod(c.ns, phase+"-"+c.name, c.labels, corev1.RestartPolicyNever, "dial", c.target)
		if !c.atOnce {
			p.Spec.InitContainers = []corev1.Container{p.Spec.Containers[0]}
			p.Spec.InitContainers[0].Name = "settle"
			p.Spec.InitContainers[0].Args = []string{"sleep", probeSettle}
		}
		must(t, kc.Create(ctx, p))
		pods[i] = p
	}
	got := make(map[string]bool, len(cases))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, out, err := probeResult(ctx, kc, cs, pods[i])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("%s/%s: %v", phase, c.name, err)
				return
			}
			connected := code == 0
			got[c.name] = connected
			t.Logf("%s/%s (%s → %s): exit %d: %s", phase, c.name, c.ns, c.target, code, out)
			if c.want != either && connected != (c.want == connects) {
				t.Errorf("%s/%s: %s from namespace %s (labels %v): connected=%v, want %v: %s",
					phase, c.name, c.target, c.ns, c.labels, connected, c.want == connects, out)
			}
		}()
	}
	wg.Wait()
	return got
}

// probeResult waits for a dialing pod to end and returns its exit code and log.
func probeResult(ctx context.Context, kc client.Client, cs kubernetes.Interface, pod *corev1.Pod) (int32, string, error) {
	deadline := time.Now().Add(90 * time.Second)
	for {
		if err := kc.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return 0, "", err
		}
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			break
		}
		if time.Now().After(deadline) {
			return 0, "", fmt.Errorf("pod %s/%s did not end: phase %s, %+v", pod.Namespace, pod.Name, pod.Status.Phase, pod.Status.ContainerStatuses)
		}
		time.Sleep(500 * time.Millisecond)
	}
	var code int32 = -1
	for _, st := range pod.Status.ContainerStatuses {
		if st.Name == "probe" && st.State.Terminated != nil {
			code = st.State.Terminated.ExitCode
		}
	}
	if code == -1 {
		return 0, "", fmt.Errorf("pod %s/%s ended (%s) without the probe's exit code: %+v", pod.Namespace, pod.Name, pod.Status.Phase, pod.Status)
	}
	out, err := cs.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "probe"}).DoRaw(ctx)
	if err != nil {
		return 0, "", fmt.Errorf("logs of %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return code, strings.TrimSpace(string(out)), nil
}

// waitFor polls cond every 250ms until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
