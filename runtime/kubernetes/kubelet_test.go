package kubernetes_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/micro/platform/runtime/kubernetes"
)

// simKubelet stands in for the ReplicaSet controller and the kubelets the test API server
// lacks: for every Deployment whose owner label starts with ownerPrefix it keeps
// spec.replicas pods and writes their status through the status subresource. What a pod
// does depends on its image's last path element (as runtimetest.Behaviour): "exit3" pods
// crash with exit code 3 and "exiting with 3" as their termination message, with a
// doubling backoff from 100ms, until crashLoop exits put them in CrashLoopBackOff for
// good; every other pod runs. It also plays the garbage collector for the pods of deleted
// Deployments. No process runs anywhere: only the API objects change.
//
// The pods are bound to a Node whose kubelet endpoint is the simulated kubelet's HTTPS
// server, so the API server proxies the pod log API to it (logs.go): every pod's log is
// "started <pod name>" then "tick <n>" every second, as runtimetest.Serve prints.
type simKubelet struct {
	c           client.Client
	ownerPrefix string
	crashLoop   int
	node        string
}

// startSimKubelet runs a simulated kubelet until the test ends.
func startSimKubelet(t *testing.T, ownerPrefix string, crashLoop int) *simKubelet {
	k := &simKubelet{c: adminClient(t), ownerPrefix: ownerPrefix, crashLoop: crashLoop, node: "sim-kubelet-" + ownerPrefix}
	k.startNode(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := k.sync(ctx); err != nil && ctx.Err() == nil {
				t.Logf("simulated kubelet: %v", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return k
}

// sync converges the pods of every served Deployment once.
func (k *simKubelet) sync(ctx context.Context) error {
	var deploys appsv1.DeploymentList
	if err := k.c.List(ctx, &deploys, client.HasLabels{kubernetes.LabelOwner}); err != nil {
		return err
	}
	if err := k.collectGarbage(ctx, deploys.Items); err != nil {
		return err
	}
	for i := range deploys.Items {
		dep := &deploys.Items[i]
		if !strings.HasPrefix(dep.Labels[kubernetes.LabelOwner], k.ownerPrefix) || dep.DeletionTimestamp != nil {
			continue
		}
		if err := k.syncDeployment(ctx, dep); err != nil {
			return fmt.Errorf("deployment %s/%s: %w", dep.Namespace, dep.Name, err)
		}
	}
	return nil
}

func (k *simKubelet) syncDeployment(ctx context.Context, dep *appsv1.Deployment) error {
	var pods corev1.PodList
	if err := k.c.List(ctx, &pods, client.InNamespace(dep.Namespace), client.MatchingLabels(dep.Spec.Selector.MatchLabels)); err != nil {
		return err
	}
	var alive []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			alive = append(alive, p)
		}
	}
	want := int(*dep.Spec.Replicas)
	for n := len(alive); n < want; n++ {
		if err := k.createPod(ctx, dep); err != nil {
			return err
		}
	}
	for _, p := range alive[min(want, len(alive)):] {
		if err := k.c.Delete(ctx, &p, client.GracePeriodSeconds(0)); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

func (k *simKubelet) createPod(ctx context.Context, dep *appsv1.Deployment) error {
	var b [3]byte
	_, _ = rand.Read(b[:])
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: dep.Name + "-" + hex.EncodeToString(b[:]), Namespace: dep.Namespace,
			Labels: dep.Spec.Template.Labels, Annotations: dep.Spec.Template.Annotations,
		},
		Spec: *dep.Spec.Template.Spec.DeepCopy(),
	}
	pod.Spec.NodeName = k.node
	if err := k.c.Create(ctx, pod); err != nil {
		return err
	}
	image := pod.Spec.Containers[0].Image
	if strings.HasSuffix(strings.SplitN(image, ":", 2)[0], "/exit3") {
		go k.crash(pod)
		return nil
	}
	return setContainer(ctx, k.c, pod, 0, corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}, nil)
}

// crash plays a container that exits with code 3 at once, restarted after a doubling
// backoff, crashLoop times.
func (k *simKubelet) crash(pod *corev1.Pod) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	backoff := 100 * time.Millisecond
	var last *corev1.ContainerStateTerminated
	for run := 0; run < k.crashLoop; run++ {
		id := fmt.Sprintf("sim://%s/%d", pod.Name, run)
		if err := setContainerID(ctx, k.c, pod, run, id, corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}, last); err != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
		last = &corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error", Message: "exiting with 3\n", ContainerID: id, FinishedAt: metav1.Now()}
		waiting := corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off restarting failed container"}}
		if err := setContainerID(ctx, k.c, pod, run, "", waiting, last); err != nil {
			return
		}
		time.Sleep(backoff)
		backoff *= 2
	}
}

