// Package kubernetes is the runtime driver that runs every workload as a Deployment on a
// Kubernetes cluster.
//
// # Mapping
//
// Each platform namespace ns becomes the Kubernetes namespace Options.NamespacePrefix+ns
// with a Secret of the namespace's mesh credentials (WorkloadSpec.NamespaceEnv), one of its
// image pull credential (Options.PullCredential, when it gives one), a
// ResourceQuota and a LimitRange (Options.Quota, Options.DefaultResources), a NetworkPolicy
// admitting ingress only from pods of the same namespace and the platform's gateway
// (Options.Gateway) and egress only to DNS (port 53 UDP/TCP, any address: cluster DNS
// and node-local caches), the platform's mesh (Options.Mesh), the same namespace and the
// internet outside Options.EgressExcept (no cloud metadata service, no Kubernetes API, no
// other cluster or VPC service). Each
// service gets a headless Service; each workload (one release) a Deployment named after the
// service and a digest of the release ID, whose pods take the release's Env from a
// per-workload Secret and the mesh credentials from the namespace's (envFrom), get
// MICRO_SERVER_ID from their pod name, and run as non-root on a read-only root filesystem
// with no capabilities, no privilege escalation, the RuntimeDefault seccomp profile and no
// service-account token (as the namespace's default account, which has no RBAC). The
// namespace enforces the restricted Pod Security Standard. An instance is a pod; its ID is
// the pod name.
//
// # Reconciliation
//
// Every object carries the owner label (LabelOwner=Options.Owner) and is written with
// server-side apply under field manager "platform". Reads go through a controller-runtime
// cache restricted to owned objects, and an object is only applied when the cached copy
// lacks a field of the desired one or has a key too many in a Secret's data, a quota's
// limits or a network policy's spec (labels and annotations may keep others' keys), so a Start that changes nothing makes no API request at
// all. Watches on owned objects restore any that are edited or deleted by hand. Deletes
// name objects found in that cache with a UID precondition, or select by owner and release
// labels, so foreign objects are never touched. The driver keeps no local state: the
// Deployment's AnnotationSpec and the Secrets hold everything Recover needs to re-adopt
// workloads after the platform restarts.
//
// The driver needs no more rights than it uses: get, list, watch, create and patch (every
// write is a server-side apply) on namespaces, the same and delete on secrets, services,
// resourcequotas, limitranges, deployments and networkpolicies, and get, list and watch on
// pods and pods/log. It never updates, never deletes a namespace, pods or ReplicaSets: the
// cluster's garbage collector deletes those when their Deployment goes.
//
// When the last workload of a platform namespace stops, the namespace's objects (Secret,
// quota, limits, policy) are deleted but the Kubernetes namespace itself is kept, since
// deleting it would delete foreign objects in it too.
//
// # Status and events
//
// Pod phase, conditions and container statuses become InstanceStatus and driver events:
// started, exited (with the exit code and the container's termination message), crashloop
// (CrashLoopBackOff after Options.CrashLoopRestarts exits), image_pull_failed,
// unschedulable and oom_killed; a Deployment's ReplicaFailure condition (pods refused,
// e.g. over quota) becomes create_failed. Logs come from the pod log API (stdout and
// stderr are one stream there, reported as stdout); Stats from the metrics.k8s.io API,
// EUNAVAILABLE on a cluster without metrics-server. The driver does not implement
// runtime.Restarter: a pod cannot be restarted under the same name.
package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime"
)

// FieldManager is the server-side apply field manager of everything the driver writes.
const FieldManager = "platform"

