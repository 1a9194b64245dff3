// Command dns is the cluster DNS of the single-node cluster scripts/real-k8s runs (the
// kubelet's clusterDNS): it answers A queries for Services, as CoreDNS's kubernetes plugin
// does for the cases the platform's manifests use, from the API server at each query (no
// cache: a test cluster's load):
//
//	SERVICE.NAMESPACE.svc.DOMAIN           the Service's cluster IP; for a headless Service
//	                                       the addresses of its ready endpoints
//	HOSTNAME.SERVICE.NAMESPACE.svc.DOMAIN  the endpoint with that hostname (a StatefulSet's pod)
//
//	dns -listen 10.250.0.1:53 -kubeconfig FILE [-domain cluster.local]
//
// A known name has no AAAA record (an empty answer); every other name is NXDOMAIN: pods
// here have no route beyond the node and the service range, so there is nothing to forward
// to. It serves UDP and TCP.
package main

import (
	"context"
	"encoding/binary"

	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	listen := flag.String("listen", "", "address to serve on, e.g. 10.250.0.1:53 (required)")
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster (required)")
	domain := flag.String("domain", "cluster.local", "the cluster's domain")
	flag.Parse()
	if *listen == "" || *kubeconfig == "" {
		flag.Usage()
		os.Exit(2)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		log.Fatal(err)
	}
	r := &resolver{cs: cs, suffix: ".svc." + strings.Trim(*domain, ".")}
	pc, err := net.ListenPacket("udp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("dns: serving %s*%s", *listen, r.suffix)
	go serveTCP(l, r)
	buf := make([]byte, 1500)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			log.Fatal(err)
		}
		q := append([]byte(nil), buf[:n]...)
		go func() {
			if out := r.answer(q, 512); out != nil {
				pc.WriteTo(out, addr)
			}
		}()
	}
}

func serveTCP(l net.Listener, r *resolver) {
	for {
		c, err := l.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer c.Close()
			for {
				c.SetDeadline(time.Now().Add(10 * time.Second))
				var n uint16
				if binary.Read(c, binary.BigEndian, &n) != nil {
					return
				}
				q := make([]byte, n)
				if _, err := io.ReadFull(c, q); err != nil {
					return
				}
				out := r.answer(q, 65535)
				if out == nil {
					return
				}
				c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(out))))
				c.Write(out)
			}
		}()
	}
}

type resolver struct {
	cs     kubernetes.Interface
	suffix string
}

// answer returns the response to the query q, or nil for one it cannot parse.
func (r *resolver) answer(q []byte, max int) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil
	}
	question, err := p.Question()
	if err != nil {
		return nil
	}
	resp := dnsmessage.Message{Header: dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}, Questions: []dnsmessage.Question{question}}
	name := strings.ToLower(strings.TrimSuffix(question.Name.String(), "."))
	ips, known, err := r.lookup(name)
	switch {
	case err != nil:
		log.Printf("dns: %s: %v", name, err)
		resp.RCode = dnsmessage.RCodeServerFailure
	case !known:
		resp.RCode = dnsmessage.RCodeNameError
	case question.Type == dnsmessage.TypeA || question.Type == dnsmessage.TypeALL:
		for _, ip := range ips {
			resp.Answers = append(resp.Answers, dnsmessage.Resource{
				Header: dnsmessage.ResourceHeader{Name: question.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 5},
				Body:   &dnsmessage.AResource{A: ip.As4()},
			})
		}
	}
	out, err := resp.Pack()
	if err != nil {
		return nil
	}
	if len(out) > max {
		resp.Answers, resp.Truncated = nil, true
		out, _ = resp.Pack()
	}
	return out
}

// lookup resolves a name under the cluster's service domain.
func (r *resolver) lookup(name string) (ips []netip.Addr, known bool, err error) {
	rest, ok := strings.CutSuffix(name, r.suffix)
	if !ok {
		return nil, false, nil
	}
	labels := strings.Split(rest, ".")
	var host string
	switch len(labels) {
	case 2:
	case 3:
		host, labels = labels[0], labels[1:]
	default:
		return nil, false, nil
	}
	svcName, ns := labels[0], labels[1]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	svc, err := r.cs.CoreV1().Services(ns).Get(ctx, svcName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if host == "" && svc.Spec.ClusterIP != corev1.ClusterIPNone && svc.Spec.ClusterIP != "" {
		ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
		if err != nil {
			return nil, false, fmt.Errorf("cluster IP %q: %w", svc.Spec.ClusterIP, err)
		}
		return []netip.Addr{ip}, true, nil
	}
	slices, err := r.cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svcName})
	if err != nil {
		return nil, false, err
	}
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready && !svc.Spec.PublishNotReadyAddresses {
				continue
			}
			if host != "" && (e.Hostname == nil || *e.Hostname != host) {
				continue
			}
			for _, a := range e.Addresses {
				if ip, err := netip.ParseAddr(a); err == nil && ip.Is4() {
					ips = append(ips, ip)
				}
			}
		}
	}
	if host != "" && len(ips) == 0 {
		return nil, false, nil
	}
	return ips, true, nil
}