// setContainer writes the pod's status with its one container in state, restarts
// restarts and last termination last.
func setContainer(ctx context.Context, c client.Client, pod *corev1.Pod, restarts int, state corev1.ContainerState, last *corev1.ContainerStateTerminated) error {
	return setContainerID(ctx, c, pod, restarts, "sim://"+pod.Name+"/0", state, last)
}

func setContainerID(ctx context.Context, c client.Client, pod *corev1.Pod, restarts int, id string, state corev1.ContainerState, last *corev1.ContainerStateTerminated) error {
	var p corev1.Pod
	if err := c.Get(ctx, client.ObjectKeyFromObject(pod), &p); err != nil {
		return err
	}
	now := metav1.Now()
	p.Status.Phase = corev1.PodRunning
	if state.Waiting != nil && state.Waiting.Reason != "CrashLoopBackOff" {
		p.Status.Phase = corev1.PodPending
	}
	p.Status.StartTime = &now
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now}}
	cs := corev1.ContainerStatus{
		Name: p.Spec.Containers[0].Name, Image: p.Spec.Containers[0].Image, ImageID: "sim",
		ContainerID: id, State: state, RestartCount: int32(restarts), Ready: state.Running != nil,
	}
	if last != nil {
		cs.LastTerminationState.Terminated = last
	}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{cs}
	return c.Status().Update(ctx, &p)
}

// collectGarbage plays the garbage collector and the kubelet for the pods of the node:
// pods whose Deployment is gone are deleted, and terminating pods are removed at once, as
// a kubelet does when their containers stopped.
func (k *simKubelet) collectGarbage(ctx context.Context, deploys []appsv1.Deployment) error {
	live := map[string]bool{}
	for _, d := range deploys {
		if d.DeletionTimestamp == nil {
			live[d.Namespace+"/"+d.Labels[kubernetes.LabelRelease]] = true
		}
	}
	var pods corev1.PodList
	if err := k.c.List(ctx, &pods, client.MatchingFields{"spec.nodeName": k.node}); err != nil {
		return err
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || !live[p.Namespace+"/"+p.Labels[kubernetes.LabelRelease]] {
			if err := k.c.Delete(ctx, &p, client.GracePeriodSeconds(0)); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
	}
	return nil
}

// startNode serves the kubelet's log endpoint over HTTPS and registers a Node pointing
// the API server at it.
func (k *simKubelet) startNode(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(k.serveLogs))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	portNum, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: k.node}}
	if err := k.c.Create(t.Context(), node); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	node.Status = corev1.NodeStatus{
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(portNum)}},
		Conditions:      []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
	}
	if err := k.c.Status().Update(t.Context(), node); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.c.Delete(context.Background(), node) })
}

// serveLogs answers GET /containerLogs/<namespace>/<pod>/<container> with the pod's
// simulated output, honouring tailLines, timestamps and follow.
func (k *simKubelet) serveLogs(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/containerLogs/"), "/")
	if len(parts) != 3 {
		http.NotFound(w, r)
		return
	}
	var pod corev1.Pod
	if err := k.c.Get(r.Context(), client.ObjectKey{Namespace: parts[0], Name: parts[1]}, &pod); err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	tail := -1
	if v := q.Get("tailLines"); v != "" {
		tail, _ = strconv.Atoi(v)
	}
	born := pod.CreationTimestamp.Time
	line := func(n int) (time.Time, string) {
		if n == 0 {
			return born, "started " + pod.Name
		}
		return born.Add(time.Duration(n) * time.Second), fmt.Sprintf("tick %d", n)
	}
	write := func(n int) {
		at, text := line(n)
		if q.Get("timestamps") == "true" {
			text = at.UTC().Format(time.RFC3339Nano) + " " + text
		}
		fmt.Fprintln(w, text)
	}
	written := int(time.Since(born)/time.Second) + 1 // lines so far
	start := 0
	if tail >= 0 {
		start = max(0, written-tail)
	}
	for n := start; n < written; n++ {
		write(n)
	}
	if q.Get("follow") != "true" {
		return
	}
	flusher, _ := w.(http.Flusher)
	for n := written; ; n++ {
		if flusher != nil {
			flusher.Flush()
		}
		at, _ := line(n)
		select {
		case <-r.Context().Done():
			return
		case <-time.After(time.Until(at)):
			write(n)
		}
	}
}
