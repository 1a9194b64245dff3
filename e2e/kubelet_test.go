package e2e

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/micro/platform/runtime/kubernetes"
)

// processKubelet plays, for the test API server that has neither, the Deployment and
// ReplicaSet controllers, the garbage collector and one kubelet whose containers are local
// processes:
//
//   - for every Deployment whose LabelOwner is owner it keeps spec.replicas pods of the
//     current template (pod-template-hash label), created from the template, bound to its
//     Node, owned by the Deployment (a real cluster puts a ReplicaSet in between); it
//     replaces pods of an older template once the new ones are ready (maxUnavailable 0),
//     removes extra pods on scale-down and the pods of deleted Deployments, and writes the
//     Deployment's status (replicas, updated, ready, available, observedGeneration);
//   - for every pod it pulls the image from its registry with go-containerregistry,
//     extracts the entrypoint from the image's single layer and runs it as a process on
//     this machine, with the environment a kubelet gives (env, envFrom Secrets and
//     ConfigMaps, fieldRef metadata.name/namespace/uid and spec.nodeName, HOSTNAME);
//   - it writes the pod's status: Running with Ready conditions while the process runs;
//     after an exit, lastState terminated (exit code, reason, the output's last lines as
//     the message, as FallbackToLogsOnError does) and CrashLoopBackOff while it waits
//     (0.5s doubling to 10s; a kubelet waits 10s doubling to 5m), then runs the process
//     again with restartCount one higher; an image it cannot pull is ErrImagePull;
//   - it completes pod deletion as a kubelet does: SIGTERM to the process group, SIGKILL
//     after the pod's grace period, then deletes the pod object;
//   - it serves the kubelet's containerLogs endpoint (tailLines, timestamps, follow) from
//     the processes' captured stdout and stderr, so the pod log API works through the API
//     server's proxy. One log per pod across restarts; previous=true is not supported.
//
// Not played: scheduling (every pod lands on the one node), resource limits, cgroups,
// user IDs, read-only root filesystems, network policies, probes (the template has none),
// metrics. Every process is killed when the test ends. The environment rules are in
// kubelet_env_test.go, the log endpoint in kubelet_logs_test.go.
type processKubelet struct {
	t     *testing.T
	c     client.WithWatch
	owner string
	node  string
	dir   string

	mu     sync.Mutex
	procs  map[types.UID]*podProcess
	images map[string]*pulledImage
	pullMu sync.Mutex // one pull at a time: the test deploys few images
	wake   chan struct{}
}

// podProcess is the container of one pod.
type podProcess struct {
	namespace, name string
	uid             types.UID
	dir             string
	log             *podLog
	stopOnce        sync.Once
	stop            chan struct{} // closed to stop the process for good
	grace           time.Duration
	done            chan struct{} // closed once no process runs and none will
}

// pulledImage is an image extracted on disk.
type pulledImage struct {
	entrypoint string // absolute path of the binary on this machine
	workdir    string
}

const (
	podTemplateHashLabel = "pod-template-hash"
	kubeletRestartMax    = 10 * time.Second
)

// startProcessKubelet runs a process kubelet on the API server of cfg for the Deployments
// of owner until the test ends, and registers its Node.
func startProcessKubelet(t *testing.T, cfg *rest.Config, owner string) *processKubelet {
	t.Helper()
	c, err := client.NewWithWatch(cfg, client.Options{})
	if err != nil {
		t.Fatalf("process kubelet client: %v", err)
	}
	k := &processKubelet{
		t: t, c: c, owner: owner, node: "process-kubelet-" + owner, dir: t.TempDir(),
		procs: map[types.UID]*podProcess{}, images: map[string]*pulledImage{}, wake: make(chan struct{}, 1),
	}
	k.startNode(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		k.watch(ctx, &appsv1.DeploymentList{}, client.HasLabels{kubernetes.LabelOwner})
	}()
	go func() {
		defer wg.Done()
		k.watch(ctx, &corev1.PodList{}, client.MatchingFields{"spec.nodeName": k.node})
	}()
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if err := k.sync(ctx); err != nil && ctx.Err() == nil {
				t.Logf("process kubelet: %v", err)
			}
			select {
			case <-ctx.Done():
			case <-k.wake:
			case <-time.After(time.Second):
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		k.killAll()
	})
	return k
}