// Options configure a Driver. Zero fields take the defaults shown.
type Options struct {
	// Config reaches the cluster. Required; see LoadConfig. Without a rate limit of its own
	// the driver allows 100 requests/s, in bursts of 200.
	Config *rest.Config
	// Owner is the value of LabelOwner on everything this platform creates ("platform");
	// platforms sharing a cluster need distinct owners and namespace prefixes.
	Owner string
	// NamespacePrefix prefixes the Kubernetes namespace of each platform namespace
	// ("mp-").
	NamespacePrefix string
	// Quota is each namespace's ResourceQuota.
	Quota Quota
	// DefaultResources are an instance's requests and limits when its spec has none, and
	// each namespace's LimitRange defaults (100m CPU, 128Mi memory).
	DefaultResources runtime.Resources
	// Gateway selects the platform's gateway pods, the only pods outside a namespace its
	// NetworkPolicy admits (namespace "micro-platform", app.kubernetes.io/name=platform and
	// app.kubernetes.io/component=control-plane, as deploy/kubernetes labels them).
	Gateway Gateway
	// Mesh selects the platform's mesh (NATS) pods, which instances may reach on
	// Mesh.Port (namespace "micro-platform", app.kubernetes.io/name=platform-mesh and
	// app.kubernetes.io/component=mesh, port 4222, as deploy/kubernetes has them). When
	// NATS is embedded in the control plane, select the control-plane pods and the
	// embedded server's port instead: nothing else lets instances reach it.
	Mesh Mesh
	// EgressExcept are the address ranges instances may not reach although the rest of
	// the internet is open to them (DefaultEgressExcept; empty, not nil: none). DNS (port
	// 53), the mesh and the instance's own namespace are allowed whatever their addresses. The
	// cluster's pod and service ranges and the nodes' must lie within these, or instances
	// could reach other namespaces, the Kubernetes API and the nodes by address.
	EgressExcept []string
	// PullCredential, when set, returns the registry credential the pods of platform
	// namespace ns pull their images with: the driver keeps it in that namespace's Secret
	// platform-pull (type kubernetes.io/dockerconfigjson, for registryHost only) and names
	// it in every pod's imagePullSecrets. ok false, or no PullCredential: no pull secret,
	// the nodes pull with their own credentials.
	PullCredential func(ns string) (registryHost, username, password string, ok bool)
	// StopGrace is the grace of Stop when called with 0 and the pods'
	// terminationGracePeriodSeconds (10s).
	StopGrace time.Duration
	// CrashLoopRestarts is how many exits in a row put an instance in crashloop (3); the
	// kubelet's CrashLoopBackOff before that is reported as backoff. Fewer than the local
	// driver's 5: the kubelet's own backoff (10 s, doubling) makes a fifth exit come
	// about 80 s after the first, longer than most rollouts may take; a third comes after
	// about 20 s.
	CrashLoopRestarts int
	// OnEvent receives instance events; it must not block for long.
	OnEvent runtime.EventFunc
	// Clock stamps events; the system clock by default.
	Clock platform.Clock
	// Logger reports watch and restore problems; discarded by default.
	Logger *slog.Logger
	// SyncTimeout bounds Recover's wait for the cache (2m).
	SyncTimeout time.Duration
}

// Quota is the ResourceQuota of one namespace. Zero fields take the defaults shown.
type Quota struct {
	CPUMillis   int64 // requests and limits of all pods (4000)
	MemoryBytes int64 // requests and limits of all pods (8Gi)
	Pods        int   // 50
	Secrets     int   // 100
}

// Gateway selects the platform's gateway pods.
type Gateway struct {
	Namespace string
	Labels    map[string]string
}

// Mesh selects the platform's mesh pods and their client port.
type Mesh struct {
	Namespace string
	Labels    map[string]string
	Port      int32
	// Addresses are CIDRs outside the cluster where the mesh also listens on Port, such
	// as the host of a region agent that runs beside the cluster rather than in it:
	// instances may connect there although those addresses are private.
	Addresses []string
}

// DefaultGateway selects the control-plane pods as deploy/kubernetes labels them:
// namespace "micro-platform", app.kubernetes.io/name=platform and
// app.kubernetes.io/component=control-plane.
func DefaultGateway() Gateway {
	return Gateway{
		Namespace: "micro-platform",
		Labels:    map[string]string{"app.kubernetes.io/name": "platform", "app.kubernetes.io/component": "control-plane"},
	}
}

// DefaultMesh selects the mesh pods as deploy/kubernetes has them: namespace
// "micro-platform", app.kubernetes.io/name=platform-mesh and
// app.kubernetes.io/component=mesh, client port 4222.
func DefaultMesh() Mesh {
	return Mesh{
		Namespace: "micro-platform",
		Labels:    map[string]string{"app.kubernetes.io/name": "platform-mesh", "app.kubernetes.io/component": "mesh"},
		Port:      4222,
	}
}

// DefaultEgressExcept are the ranges instances may not reach by default: link-local (the
// cloud metadata service at 169.254.169.254 hands out the node's credentials), the private
// and carrier-grade NAT ranges where clusters put pods, services, nodes and the VPC's
// other services, and their IPv6 counterparts (unique local and link-local).
var DefaultEgressExcept = []string{
	"169.254.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
	"fc00::/7", "fe80::/10",
}

