package kubernetes

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/micro/platform/runtime"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml")

// TestObjectsGolden pins what the driver applies for one workload: the namespace's
// objects, the Service, the env Secret and the Deployment, in testdata/objects.golden.yaml
// (go test -run Golden -update rewrites it after review).
func TestObjectsGolden(t *testing.T) {
	d := &Driver{opts: Options{}}
	d.opts.setDefaults()
	spec := runtime.WorkloadSpec{
		ID: "r-0123456789abcdef", Namespace: "acme", Service: "hello", Version: "v1.2.0",
		Artifact:     "registry.example/acme/hello@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Replicas:     2,
		Env:          map[string]string{"GREETING": "hi", "MICRO_SERVER_NAME": "hello"},
		NamespaceEnv: map[string]string{"MICRO_REGISTRY": "nats", "MICRO_REGISTRY_ADDRESS": "nats://ns-acme:example@platform-mesh.micro-platform.svc:4222"},
		Resources:    runtime.Resources{CPUMillis: 250},
	}
	objs := d.namespaceObjects(spec.Namespace, spec.NamespaceEnv)
	objs = append(objs, d.serviceObject(spec.Namespace, spec.Service))
	secret, deploy, err := d.workloadObjects(&spec)
	if err != nil {
		t.Fatal(err)
	}
	objs = append(objs, secret, deploy)
	var got bytes.Buffer
	for _, obj := range objs {
		b, err := yaml.Marshal(obj.(client.Object))
		if err != nil {
			t.Fatal(err)
		}
		got.WriteString("---\n")
		got.Write(b)
	}
	path := filepath.Join("testdata", "objects.golden.yaml")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("applied objects differ from %s (run with -update after review):\n%s", path, got.String())
	}
}

// TestNetworkPolicyEgress evaluates the namespace's NetworkPolicy as a CNI would for the
// connections an instance of acme may try: out to DNS (wherever it is served), the mesh,
// its own namespace and the internet, never to the cloud metadata service, the Kubernetes API, other namespaces,
// the control plane or private addresses.
func TestNetworkPolicyEgress(t *testing.T) {
	d := &Driver{opts: Options{}}
	d.opts.setDefaults()
	var np *networkingv1.NetworkPolicy
	for _, obj := range d.namespaceObjects("acme", nil) {
		if p, ok := obj.(*networkingv1.NetworkPolicy); ok {
			np = p
		}
	}
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) || len(np.Spec.PodSelector.MatchLabels) > 0 {
		t.Fatalf("policy types %v, pod selector %v: want egress restricted for every pod", np.Spec.PolicyTypes, np.Spec.PodSelector)
	}
	ns := func(name string) map[string]string { return map[string]string{corev1.LabelMetadataName: name} }
	mesh := map[string]string{"app.kubernetes.io/name": "platform-mesh", "app.kubernetes.io/component": "mesh"}
	control := map[string]string{"app.kubernetes.io/name": "platform", "app.kubernetes.io/component": "control-plane"}
	tests := []struct {
		name     string
		nsLabels map[string]string // a pod's namespace; nil for an address outside the cluster
		pod      map[string]string
		ip       string
		proto    corev1.Protocol
		port     int32
		want     bool
	}{
		{"cluster DNS over UDP", ns("kube-system"), map[string]string{"k8s-app": "kube-dns"}, "10.96.0.10", corev1.ProtocolUDP, 53, true},
		{"cluster DNS over TCP", ns("kube-system"), map[string]string{"k8s-app": "kube-dns"}, "10.96.0.10", corev1.ProtocolTCP, 53, true},
		{"DNS pods labelled otherwise", ns("kube-system"), map[string]string{"k8s-app": "coredns"}, "10.96.0.10", corev1.ProtocolUDP, 53, true},
		{"NodeLocal DNSCache", nil, nil, "169.254.20.10", corev1.ProtocolUDP, 53, true},
		{"NodeLocal DNSCache over TCP", nil, nil, "169.254.20.10", corev1.ProtocolTCP, 53, true},
		{"a node-local address on another port", nil, nil, "169.254.20.10", corev1.ProtocolTCP, 8080, false},
		{"the mesh", ns("micro-platform"), mesh, "10.1.2.3", corev1.ProtocolTCP, 4222, true},
		{"the mesh's monitoring port", ns("micro-platform"), mesh, "10.1.2.3", corev1.ProtocolTCP, 8222, false},
		{"the control plane", ns("micro-platform"), control, "10.1.2.4", corev1.ProtocolTCP, 8080, false},
		{"a pod of the same namespace", ns("mp-acme"), map[string]string{"app": "x"}, "10.1.2.5", corev1.ProtocolTCP, 9000, true},
		{"a pod of another platform namespace", ns("mp-beta"), map[string]string{"app": "x"}, "10.1.2.6", corev1.ProtocolTCP, 9000, false},
		{"another kube-system pod", ns("kube-system"), map[string]string{"k8s-app": "metrics-server"}, "10.1.2.7", corev1.ProtocolTCP, 443, false},
		{"cloud metadata service", nil, nil, "169.254.169.254", corev1.ProtocolTCP, 80, false},
		{"kubernetes API service", nil, nil, "10.96.0.1", corev1.ProtocolTCP, 443, false},
		{"a VPC database", nil, nil, "172.20.3.4", corev1.ProtocolTCP, 5432, false},
		{"a home-network address", nil, nil, "192.168.1.1", corev1.ProtocolTCP, 80, false},
		{"carrier-grade NAT node address", nil, nil, "100.64.0.5", corev1.ProtocolTCP, 10250, false},
		{"IPv6 unique local", nil, nil, "fd00:ec2::254", corev1.ProtocolTCP, 80, false},
		{"public internet", nil, nil, "140.82.112.3", corev1.ProtocolTCP, 443, true},
		{"public IPv6", nil, nil, "2606:4700::1111", corev1.ProtocolUDP, 443, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := egressAllowed(np, tt.nsLabels, tt.pod, tt.ip, tt.proto, tt.port); got != tt.want {
				t.Errorf("egress to %s (%s %s/%d) allowed = %v, want %v", tt.name, tt.ip, tt.proto, tt.port, got, tt.want)
			}
		})
	}
}