// watch wakes the sync loop on every change of what list selects, re-watching when the
// API server ends the watch.
func (k *processKubelet) watch(ctx context.Context, list client.ObjectList, opts ...client.ListOption) {
	for ctx.Err() == nil {
		w, err := k.c.Watch(ctx, list, opts...)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		for range w.ResultChan() {
			select {
			case k.wake <- struct{}{}:
			default:
			}
		}
		w.Stop()
	}
}

// sync converges the node's pods and the owner's Deployments once.
func (k *processKubelet) sync(ctx context.Context) error {
	var pods corev1.PodList
	if err := k.c.List(ctx, &pods, client.MatchingFields{"spec.nodeName": k.node}); err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	var deploys appsv1.DeploymentList
	if err := k.c.List(ctx, &deploys, client.MatchingLabels{kubernetes.LabelOwner: k.owner}); err != nil {
		return fmt.Errorf("list deployments: %w", err)
	}
	live := map[types.UID]*appsv1.Deployment{}
	for i := range deploys.Items {
		if d := &deploys.Items[i]; d.DeletionTimestamp == nil {
			live[d.UID] = d
		}
	}
	owned := map[types.UID][]corev1.Pod{}
	var errs []error
	for i := range pods.Items {
		p := &pods.Items[i]
		owner := ownerUID(p)
		switch {
		case p.DeletionTimestamp != nil:
			k.terminate(p)
		case live[owner] == nil:
			// The garbage collector's part: the pod's Deployment is gone.
			if err := k.c.Delete(ctx, p); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete orphan pod %s: %w", p.Name, err))
			}
		default:
			owned[owner] = append(owned[owner], *p)
			k.ensureProcess(p)
		}
	}
	for _, d := range live {
		if err := k.syncDeployment(ctx, d, owned[d.UID]); err != nil {
			errs = append(errs, fmt.Errorf("deployment %s/%s: %w", d.Namespace, d.Name, err))
		}
	}
	return errors.Join(errs...)
}

func ownerUID(p *corev1.Pod) types.UID {
	for _, o := range p.OwnerReferences {
		if o.Kind == "Deployment" && o.Controller != nil && *o.Controller {
			return o.UID
		}
	}
	return ""
}

// syncDeployment keeps spec.replicas pods of the current template, replacing older ones
// once the new are ready, and writes the Deployment's status.
func (k *processKubelet) syncDeployment(ctx context.Context, d *appsv1.Deployment, pods []corev1.Pod) error {
	want := 1
	if d.Spec.Replicas != nil {
		want = int(*d.Spec.Replicas)
	}
	hash := templateHash(&d.Spec.Template)
	var current, old []corev1.Pod
	for _, p := range pods {
		if p.Labels[podTemplateHashLabel] == hash {
			current = append(current, p)
		} else {
			old = append(old, p)
		}
	}
	for n := len(current); n < want; n++ {
		if err := k.createPod(ctx, d, hash); err != nil {
			return err
		}
	}
	ready := 0
	for i := range current {
		if podReady(&current[i]) {
			ready++
		}
	}
	var remove []corev1.Pod
	if len(current) > want {
		remove = append(remove, current[want:]...)
	}
	if ready >= want {
		remove = append(remove, old...)
	}
	for i := range remove {
		if err := k.c.Delete(ctx, &remove[i]); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete pod %s: %w", remove[i].Name, err)
		}
	}
	allReady := 0
	for i := range pods {
		if podReady(&pods[i]) {
			allReady++
		}
	}
	st := appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation,
		Replicas:           int32(len(pods)),
		UpdatedReplicas:    int32(len(current)),
		ReadyReplicas:      int32(allReady),
		AvailableReplicas:  int32(allReady),
	}
	st.UnavailableReplicas = int32(max(0, want-ready))
	available := corev1.ConditionFalse
	if ready >= want {
		available = corev1.ConditionTrue
	}
	st.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: available, Reason: "MinimumReplicasAvailable"}}
	if sameDeploymentStatus(&d.Status, &st) {
		return nil
	}
	now := metav1.Now()
	st.Conditions[0].LastUpdateTime, st.Conditions[0].LastTransitionTime = now, now
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cur appsv1.Deployment
		if err := k.c.Get(ctx, client.ObjectKeyFromObject(d), &cur); err != nil {
			return client.IgnoreNotFound(err)
		}
		cur.Status = st
		return k.c.Status().Update(ctx, &cur)
	})
}

