package kubernetes_test

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime"
	"github.com/micro/platform/runtime/kubernetes"
)

// TestPodStatusSetByTestBecomesEvents plays the kubelet by hand: the test creates a pod of
// the workload and writes its status through the status subresource, as a kubelet would
// on an image pull failure, a crash loop, an OOM kill or no room on any node; the driver
// must report each as an event and show it in Inspect.
func TestPodStatusSetByTestBecomesEvents(t *testing.T) {
	d := newDriver(t, kubernetes.Options{CrashLoopRestarts: 3})
	c := adminClient(t)
	spec := workload("acme", "hello")
	spec.Resources.MemoryBytes = 64 << 20
	mustStart(t, d, spec)
	dep := mustDeployment(t, c, d, spec)

	newPod := func(t *testing.T, name string) *corev1.Pod {
		t.Helper()
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: dep.Name + "-" + name, Namespace: dep.Namespace, Labels: dep.Spec.Template.Labels},
			Spec:       *dep.Spec.Template.Spec.DeepCopy(),
		}
		if err := c.Create(t.Context(), p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	terminated := func(id string, code int32, reason, msg string) *corev1.ContainerStateTerminated {
		return &corev1.ContainerStateTerminated{ContainerID: id, ExitCode: code, Reason: reason, Message: msg, FinishedAt: metav1.Now()}
	}
	inspect := func(t *testing.T, pod string) runtime.InstanceStatus {
		t.Helper()
		st, err := d.Inspect(t.Context(), spec.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range st.Instances {
			if in.ID == pod {
				return in
			}
		}
		t.Fatalf("no instance %s in %+v", pod, st.Instances)
		return runtime.InstanceStatus{}
	}
	waitEvent := func(t *testing.T, kind runtime.EventKind, pod string) runtime.Event {
		t.Helper()
		waitFor(t, string(kind)+" event for "+pod, func() bool { return len(d.events.find(kind, pod)) > 0 })
		return d.events.find(kind, pod)[0]
	}

	t.Run("image pull failure", func(t *testing.T) {
		p := newPod(t, "pull")
		waiting := corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "` + spec.Artifact + `"`}}
		if err := setContainerID(t.Context(), c, p, 0, "", waiting, nil); err != nil {
			t.Fatal(err)
		}
		e := waitEvent(t, runtime.EventImagePullFailed, p.Name)
		if !strings.Contains(e.Message, spec.Artifact) || !strings.Contains(e.Message, "cannot be pulled") || e.WorkloadID != spec.ID || e.Service != "hello" {
			t.Errorf("event = %+v", e)
		}
		if in := inspect(t, p.Name); in.State != platform.InstanceStarting || !strings.Contains(in.Message, "cannot pull image") {
			t.Errorf("instance = %+v, want starting with the pull failure", in)
		}
	})
	t.Run("crash loop", func(t *testing.T) {
		p := newPod(t, "crash")
		for run := range 3 {
			id := "sim://crash/" + string(rune('0'+run))
			if err := setContainerID(t.Context(), c, p, run, id, corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}, nil); err != nil {
				t.Fatal(err)
			}
			waiting := corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
			if err := setContainerID(t.Context(), c, p, run, "", waiting, terminated(id, 2, "Error", "panic: no config\n")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the exit to be reported", func() bool { return len(d.events.find(runtime.EventExited, p.Name)) == run+1 })
		}
		e := waitEvent(t, runtime.EventCrashLoop, p.Name)
		if !strings.Contains(e.Message, "crash looping") || !strings.Contains(e.Message, "panic: no config") {
			t.Errorf("crash loop event = %+v", e)
		}
		if n := len(d.events.find(runtime.EventCrashLoop, p.Name)); n != 1 {
			t.Errorf("%d crash loop events, want 1", n)
		}
		if exits := d.events.find(runtime.EventExited, p.Name); exits[0].ExitCode != 2 || !strings.Contains(exits[0].Message, "exit code 2") {
			t.Errorf("exit event = %+v", exits[0])
		}
		if in := inspect(t, p.Name); in.State != platform.InstanceCrashLoop || in.ExitCode != 2 || in.Restarts != 2 {
			t.Errorf("instance = %+v, want crashloop, exit 2, 2 restarts", in)
		}
	})
	t.Run("oom killed", func(t *testing.T) {
		p := newPod(t, "oom")
		running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}
		if err := setContainerID(t.Context(), c, p, 1, "sim://oom/1", running, terminated("sim://oom/0", 137, "OOMKilled", "")); err != nil {
			t.Fatal(err)
		}
		e := waitEvent(t, runtime.EventOOMKilled, p.Name)
		if e.ExitCode != 137 || !strings.Contains(e.Message, "memory limit of 64Mi") {
			t.Errorf("oom event = %+v", e)
		}
		if in := inspect(t, p.Name); in.State != platform.InstanceRunning || in.Restarts != 1 || !strings.Contains(in.Message, "OOMKilled") {
			t.Errorf("instance = %+v, want running again after one OOM restart", in)
		}
	})
	t.Run("a pod stopped on deletion did not crash", func(t *testing.T) {
		p := newPod(t, "drained")
		// A finalizer holds the pod while it terminates, as its containers would.
		var cur corev1.Pod
		if err := c.Get(t.Context(), client.ObjectKeyFromObject(p), &cur); err != nil {
			t.Fatal(err)
		}
		cur.Finalizers = []string{"test.micro.mu/hold"}
		if err := c.Update(t.Context(), &cur); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := c.Get(t.Context(), client.ObjectKeyFromObject(p), &cur); err == nil {
				cur.Finalizers = nil
				_ = c.Update(t.Context(), &cur)
			}
		}()
		if err := setContainerID(t.Context(), c, p, 0, "sim://drained/0", corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}, nil); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, runtime.EventStarted, p.Name)
		if err := c.Delete(t.Context(), p); err != nil {
			t.Fatal(err)
		}
		stopped := corev1.ContainerState{Terminated: terminated("sim://drained/0", 0, "Completed", "")}
		if err := setContainerID(t.Context(), c, p, 0, "sim://drained/0", stopped, nil); err != nil {
			t.Fatal(err)
		}
		// A later event of another pod shows the driver has seen the termination.
		other := newPod(t, "after-drain")
		if err := setContainerID(t.Context(), c, other, 0, "sim://after/0", corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}, nil); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, runtime.EventStarted, other.Name)
		if exits := d.events.find(runtime.EventExited, p.Name); len(exits) != 0 {
			t.Errorf("the exit of a pod being deleted was reported: %+v", exits)
		}
	})
	t.Run("unschedulable", func(t *testing.T) {
		p := newPod(t, "pending")
		var cur corev1.Pod
		if err := c.Get(t.Context(), client.ObjectKeyFromObject(p), &cur); err != nil {
			t.Fatal(err)
		}
		cur.Status.Phase = corev1.PodPending
		cur.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
			Message: "0/3 nodes are available: 3 Insufficient memory.", LastTransitionTime: metav1.Now()}}
		if err := c.Status().Update(t.Context(), &cur); err != nil {
			t.Fatal(err)
		}
		e := waitEvent(t, runtime.EventUnschedulable, p.Name)
		if !strings.Contains(e.Message, "Insufficient memory") {
			t.Errorf("unschedulable event = %+v", e)
		}
		if in := inspect(t, p.Name); in.State != platform.InstanceStarting || !strings.Contains(in.Message, "not scheduled") {
			t.Errorf("instance = %+v, want starting, not scheduled", in)
		}
	})
	t.Run("pods refused by the quota", func(t *testing.T) {
		// What the Deployment controller writes when the ReplicaSet cannot create pods.
		var cur appsv1.Deployment
		if err := c.Get(t.Context(), client.ObjectKeyFromObject(dep), &cur); err != nil {
			t.Fatal(err)
		}
		quota := `pods "hello-x" is forbidden: exceeded quota: platform, requested: limits.memory=64Mi, used: limits.memory=8Gi, limited: limits.memory=8Gi`
		cur.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue,
			Reason: "FailedCreate", Message: quota, LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		if err := c.Status().Update(t.Context(), &cur); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "a create_failed event", func() bool { return len(d.events.find(runtime.EventCreateFailed, "")) > 0 })
		e := d.events.find(runtime.EventCreateFailed, "")[0]
		if e.WorkloadID != spec.ID || e.Service != "hello" || e.Namespace != "acme" || !strings.Contains(e.Message, "exceeded quota") {
			t.Errorf("event = %+v", e)
		}
		// The same condition again (another status write) is not news.
		cur.Status.ObservedGeneration++
		if err := c.Status().Update(t.Context(), &cur); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		if n := len(d.events.find(runtime.EventCreateFailed, "")); n != 1 {
			t.Errorf("%d create_failed events, want 1", n)
		}
	})
}