func (o *Options) setDefaults() {
	if o.Owner == "" {
		o.Owner = "platform"
	}
	if o.NamespacePrefix == "" {
		o.NamespacePrefix = "mp-"
	}
	if o.Quota.CPUMillis <= 0 {
		o.Quota.CPUMillis = 4000
	}
	if o.Quota.MemoryBytes <= 0 {
		o.Quota.MemoryBytes = 8 << 30
	}
	if o.Quota.Pods <= 0 {
		o.Quota.Pods = 50
	}
	if o.Quota.Secrets <= 0 {
		o.Quota.Secrets = 100
	}
	if o.DefaultResources.CPUMillis <= 0 {
		o.DefaultResources.CPUMillis = 100
	}
	if o.DefaultResources.MemoryBytes <= 0 {
		o.DefaultResources.MemoryBytes = 128 << 20
	}
	gw, mesh := DefaultGateway(), DefaultMesh()
	if o.Gateway.Namespace == "" {
		o.Gateway.Namespace = gw.Namespace
	}
	if len(o.Gateway.Labels) == 0 {
		o.Gateway.Labels = gw.Labels
	}
	if o.Mesh.Namespace == "" {
		o.Mesh.Namespace = mesh.Namespace
	}
	if len(o.Mesh.Labels) == 0 {
		o.Mesh.Labels = mesh.Labels
	}
	if o.Mesh.Port <= 0 {
		o.Mesh.Port = mesh.Port
	}
	if o.EgressExcept == nil {
		o.EgressExcept = slices.Clone(DefaultEgressExcept)
	}
	if o.StopGrace <= 0 {
		o.StopGrace = 10 * time.Second
	}
	if o.CrashLoopRestarts <= 0 {
		o.CrashLoopRestarts = 3
	}
	if o.Clock == nil {
		o.Clock = platform.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SyncTimeout <= 0 {
		o.SyncTimeout = 2 * time.Minute
	}
}

// LoadConfig returns the client configuration of kubeconfig, or the in-cluster one (the
// pod's service account) when kubeconfig is "".
func LoadConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, platform.Errorf(platform.EINVALID, "kubernetes: not running in a cluster and no kubeconfig given: %v", err).
				WithHint("pass --kubeconfig or set runtime.kubeconfig in the config file")
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, platform.Errorf(platform.EINVALID, "kubernetes: load kubeconfig %s: %v", kubeconfig, err)
	}
	return cfg, nil
}

// Driver runs workloads as Deployments. Create it with New, call Recover before anything
// else and Close when done.
type Driver struct {
	opts   Options
	client client.Client                // writes, and reads the cache cannot serve
	cache  cache.Cache                  // owned objects only
	core   corev1client.CoreV1Interface // pod logs and the metrics API

	ctx    context.Context // informers and the restore worker; ended by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	queue  workqueue.TypedRateLimitingInterface[string] // platform namespaces to restore

	mu        sync.Mutex
	workloads map[string]*runtime.WorkloadSpec // desired, by ID
	nsLocks   map[string]*sync.Mutex
	pods      map[types.UID]*podTrack
	failures  map[types.UID]string // a Deployment's last ReplicaFailure message reported
	watching  bool                 // informers and workers started
}

var _ runtime.Driver = (*Driver)(nil)