func sameDeploymentStatus(a, b *appsv1.DeploymentStatus) bool {
	if a.ObservedGeneration != b.ObservedGeneration || a.Replicas != b.Replicas || a.UpdatedReplicas != b.UpdatedReplicas ||
		a.ReadyReplicas != b.ReadyReplicas || a.AvailableReplicas != b.AvailableReplicas || a.UnavailableReplicas != b.UnavailableReplicas {
		return false
	}
	return len(a.Conditions) == 1 && a.Conditions[0].Status == b.Conditions[0].Status
}

// templateHash stands for the ReplicaSet controller's pod-template-hash.
func templateHash(t *corev1.PodTemplateSpec) string {
	b, _ := json.Marshal(t)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:10]
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// createPod creates one pod of d's template, bound to the node, and starts its process.
func (k *processKubelet) createPod(ctx context.Context, d *appsv1.Deployment, hash string) error {
	var b [3]byte
	_, _ = rand.Read(b[:])
	labels := map[string]string{podTemplateHashLabel: hash}
	for key, v := range d.Spec.Template.Labels {
		labels[key] = v
	}
	yes := true
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: d.Name + "-" + hash + "-" + hex.EncodeToString(b[:])[:5], Namespace: d.Namespace,
			Labels: labels, Annotations: d.Spec.Template.Annotations,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: &yes, BlockOwnerDeletion: &yes,
			}},
		},
		Spec: *d.Spec.Template.Spec.DeepCopy(),
	}
	pod.Spec.NodeName = k.node
	if err := k.c.Create(ctx, pod); err != nil {
		return fmt.Errorf("create pod: %w", err)
	}
	k.ensureProcess(pod)
	return nil
}

// ensureProcess starts the pod's process unless it has one.
func (k *processKubelet) ensureProcess(pod *corev1.Pod) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.procs[pod.UID]; ok || pod.DeletionTimestamp != nil {
		return
	}
	dir := filepath.Join(k.dir, "pods", string(pod.UID))
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		k.t.Logf("process kubelet: %v", err)
		return
	}
	p := &podProcess{
		namespace: pod.Namespace, name: pod.Name, uid: pod.UID, dir: dir,
		log: &podLog{path: filepath.Join(dir, "log")}, stop: make(chan struct{}), done: make(chan struct{}),
		grace: 30 * time.Second,
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		p.grace = time.Duration(*g) * time.Second
	}
	k.procs[pod.UID] = p
	go k.run(p, pod.DeepCopy())
}

// terminate stops the process of a pod being deleted, within the deletion's grace, then
// deletes the pod object.
func (k *processKubelet) terminate(pod *corev1.Pod) {
	k.mu.Lock()
	p, ok := k.procs[pod.UID]
	k.mu.Unlock()
	if !ok {
		k.finishDelete(pod.Namespace, pod.Name, pod.UID)
		return
	}
	p.stopOnce.Do(func() {
		if g := pod.DeletionGracePeriodSeconds; g != nil {
			p.grace = time.Duration(*g) * time.Second
		}
		close(p.stop)
		go func() {
			<-p.done
			k.finishDelete(pod.Namespace, pod.Name, pod.UID)
		}()
	})
}

