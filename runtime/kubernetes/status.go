package kubernetes

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime"
)

// Container waiting reasons the kubelet reports when it cannot get the image.
var imagePullReasons = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true, "ErrImageNeverPull": true,
}

// instanceStatus maps a pod to an instance:
//
//	unscheduled, creating, pulling   → starting (Message says why it waits)
//	container running                → running
//	waiting after an exit            → backoff
//	waiting in CrashLoopBackOff      → backoff, crashloop from the crashLoop-th exit on
//	container terminated, pod done   → exited
//
// The kubelet says CrashLoopBackOff from the first restart delay on; the platform's
// crashloop means restarted too often, as with the local driver. ExitCode and Message
// come from the last termination, Restarts from the kubelet's count.
func instanceStatus(p *corev1.Pod, workloadID string, crashLoop int) runtime.InstanceStatus {
	in := runtime.InstanceStatus{ID: p.Name, WorkloadID: workloadID, State: platform.InstanceStarting, StartedAt: p.CreationTimestamp.Time}
	if p.Status.StartTime != nil {
		in.StartedAt = p.Status.StartTime.Time
	}
	if c := condition(p, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse {
		in.Message = "not scheduled: " + c.Message
	}
	cs := containerStatus(p)
	if cs == nil {
		return in
	}
	in.Restarts = int(cs.RestartCount)
	if t := cs.LastTerminationState.Terminated; t != nil {
		in.ExitCode, in.Message = int(t.ExitCode), exitMessage(t)
	}
	switch s := cs.State; {
	case s.Running != nil:
		in.State, in.StartedAt = platform.InstanceRunning, s.Running.StartedAt.Time
	case s.Terminated != nil:
		in.State, in.ExitCode, in.Message = platform.InstanceExited, int(s.Terminated.ExitCode), exitMessage(s.Terminated)
	case s.Waiting != nil:
		w := s.Waiting
		switch {
		case w.Reason == "CrashLoopBackOff" && crashLooping(cs, crashLoop):
			in.State = platform.InstanceCrashLoop
			in.Message = fmt.Sprintf("crash looping after %d restarts; last exit: %s", cs.RestartCount, in.Message)
		case w.Reason == "CrashLoopBackOff":
			in.State = platform.InstanceBackoff
		case imagePullReasons[w.Reason]:
			in.Message = fmt.Sprintf("cannot pull image %s: %s", cs.Image, w.Message)
		case cs.LastTerminationState.Terminated != nil:
			in.State = platform.InstanceBackoff
		case w.Message != "":
			in.Message = w.Reason + ": " + w.Message
		}
	}
	return in
}

// crashLooping reports whether a container waiting in CrashLoopBackOff exited crashLoop
// times or more.
func crashLooping(cs *corev1.ContainerStatus, crashLoop int) bool {
	return int(cs.RestartCount)+1 >= crashLoop
}

func containerStatus(p *corev1.Pod) *corev1.ContainerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == containerName {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

func condition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// exitMessage describes a termination: its code, reason and the last line of the
// container's termination message (its last log lines with FallbackToLogsOnError).
func exitMessage(t *corev1.ContainerStateTerminated) string {
	msg := fmt.Sprintf("exit code %d", t.ExitCode)
	if t.Reason != "" {
		msg += " (" + t.Reason + ")"
	}
	if last := lastLine(t.Message); last != "" {
		msg += ": " + last
	}
	return msg
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n ")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// podTrack is what the driver last saw of a pod, to report each change once.
type podTrack struct {
	workload, namespace, service string
	running                      string // container ID of the running container
	exit                         string // container ID and end of the last termination reported
	waiting                      string // reason family: "crashloop", "image", or ""
	unschedulable                bool
}

// observePod records a pod and, with report, emits the events of what changed since it
// was last seen. Pods seen in the initial listing are recorded silently: they ran before
// this driver started.
func (d *Driver) observePod(p *corev1.Pod, report bool) {
	ns, id := p.Labels[LabelNamespace], p.Labels[LabelRelease]
	if ns == "" || id == "" {
		return
	}
	d.mu.Lock()
	tr, ok := d.pods[p.UID]
	if !ok {
		tr = &podTrack{workload: id, namespace: ns, service: p.Labels[LabelService]}
		d.pods[p.UID] = tr
	}
	var events []runtime.Event
	emit := func(kind runtime.EventKind, code int, format string, args ...any) {
		events = append(events, runtime.Event{
			Kind: kind, WorkloadID: id, Namespace: ns, Service: tr.service, InstanceID: p.Name,
			ExitCode: code, Message: fmt.Sprintf(format, args...), Time: d.opts.Clock.Now(),
		})
	}
	if c := condition(p, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
		if !tr.unschedulable {
			emit(runtime.EventUnschedulable, 0, "instance %s cannot be scheduled: %s", p.Name, c.Message)
		}
		tr.unschedulable = true
	} else {
		tr.unschedulable = false
	}
	if cs := containerStatus(p); cs != nil {
		d.observeContainer(p, cs, tr, emit)
	}
	d.mu.Unlock()
	if report && d.opts.OnEvent != nil {
		for _, e := range events {
			d.opts.OnEvent(e)
		}
	}
}

// observeContainer emits the container's exits, starts and waits in the order they
// happened. Called with d.mu held.
func (d *Driver) observeContainer(p *corev1.Pod, cs *corev1.ContainerStatus, tr *podTrack, emit func(runtime.EventKind, int, string, ...any)) {
	// A termination is reported once, whether the kubelet shows it as the current state
	// or only as the last one; container IDs tell runs apart (times have seconds only).
	exit := cs.State.Terminated
	if exit == nil {
		exit = cs.LastTerminationState.Terminated
	}
	if exit != nil && terminationKey(exit) == tr.exit {
		exit = nil
	}
	if exit != nil {
		tr.exit = terminationKey(exit)
		if p.DeletionTimestamp != nil {
			// A pod being deleted (a release drained, scaled down or deleted) was stopped
			// by the platform or the Deployment controller: its exit is no crash.
			exit = nil
		}
	}
	if exit != nil {
		if exit.Reason == "OOMKilled" {
			limit := ""
			for _, c := range p.Spec.Containers {
				if m, ok := c.Resources.Limits[corev1.ResourceMemory]; ok && c.Name == containerName {
					limit = " of " + m.String()
				}
			}
			emit(runtime.EventOOMKilled, int(exit.ExitCode), "instance %s was killed for exceeding its memory limit%s", p.Name, limit)
		} else {
			emit(runtime.EventExited, int(exit.ExitCode), "instance %s exited: %s", p.Name, exitMessage(exit))
		}
	}
	if r := cs.State.Running; r != nil && cs.ContainerID != tr.running {
		tr.running = cs.ContainerID
		emit(runtime.EventStarted, 0, "instance %s started", p.Name)
	}
	waiting := ""
	if w := cs.State.Waiting; w != nil {
		switch {
		case w.Reason == "CrashLoopBackOff" && crashLooping(cs, d.opts.CrashLoopRestarts):
			waiting = "crashloop"
			if tr.waiting != waiting {
				last := "unknown"
				if t := cs.LastTerminationState.Terminated; t != nil {
					last = exitMessage(t)
				}
				emit(runtime.EventCrashLoop, 0, "instance %s is crash looping after %d restarts; last exit: %s", p.Name, cs.RestartCount, last)
			}
		case imagePullReasons[w.Reason]:
			waiting = "image"
			if tr.waiting != waiting {
				emit(runtime.EventImagePullFailed, 0, "instance %s cannot start: image %s cannot be pulled (%s): %s", p.Name, cs.Image, w.Reason, w.Message)
			}
		}
	}
	tr.waiting = waiting
}

// observeDeployment reports, once per distinct message, that the cluster refuses to
// create the workload's pods (the ReplicaFailure condition: over quota, refused by
// admission), which no pod status would show.
func (d *Driver) observeDeployment(dep *appsv1.Deployment, report bool) {
	msg := ""
	for _, c := range dep.Status.Conditions {
		if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
			msg = c.Message
		}
	}
	d.mu.Lock()
	last, seen := d.failures[dep.UID]
	if msg == "" {
		delete(d.failures, dep.UID)
	} else {
		d.failures[dep.UID] = msg
	}
	d.mu.Unlock()
	if msg == "" || (seen && last == msg) || !report || d.opts.OnEvent == nil {
		return
	}
	d.opts.OnEvent(runtime.Event{
		Kind: runtime.EventCreateFailed, WorkloadID: dep.Labels[LabelRelease], Namespace: dep.Labels[LabelNamespace],
		Service: dep.Labels[LabelService], Time: d.opts.Clock.Now(),
		Message: fmt.Sprintf("instances of %s cannot be created: %s", dep.Labels[LabelService], msg),
	})
}

func terminationKey(t *corev1.ContainerStateTerminated) string {
	return t.ContainerID + "@" + t.FinishedAt.String()
}

// podGone reports a deleted pod as stopped and forgets it.
func (d *Driver) podGone(p *corev1.Pod) {
	d.mu.Lock()
	tr, ok := d.pods[p.UID]
	delete(d.pods, p.UID)
	d.mu.Unlock()
	if !ok || d.opts.OnEvent == nil {
		return
	}
	d.opts.OnEvent(runtime.Event{
		Kind: runtime.EventStopped, WorkloadID: tr.workload, Namespace: tr.namespace, Service: tr.service,
		InstanceID: p.Name, Message: fmt.Sprintf("instance %s stopped", p.Name), Time: d.opts.Clock.Now(),
	})
}