// New returns a driver for the cluster of opts.Config. It contacts nothing until Recover.
func New(opts Options) (*Driver, error) {
	if opts.Config == nil {
		return nil, platform.Errorf(platform.EINVALID, "kubernetes driver: Config is required")
	}
	opts.setDefaults()
	opts.Config = rest.CopyConfig(opts.Config)
	if opts.Config.QPS == 0 && opts.Config.RateLimiter == nil {
		// client-go's default (5/s, bursts of 10) would take minutes to deploy a few
		// hundred services from scratch.
		opts.Config.QPS, opts.Config.Burst = 100, 200
	}
	for _, cidr := range opts.EgressExcept {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			return nil, platform.Errorf(platform.EINVALID, "kubernetes driver: egress exception %q: %v", cidr, err).
				WithHint("give address ranges in CIDR notation, e.g. 10.0.0.0/8")
		}
	}
	for _, cidr := range opts.Mesh.Addresses {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			return nil, platform.Errorf(platform.EINVALID, "kubernetes driver: mesh address %q: %v", cidr, err).
				WithHint("give the mesh's addresses outside the cluster in CIDR notation, e.g. 10.250.0.1/32")
		}
	}
	if errs := validation.IsValidLabelValue(opts.Owner); len(errs) > 0 {
		return nil, platform.Errorf(platform.EINVALID, "kubernetes driver: owner %q: %v", opts.Owner, errs)
	}
	scheme := clientgoscheme.Scheme
	c, err := client.New(opts.Config, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("kubernetes driver: %w", err)
	}
	owned := labels.SelectorFromSet(labels.Set{LabelOwner: opts.Owner})
	ca, err := cache.New(opts.Config, cache.Options{Scheme: scheme, Mapper: c.RESTMapper(), DefaultLabelSelector: owned})
	if err != nil {
		return nil, fmt.Errorf("kubernetes driver: %w", err)
	}
	// The core group's typed client only, not the whole clientset
	// (k8s.io/client-go/kubernetes), which would link every API group's client and apply
	// configurations: a hundred packages, docs/coldstart.md.
	core, err := corev1client.NewForConfig(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("kubernetes driver: %w", err)
	}
	d := &Driver{
		opts: opts, client: c, cache: ca, core: core,
		queue:     workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		workloads: map[string]*runtime.WorkloadSpec{},
		nsLocks:   map[string]*sync.Mutex{},
		pods:      map[types.UID]*podTrack{},
		failures:  map[types.UID]string{},
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d, nil
}

// Name returns "kubernetes".
func (d *Driver) Name() string { return "kubernetes" }

// Close stops the watches; everything on the cluster keeps running and a new Driver
// re-adopts it in Recover.
func (d *Driver) Close() error {
	d.cancel()
	d.queue.ShutDown()
	d.wg.Wait()
	return nil
}

// Recover starts the watches, waits for the cache and re-adopts every workload whose
// Deployment carries this platform's owner label. An owned Deployment without a readable
// AnnotationSpec cannot be adopted and is deleted; any other failure to read a workload
// (its Secrets) leaves it running and returns EUNAVAILABLE, to be retried. A second call
// only re-reads the cluster.
func (d *Driver) Recover(ctx context.Context) error {
	d.mu.Lock()
	first := !d.watching
	d.watching = true
	d.mu.Unlock()
	if first {
		if err := d.startWatches(ctx); err != nil {
			return err
		}
	}
	if err := d.waitSynced(ctx); err != nil {
		return err
	}
	var deploys appsv1.DeploymentList
	if err := d.cache.List(ctx, &deploys); err != nil {
		return fmt.Errorf("kubernetes driver: list deployments: %w", err)
	}
	for i := range deploys.Items {
		dep := &deploys.Items[i]
		if !strings.HasPrefix(dep.Namespace, d.opts.NamespacePrefix) {
			continue // the owner's, under another prefix: not this driver's to judge
		}
		spec, err := d.specOf(ctx, dep)
		var bad *unadoptableError
		switch {
		case errors.As(err, &bad):
			d.opts.Logger.Warn("kubernetes driver: deleting a deployment it cannot adopt", "namespace", dep.Namespace, "name", dep.Name, "err", err)
			if err := d.deleteWorkloadObjects(ctx, dep.Namespace, dep.Labels[LabelRelease]); err != nil {
				return err
			}
			continue
		case err != nil:
			// Anything else (a Secret that cannot be read now) may pass: the workload keeps
			// running and Recover is to be called again.
			return platform.Errorf(platform.EUNAVAILABLE, "kubernetes driver: adopt deployment %s/%s: %v", dep.Namespace, dep.Name, err).
				WithHint("the workload is left running; retry once the cluster answers")
		}
		d.mu.Lock()
		if _, ok := d.workloads[spec.ID]; !ok {
			d.workloads[spec.ID] = spec
		}
		d.mu.Unlock()
	}
	return nil
}

// unadoptableError is specOf's error for a Deployment whose AnnotationSpec is missing,
// unreadable or not its own: no later read can make it adoptable.
type unadoptableError struct{ msg string }

func (e *unadoptableError) Error() string { return e.msg }