// finishDelete removes a terminated pod's object, as a kubelet does once its containers
// stopped.
func (k *processKubelet) finishDelete(namespace, podName string, uid types.UID) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: podName}}
	err := k.c.Delete(ctx, pod, client.GracePeriodSeconds(0), client.Preconditions{UID: &uid})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		k.t.Logf("process kubelet: delete pod %s/%s: %v", namespace, podName, err)
	}
	k.mu.Lock()
	delete(k.procs, uid)
	k.mu.Unlock()
}

// killAll kills every process at once, at the end of the test.
func (k *processKubelet) killAll() {
	k.mu.Lock()
	procs := make([]*podProcess, 0, len(k.procs))
	for _, p := range k.procs {
		procs = append(procs, p)
	}
	k.mu.Unlock()
	for _, p := range procs {
		p.stopOnce.Do(func() {
			p.grace = 0
			close(p.stop)
		})
	}
	for _, p := range procs {
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			k.t.Errorf("process kubelet: pod %s/%s did not stop", p.namespace, p.name)
		}
	}
}

// run is the pod's container: pull, then run the process again after each exit until the
// pod stops.
func (k *processKubelet) run(p *podProcess, pod *corev1.Pod) {
	defer close(p.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-p.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	c := pod.Spec.Containers[0]
	backoff := 500 * time.Millisecond
	wait := func() bool {
		select {
		case <-p.stop:
			return false
		case <-time.After(backoff):
			backoff = min(2*backoff, kubeletRestartMax)
			return true
		}
	}
	var img *pulledImage
	for {
		var err error
		if img, err = k.pull(ctx, c.Image); err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		k.setStatus(ctx, pod, 0, "", corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: err.Error()}}, nil)
		if !wait() {
			return
		}
	}
	backoff = 500 * time.Millisecond
	var last *corev1.ContainerStateTerminated
	for run := 0; ; run++ {
		env, err := k.environ(ctx, pod, &c, p)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			k.setStatus(ctx, pod, run, "", corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: err.Error()}}, last)
			if !wait() {
				return
			}
			run--
			continue
		}
		id := fmt.Sprintf("process://%s/%d", pod.Name, run)
		started := time.Now()
		code, reason, stopped := k.runOnce(ctx, p, pod, img, env, run, id, last)
		if stopped {
			return
		}
		if time.Since(started) > time.Minute {
			backoff = 500 * time.Millisecond
		}
		last = &corev1.ContainerStateTerminated{
			ExitCode: int32(code), Reason: reason, ContainerID: id,
			StartedAt: metav1.NewTime(started), FinishedAt: metav1.Now(),
		}
		if code != 0 {
			last.Message = p.log.tail(2048)
		}
		waiting := corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", backoff, c.Name, pod.Name)}}
		k.setStatus(ctx, pod, run, "", waiting, last)
		if !wait() {
			return
		}
	}
}

// runOnce runs the container's process once and reports how it ended; stopped when the
// pod stopped it.
func (k *processKubelet) runOnce(ctx context.Context, p *podProcess, pod *corev1.Pod, img *pulledImage, env []string, restarts int, id string, last *corev1.ContainerStateTerminated) (code int, reason string, stopped bool) {
	cmd := exec.Command(img.entrypoint)
	cmd.Dir = img.workdir
	cmd.Env = env
	out := p.log.writer()
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(out, "process kubelet: start %s: %v\n", img.entrypoint, err)
		return 128, "StartError", false
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	k.setStatus(ctx, pod, restarts, id, corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}, last)
	select {
	case <-exited:
	case <-p.stop:
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(p.grace):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		// Children the service left behind go with it, as with a container.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return 0, "", true
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled():
		return 128 + int(ws.Signal()), "Error", false
	case ws.ExitStatus() == 0:
		return 0, "Completed", false
	default:
		return ws.ExitStatus(), "Error", false
	}
}