// TestNetworkPolicyEgressToMeshOutsideTheCluster: with Mesh.Addresses (a region agent's
// NATS on its host, beside the cluster), instances reach the mesh port there and nothing
// else of that host or its network.
func TestNetworkPolicyEgressToMeshOutsideTheCluster(t *testing.T) {
	d := &Driver{opts: Options{Mesh: Mesh{Port: 41222, Addresses: []string{"10.250.0.1/32"}}}}
	d.opts.setDefaults()
	var np *networkingv1.NetworkPolicy
	for _, obj := range d.namespaceObjects("acme", nil) {
		if p, ok := obj.(*networkingv1.NetworkPolicy); ok {
			np = p
		}
	}
	for _, tt := range []struct {
		name string
		ip   string
		port int32
		want bool
	}{
		{"the mesh on the agent's host", "10.250.0.1", 41222, true},
		{"the agent's host on another port (its API server)", "10.250.0.1", 16443, false},
		{"another host of that network on the mesh port", "10.250.0.2", 41222, false},
	} {
		if got := egressAllowed(np, nil, nil, tt.ip, corev1.ProtocolTCP, tt.port); got != tt.want {
			t.Errorf("egress to %s (%s:%d) allowed = %v, want %v", tt.name, tt.ip, tt.port, got, tt.want)
		}
	}
}

// egressAllowed evaluates np's egress rules as a CNI would for one connection.
func egressAllowed(np *networkingv1.NetworkPolicy, nsLabels, pod map[string]string, ip string, proto corev1.Protocol, port int32) bool {
	for _, rule := range np.Spec.Egress {
		// A rule without peers allows every destination on its ports.
		if portMatches(rule.Ports, proto, port) && (len(rule.To) == 0 || slices.ContainsFunc(rule.To, func(p networkingv1.NetworkPolicyPeer) bool {
			return peerMatches(p, "mp-acme", nsLabels, pod, ip)
		})) {
			return true
		}
	}
	return false
}

// peerMatches applies NetworkPolicy peer semantics for a policy in namespace own: a pod
// selector alone selects pods of own, with a namespace selector pods of matching
// namespaces; an IP block selects addresses outside the cluster.
func peerMatches(p networkingv1.NetworkPolicyPeer, own string, nsLabels, pod map[string]string, ip string) bool {
	if p.IPBlock != nil {
		if nsLabels != nil {
			return false // pod addresses lie in the excepted private ranges
		}
		addr := netip.MustParseAddr(ip)
		if !netip.MustParsePrefix(p.IPBlock.CIDR).Contains(addr) {
			return false
		}
		for _, e := range p.IPBlock.Except {
			if netip.MustParsePrefix(e).Contains(addr) {
				return false
			}
		}
		return true
	}
	if nsLabels == nil {
		return false
	}
	if p.NamespaceSelector == nil {
		if nsLabels[corev1.LabelMetadataName] != own {
			return false
		}
	} else if !labelsMatch(p.NamespaceSelector, nsLabels) {
		return false
	}
	return p.PodSelector == nil || labelsMatch(p.PodSelector, pod)
}

func labelsMatch(sel *metav1.LabelSelector, l map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(l))
}

func portMatches(ports []networkingv1.NetworkPolicyPort, proto corev1.Protocol, port int32) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if (p.Protocol == nil && proto == corev1.ProtocolTCP || p.Protocol != nil && *p.Protocol == proto) && (p.Port == nil || p.Port.IntVal == port) {
			return true
		}
	}
	return false
}