// specOf rebuilds the spec of an owned Deployment from its annotation and Secrets. An
// unusable annotation is an *unadoptableError; other errors (reading the Secrets) may
// pass.
func (d *Driver) specOf(ctx context.Context, dep *appsv1.Deployment) (*runtime.WorkloadSpec, error) {
	var spec runtime.WorkloadSpec
	if err := json.Unmarshal([]byte(dep.Annotations[AnnotationSpec]), &spec); err != nil {
		return nil, &unadoptableError{fmt.Sprintf("annotation %s: %v", AnnotationSpec, err)}
	}
	if spec.ID == "" || spec.ID != dep.Labels[LabelRelease] || d.namespaceName(spec.Namespace) != dep.Namespace {
		return nil, &unadoptableError{fmt.Sprintf("annotation %s does not match the deployment", AnnotationSpec)}
	}
	var err error
	if spec.Env, err = d.secretEnv(ctx, dep.Namespace, envSecretName(&spec)); err != nil {
		return nil, err
	}
	if spec.NamespaceEnv, err = d.secretEnv(ctx, dep.Namespace, meshSecretName); err != nil {
		return nil, err
	}
	return &spec, nil
}

func (d *Driver) secretEnv(ctx context.Context, namespace, name string) (map[string]string, error) {
	var s corev1.Secret
	if err := d.cache.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &s); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return nil, nil
		}
		return nil, fmt.Errorf("read secret %s/%s: %w", namespace, name, err)
	}
	env := make(map[string]string, len(s.Data))
	for k, v := range s.Data {
		env[k] = string(v)
	}
	return env, nil
}

// Start applies the workload's namespace, Service, Secret and Deployment, writing only
// what differs from the cluster. Unlike the local driver it takes every field of a
// repeated Start: a changed environment rolls the pods. EINVALID for an unusable spec.
func (d *Driver) Start(ctx context.Context, spec runtime.WorkloadSpec) error {
	if err := validate(&spec); err != nil {
		return err
	}
	spec.Env, spec.NamespaceEnv = maps.Clone(spec.Env), maps.Clone(spec.NamespaceEnv)
	unlock := d.lockNamespace(spec.Namespace)
	defer unlock()
	d.mu.Lock()
	d.workloads[spec.ID] = &spec
	d.mu.Unlock()
	return d.applyWorkload(ctx, &spec)
}

