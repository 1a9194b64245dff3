package main

import (
	"net/netip"
	"reflect"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestResolver answers the names the platform's manifests use: a Service's cluster IP, a
// headless Service's ready endpoints and a StatefulSet pod's hostname; anything else is
// NXDOMAIN.
func TestResolver(t *testing.T) {
	ready, notReady := true, false
	host := "platform-mesh-0"
	cs := fake.NewSimpleClientset(
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "platform", Namespace: "micro-platform"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "platform-mesh", Namespace: "micro-platform"}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}},
		&discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Name: "platform-mesh-x", Namespace: "micro-platform", Labels: map[string]string{discoveryv1.LabelServiceName: "platform-mesh"}},
			Endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{"10.244.0.7"}, Hostname: &host, Conditions: discoveryv1.EndpointConditions{Ready: &ready}},
				{Addresses: []string{"10.244.0.8"}, Conditions: discoveryv1.EndpointConditions{Ready: &notReady}},
			},
		},
	)
	r := &resolver{cs: cs, suffix: ".svc.cluster.local"}
	tests := []struct {
		name  string
		want  []string
		known bool
	}{
		{"platform.micro-platform.svc.cluster.local", []string{"10.96.0.10"}, true},
		{"platform-mesh.micro-platform.svc.cluster.local", []string{"10.244.0.7"}, true},
		{"platform-mesh-0.platform-mesh.micro-platform.svc.cluster.local", []string{"10.244.0.7"}, true},
		{"platform-mesh-1.platform-mesh.micro-platform.svc.cluster.local", nil, false},
		{"nope.micro-platform.svc.cluster.local", nil, false},
		{"platform-mesh.micro-platform.svc", nil, false},
		{"example.com", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ips, known, err := r.lookup(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ip := range ips {
				got = append(got, ip.String())
			}
			if known != tt.known || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("lookup = %v, %v; want %v, %v", got, known, tt.want, tt.known)
			}
		})
	}

	t.Run("wire", func(t *testing.T) {
		ask := func(name string, typ dnsmessage.Type) dnsmessage.Message {
			q := dnsmessage.Message{Header: dnsmessage.Header{ID: 7, RecursionDesired: true}, Questions: []dnsmessage.Question{{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET}}}
			b, err := q.Pack()
			if err != nil {
				t.Fatal(err)
			}
			var m dnsmessage.Message
			if err := m.Unpack(r.answer(b, 512)); err != nil {
				t.Fatal(err)
			}
			return m
		}
		m := ask("platform.micro-platform.svc.cluster.local.", dnsmessage.TypeA)
		if m.ID != 7 || m.RCode != dnsmessage.RCodeSuccess || len(m.Answers) != 1 || netip.AddrFrom4(m.Answers[0].Body.(*dnsmessage.AResource).A).String() != "10.96.0.10" {
			t.Errorf("A platform: %+v", m)
		}
		if m := ask("platform.micro-platform.svc.cluster.local.", dnsmessage.TypeAAAA); m.RCode != dnsmessage.RCodeSuccess || len(m.Answers) != 0 {
			t.Errorf("AAAA platform: %+v, want an empty answer", m)
		}
		if m := ask("example.com.", dnsmessage.TypeA); m.RCode != dnsmessage.RCodeNameError {
			t.Errorf("A example.com: rcode %v, want NXDOMAIN", m.RCode)
		}
	})
}
