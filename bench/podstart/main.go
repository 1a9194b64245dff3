// Command podstart measures pod start latency on a real cluster: it deletes one ready pod
// of a Deployment at a time and times how long until its replacement is ready, as the
// platform's instances see it (the ReplicaSet controller, the scheduler, the kubelet's
// sandbox and container start, the readiness of the container; the image is already on
// the node). It prints every start and p50/p99 as a markdown table row.
//
//	podstart -kubeconfig FILE -namespace NS -selector platform.micro.mu/service=helloworld -n 20
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	namespace := flag.String("namespace", "", "Kubernetes namespace of the pods")
	selector := flag.String("selector", "", "label selector of the pods, e.g. platform.micro.mu/service=helloworld")
	n := flag.Int("n", 20, "how many starts to measure")
	timeout := flag.Duration("timeout", 2*time.Minute, "how long one start may take")
	flag.Parse()
	if *namespace == "" || *selector == "" || *n < 1 {
		fmt.Fprintln(os.Stderr, "podstart: -namespace, -selector and -n ≥ 1 are required")
		os.Exit(2)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "podstart:", err)
		os.Exit(1)
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "podstart:", err)
		os.Exit(1)
	}
	var starts []time.Duration
	for i := range *n {
		d, err := restart(context.Background(), c, *namespace, *selector, *timeout)
		if err != nil {
			fmt.Fprintf(os.Stderr, "podstart: start %d: %v\n", i+1, err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "podstart: start %d: %s\n", i+1, d.Round(time.Millisecond))
		starts = append(starts, d)
	}
	slices.Sort(starts)
	fmt.Printf("| pod start (delete → replacement ready), %d starts | %.2f s | %.2f s | %.2f s | %.2f s |\n",
		len(starts), pct(starts, 50).Seconds(), pct(starts, 99).Seconds(), starts[0].Seconds(), starts[len(starts)-1].Seconds())
}

// restart deletes one ready pod selected by selector and returns the time until a pod that
// did not exist before is ready.
func restart(ctx context.Context, c *kubernetes.Clientset, ns, selector string, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return 0, err
	}
	known := map[string]bool{}
	var victim string
	for _, p := range list.Items {
		known[p.Name] = true
		if victim == "" && p.DeletionTimestamp == nil && ready(&p) {
			victim = p.Name
		}
	}
	if victim == "" {
		return 0, errors.New("no ready pod to delete")
	}
	w, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: list.ResourceVersion})
	if err != nil {
		return 0, err
	}
	defer w.Stop()
	start := time.Now()
	if err := c.CoreV1().Pods(ns).Delete(ctx, victim, metav1.DeleteOptions{}); err != nil {
		return 0, err
	}
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok || ev.Type == watch.Deleted || known[p.Name] {
			continue
		}
		if ready(p) {
			return time.Since(start), nil
		}
	}
	return 0, fmt.Errorf("no replacement of %s ready within %s", victim, timeout)
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// pct is the p-th percentile of sorted ds (nearest rank).
func pct(ds []time.Duration, p int) time.Duration {
	i := (len(ds)*p+99)/100 - 1
	return ds[max(0, min(i, len(ds)-1))]
}