func validate(spec *runtime.WorkloadSpec) error {
	var errs []error
	if spec.Artifact == "" {
		errs = append(errs, platform.Errorf(platform.EINVALID, "workload %s has no artifact (image)", spec.ID))
	}
	if len(validation.IsValidLabelValue(spec.ID)) > 0 || spec.ID == "" {
		errs = append(errs, platform.Errorf(platform.EINVALID, "workload ID %q is not a valid label value", spec.ID))
	}
	if err := platform.ValidateName("namespace", spec.Namespace); err != nil {
		errs = append(errs, err)
	}
	if err := platform.ValidateName("service", spec.Service); err != nil {
		errs = append(errs, err)
	}
	if spec.Replicas < 0 {
		errs = append(errs, platform.Errorf(platform.EINVALID, "workload %s: negative replicas", spec.ID))
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return platform.Errorf(platform.EINVALID, "%s", strings.Join(msgs, "; "))
}

// lockNamespace serialises changes to one platform namespace, so the last workload's Stop
// cannot delete the namespace objects a concurrent Start just applied.
func (d *Driver) lockNamespace(ns string) func() {
	d.mu.Lock()
	l, ok := d.nsLocks[ns]
	if !ok {
		l = &sync.Mutex{}
		d.nsLocks[ns] = l
	}
	d.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// desired returns the desired workloads of platform namespace ns (and of service, unless
// "").
func (d *Driver) desired(ns, service string) []*runtime.WorkloadSpec {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*runtime.WorkloadSpec
	for _, s := range d.workloads {
		if s.Namespace == ns && (service == "" || s.Service == service) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b *runtime.WorkloadSpec) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Stop deletes the workload's Deployment and Secret, then its Service if it was the
// service's last workload and the namespace's objects if it was the namespace's last. The
// garbage collector deletes the pods, whose kubelet sends SIGTERM and kills them after
// their terminationGracePeriodSeconds (Options.StopGrace when the workload was applied).
// Stop returns once the pods are gone, or EUNAVAILABLE when they are still there
// grace+30s later (grace 0: Options.StopGrace).
func (d *Driver) Stop(ctx context.Context, id string, grace time.Duration) error {
	if grace <= 0 {
		grace = d.opts.StopGrace
	}
	spec, err := d.find(ctx, id)
	if platform.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	unlock := d.lockNamespace(spec.Namespace)
	d.mu.Lock()
	delete(d.workloads, id)
	d.mu.Unlock()
	pods, err := d.podsOf(ctx, spec.Namespace, id)
	if err == nil {
		err = d.deleteWorkloadObjects(ctx, d.namespaceName(spec.Namespace), id)
	}
	if err == nil {
		err = d.deleteUnused(ctx, spec.Namespace, spec.Service, id)
	}
	unlock()
	if err != nil {
		return err
	}
	return d.waitPodsGone(ctx, pods, grace+30*time.Second)
}

// find returns the desired spec of workload id, or the one its Deployment records.
func (d *Driver) find(ctx context.Context, id string) (*runtime.WorkloadSpec, error) {
	d.mu.Lock()
	spec, ok := d.workloads[id]
	d.mu.Unlock()
	if ok {
		return spec, nil
	}
	dep, err := d.deploymentOf(ctx, id)
	if err != nil {
		return nil, err
	}
	return d.specOf(ctx, dep)
}

// deploymentOf returns the cached Deployment of workload id, ENOTFOUND if none.
func (d *Driver) deploymentOf(ctx context.Context, id string) (*appsv1.Deployment, error) {
	if len(validation.IsValidLabelValue(id)) > 0 {
		return nil, platform.Errorf(platform.ENOTFOUND, "no workload %q", id)
	}
	var list appsv1.DeploymentList
	if err := d.cache.List(ctx, &list, client.MatchingLabels{LabelRelease: id}); err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	if len(list.Items) == 0 {
		return nil, platform.Errorf(platform.ENOTFOUND, "no workload %q", id)
	}
	return &list.Items[0], nil
}

// Inspect returns the workload's spec and one InstanceStatus per pod that is not being
// deleted. ENOTFOUND for an unknown workload.
func (d *Driver) Inspect(ctx context.Context, id string) (*runtime.WorkloadStatus, error) {
	spec, err := d.find(ctx, id)
	if err != nil {
		return nil, err
	}
	return d.status(ctx, spec)
}

func (d *Driver) status(ctx context.Context, spec *runtime.WorkloadSpec) (*runtime.WorkloadStatus, error) {
	pods, err := d.podsOf(ctx, spec.Namespace, spec.ID)
	if err != nil {
		return nil, err
	}
	st := &runtime.WorkloadStatus{Spec: *spec, Instances: []runtime.InstanceStatus{}}
	st.Spec.Env, st.Spec.NamespaceEnv = maps.Clone(spec.Env), maps.Clone(spec.NamespaceEnv)
	for i := range pods {
		if pods[i].DeletionTimestamp != nil {
			continue
		}
		st.Instances = append(st.Instances, instanceStatus(&pods[i], spec.ID, d.opts.CrashLoopRestarts))
	}
	slices.SortFunc(st.Instances, func(a, b runtime.InstanceStatus) int { return strings.Compare(a.ID, b.ID) })
	return st, nil
}

// podsOf lists the cached pods of workload id.
func (d *Driver) podsOf(ctx context.Context, ns, id string) ([]corev1.Pod, error) {
	var list corev1.PodList
	if err := d.cache.List(ctx, &list, client.InNamespace(d.namespaceName(ns)), client.MatchingLabels{LabelRelease: id}); err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	return list.Items, nil
}

// List returns every workload of this platform on the cluster, and those started but not
// yet seen in the cache.
func (d *Driver) List(ctx context.Context) ([]*runtime.WorkloadStatus, error) {
	var deploys appsv1.DeploymentList
	if err := d.cache.List(ctx, &deploys); err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	specs := map[string]*runtime.WorkloadSpec{}
	d.mu.Lock()
	maps.Copy(specs, d.workloads)
	d.mu.Unlock()
	for i := range deploys.Items {
		id := deploys.Items[i].Labels[LabelRelease]
		if _, ok := specs[id]; ok {
			continue
		}
		spec, err := d.specOf(ctx, &deploys.Items[i])
		if err != nil {
			continue // Recover deletes what it cannot adopt
		}
		specs[id] = spec
	}
	out := make([]*runtime.WorkloadStatus, 0, len(specs))
	for _, id := range slices.Sorted(maps.Keys(specs)) {
		st, err := d.status(ctx, specs[id])
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}