// setStatus writes the pod's status with its one container in state.
func (k *processKubelet) setStatus(ctx context.Context, pod *corev1.Pod, restarts int, id string, state corev1.ContainerState, last *corev1.ContainerStateTerminated) {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var p corev1.Pod
		if err := k.c.Get(ctx, client.ObjectKeyFromObject(pod), &p); err != nil {
			return err
		}
		now := metav1.Now()
		running := state.Running != nil
		cond := func(t corev1.PodConditionType, ok bool) corev1.PodCondition {
			s := corev1.ConditionFalse
			if ok {
				s = corev1.ConditionTrue
			}
			return corev1.PodCondition{Type: t, Status: s, LastTransitionTime: now}
		}
		p.Status.Phase = corev1.PodRunning
		if !running && last == nil {
			p.Status.Phase = corev1.PodPending
		}
		if p.Status.StartTime == nil {
			p.Status.StartTime = &now
		}
		p.Status.HostIP, p.Status.PodIP = "127.0.0.1", "127.0.0.1"
		p.Status.Conditions = []corev1.PodCondition{
			cond(corev1.PodScheduled, true), cond(corev1.PodInitialized, true),
			cond(corev1.ContainersReady, running), cond(corev1.PodReady, running),
		}
		c := p.Spec.Containers[0]
		cs := corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, ContainerID: id,
			State: state, Ready: running, RestartCount: int32(restarts), Started: &running,
		}
		if last != nil {
			cs.LastTerminationState.Terminated = last
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{cs}
		return k.c.Status().Update(ctx, &p)
	})
	if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
		k.t.Logf("process kubelet: status of pod %s: %v", pod.Name, err)
	}
}

// pull fetches image and extracts its entrypoint from its single layer, once per image.
func (k *processKubelet) pull(ctx context.Context, image string) (*pulledImage, error) {
	k.pullMu.Lock()
	defer k.pullMu.Unlock()
	k.mu.Lock()
	img, ok := k.images[image]
	k.mu.Unlock()
	if ok {
		return img, nil
	}
	ref, err := name.ParseReference(image)
	if err != nil {
		return nil, fmt.Errorf("InvalidImageName: %w", err)
	}
	ri, err := remote.Image(ref, remote.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", image, err)
	}
	cfg, err := ri.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config of %s: %w", image, err)
	}
	if len(cfg.Config.Entrypoint) != 1 {
		return nil, fmt.Errorf("image %s: entrypoint %q, want one path", image, cfg.Config.Entrypoint)
	}
	layers, err := ri.Layers()
	if err != nil {
		return nil, err
	}
	if len(layers) != 1 {
		return nil, fmt.Errorf("image %s has %d layers, want 1", image, len(layers))
	}
	digest, err := ri.Digest()
	if err != nil {
		return nil, err
	}
	root := filepath.Join(k.dir, "images", digest.Hex)
	rc, err := layers[0].Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	entry := strings.TrimPrefix(path.Clean(cfg.Config.Entrypoint[0]), "/")
	if err := extractFile(rc, entry, filepath.Join(root, entry)); err != nil {
		return nil, fmt.Errorf("image %s: %w", image, err)
	}
	img = &pulledImage{entrypoint: filepath.Join(root, entry), workdir: filepath.Join(root, cfg.Config.WorkingDir)}
	if err := os.MkdirAll(img.workdir, 0o755); err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.images[image] = img
	k.mu.Unlock()
	return img, nil
}

// extractFile writes the regular file entry of the tar stream r to dst, executable.
func extractFile(r io.Reader, entry, dst string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return fmt.Errorf("no %s in the layer", entry)
		}
		if err != nil {
			return fmt.Errorf("read layer: %w", err)
		}
		if path.Clean(strings.TrimPrefix(h.Name, "./")) != entry || h.Typeflag != tar.TypeReg {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, tr); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
}
