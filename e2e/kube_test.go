package e2e

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/kubetest"
	"github.com/micro/platform/runtime/kubernetes"
)

// kubeOwner is the owner label of the walkthrough's Kubernetes objects (kube_owner in its
// agent's config): not the driver's default, which a platform installed on the same
// cluster keeps (e2e/install_test.go).
const kubeOwner = "platform-walkthrough"

// TestKubernetesWalkthrough is the README's walkthrough on a region whose agent runs the
// kubernetes driver (`platform agent --runtime kubernetes`) against a real kube-apiserver
// and etcd, with the test's process kubelet (kubelet_test.go) running the pods' images as
// local processes, managed by a control plane with the local runtime: deploy, call through
// the CLI, the region's gateway and the control plane's (forwarded), logs, events, a
// second service calling the first, a new version under load, a crashing version, an agent
// restart, and delete — checking the objects in the cluster and the image the agent packed
// into its own registry along the way.
func TestKubernetesWalkthrough(t *testing.T) {
	skipShort(t)
	t.Parallel()
	began := time.Now()
	kube := kubeCluster(t, kubeOwner)
	kube.fresh(t, kubeOwner)
	kc := kube.admin(t)
	s := startServer(t, t.TempDir())
	agent := startAgent(t, s, "k8s", "--config", kube.configFile(t, "kube_owner: "+kubeOwner+"\nkube_namespace_prefix: walk-\n"), "--runtime", "kubernetes", "--kubeconfig", kube.kubeconfig, "--rollout-timeout", "90s")
	data := agent.dir
	gateway := func(token, ns, service, endpoint, body string) (int, string, error) {
		return agent.call(token, ns, service, endpoint, body)
	}
	ctx := t.Context()
	step := func(what string) { t.Logf("%6.1fs %s", time.Since(began).Seconds(), what) }
	step("control plane and region k8s started")

	s.must(t, "namespaces", "create", "acme", "--regions", "k8s")
	deploy := s.must(t, "deploy", "./examples/helloworld", "-n", "acme")
	for _, want := range []string{"build.started", "build.succeeded", "release.rolled_out", "is live"} {
		if !strings.Contains(deploy, want) {
			t.Errorf("deploy output lacks %q:\n%s", want, deploy)
		}
	}
	step("helloworld v1 live")

	services := s.must(t, "services", "-n", "acme")
	if !containsRow(services, "helloworld", "v1", "running", "1/1", "k8s", "Helloworld.Call") {
		t.Errorf("services:\n%s", services)
	}
	ns := kubeNamespace(t, kc, kubeOwner, "acme")
	view := serviceView(t, s, "helloworld")
	pods := kubePods(t, kc, ns, "helloworld")
	if len(view.Instances) != 1 || len(pods) != 1 || view.Instances[0].ID != pods[0].Name || !view.Instances[0].Registered {
		t.Errorf("want one registered instance named after its pod (MICRO_SERVER_ID from the downward API); instances %+v, pods %v", view.Instances, podNames(pods))
	}

	if out := s.must(t, "call", "helloworld", "Helloworld.Call", `{"name":"Alice"}`, "-n", "acme"); !strings.Contains(out, `"Hello Alice"`) {
		t.Errorf("call: %s", out)
	}
	status, body, err := gateway(s.token, "acme", "helloworld", "Helloworld.Call", `{"name":"Bob"}`)
	if err != nil || status != 200 || strings.TrimSpace(body) != `{"message":"Hello Bob"}` {
		t.Errorf("region gateway: %d %s %v", status, body, err)
	}
	status, body, err = s.gateway(s.token, "acme", "helloworld", "Helloworld.Call", `{"name":"Bob"}`)
	if err != nil || status != 200 || strings.TrimSpace(body) != `{"message":"Hello Bob"}` {
		t.Errorf("control plane's gateway (forwarded to region k8s): %d %s %v", status, body, err)
	}
	eventually(t, "logs (the pod log API, served by the kubelet) show the calls", func() bool {
		logs := s.platform(t, "logs", "helloworld", "-n", "acme", "--region", "k8s")
		return strings.Contains(logs.stdout, `name="Alice"`) && strings.Contains(logs.stdout, `name="Bob"`)
	})
	events := s.must(t, "events", "-n", "acme")
	for _, want := range []string{"namespace.created", "release.created", "build.started", "build.succeeded", "release.rolling_out", "instance.started", "release.rolled_out"} {
		if !strings.Contains(events, want) {
			t.Errorf("events lack %s:\n%s", want, events)
		}
	}
	step("called through the CLI and the gateway; logs and events")

	v1 := onlyDeployment(t, kc, ns, "helloworld")
	t.Run("cluster objects of namespace acme", func(t *testing.T) {
		checkNamespaceObjects(t, kc, ns, "acme")
		checkWorkload(t, kc, v1, "acme", "helloworld", "v1")
	})
	t.Run("image in the region's registry", func(t *testing.T) {
		image := v1.Spec.Template.Spec.Containers[0].Image
		addr, err := os.ReadFile(filepath.Join(data, "registry.addr"))
		must(t, err)
		if !strings.HasPrefix(image, "127.0.0.1:"+strings.TrimSpace(string(addr))+"/acme/helloworld@sha256:") {
			t.Errorf("image %s: want the region's own registry (port %s), repository acme/helloworld, by digest", image, addr)
		}
		ref, err := name.ParseReference(image)
		must(t, err)
		img, err := remote.Image(ref, remote.WithContext(ctx))
		must(t, err)
		cf, err := img.ConfigFile()
		must(t, err)
		for k, want := range map[string]string{
			"dev.micro.platform.service": "helloworld", "dev.micro.platform.version": "v1",
			"dev.micro.platform.namespace": "acme", "org.opencontainers.image.title": "helloworld",
		} {
			if got := cf.Config.Labels[k]; got != want {
				t.Errorf("image label %s = %q, want %q", k, got, want)
			}
		}
	})

	t.Run("greeter calls helloworld inside the namespace", func(t *testing.T) {
		s.must(t, "deploy", "./examples/greeter", "-n", "acme")
		if out := s.must(t, "call", "greeter", "Greeter.Hello", `{"name":"Carol"}`, "-n", "acme"); !strings.Contains(out, "Hello Carol (via greeter)") {
			t.Errorf("greeter: %s", out)
		}
		step("greeter live, calls helloworld")
	})

	t.Run("a new version rolls out under load", func(t *testing.T) {
		src := changedHelloworld(t)
		l := startLoad(s, "acme", 2)
		time.Sleep(time.Second)
		s.must(t, "deploy", src, "-n", "acme", "--name", "helloworld", "--replicas", "2")
		time.Sleep(time.Second)
		ok, failed := l.stop()
		if len(failed) > 0 {
			t.Errorf("%d of %d calls failed during the rollout; first: %v", len(failed), ok+int64(len(failed)), failed[:min(5, len(failed))])
		}
		if ok < 10 {
			t.Errorf("only %d calls succeeded during the rollout", ok)
		}
		t.Logf("%d calls during the rollout, %d failed", ok, len(failed))
		if out := s.must(t, "call", "helloworld", "Helloworld.Call", `{"name":"Dave"}`, "-n", "acme"); !strings.Contains(out, "Hello Dave") {
			t.Errorf("call v2: %s", out)
		}
		eventually(t, "the v1 Deployment, its Secret and its pods are gone, two v2 pods run", func() bool {
			var d appsv1.Deployment
			gone := apierrors.IsNotFound(kc.Get(ctx, client.ObjectKeyFromObject(v1), &d))
			var sec corev1.Secret
			gone = gone && apierrors.IsNotFound(kc.Get(ctx, client.ObjectKey{Namespace: ns, Name: v1.Name + "-env"}, &sec))
			p := kubePods(t, kc, ns, "helloworld")
			return gone && len(p) == 2 && p[0].Labels[kubernetes.LabelVersion] == "v2" && p[1].Labels[kubernetes.LabelVersion] == "v2"
		})
		v2 := onlyDeployment(t, kc, ns, "helloworld")
		if v2.Name == v1.Name {
			t.Errorf("v2 reuses the Deployment %s of v1", v1.Name)
		}
		checkWorkload(t, kc, v2, "acme", "helloworld", "v2")
		if d := v2; d.Status.ReadyReplicas != 2 || d.Status.ObservedGeneration != d.Generation {
			t.Errorf("v2 Deployment status: %+v", d.Status)
		}
		if !containsRow(s.must(t, "services", "-n", "acme"), "helloworld", "v2", "running", "2/2") {
			t.Errorf("services after v2:\n%s", s.must(t, "services", "-n", "acme"))
		}
		step("helloworld v2 (2 replicas) rolled out under load")
	})

	t.Run("a crashing version fails with its output and v2 keeps serving", func(t *testing.T) {
		r := s.platform(t, "deploy", crashingService(t), "-n", "acme", "--name", "helloworld")
		if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "cannot connect to the database") {
			t.Errorf("deploying a crashing version: want a failure with the crash output, got %s", r)
		}
		if out := s.must(t, "call", "helloworld", "Helloworld.Call", `{"name":"Erin"}`, "-n", "acme"); !strings.Contains(out, "Hello Erin") {
			t.Errorf("call after the failed release: %s", out)
		}
		eventually(t, "only the v2 Deployment of helloworld is left", func() bool {
			return len(kubeDeployments(t, kc, ns, "helloworld")) == 1
		})
		// The kubelet restarted the crashing container with a backoff; the driver read
		// each exit from the pod's lastState and the crash loop from restartCount.
		crashed := s.must(t, "events", "-n", "acme", "--type", "instance.crashed")
		if strings.Count(crashed, "exit code 3 (Error): panic: cannot connect to the database") < 2 {
			t.Errorf("want each exit of the restarted instance as instance.crashed with its exit code and output:\n%s", crashed)
		}
		if loop := s.must(t, "events", "-n", "acme", "--type", "instance.crashloop"); !strings.Contains(loop, "crash looping after 2 restarts") {
			t.Errorf("instance.crashloop events:\n%s", loop)
		}
		step("crashing v3 failed, v2 serves")
	})

	t.Run("restart the agent", func(t *testing.T) {
		before := podNames(kubePods(t, kc, ns, "helloworld"))
		agent.stop()
		agent.start()
		step("agent restarted")
		// The instances reconnect to the region's restarted NATS server (every 2s).
		eventually(t, "helloworld answers through the region's gateway after the restart", func() bool {
			status, body, err := gateway(s.token, "acme", "helloworld", "Helloworld.Call", `{"name":"Again"}`)
			return err == nil && status == 200 && strings.Contains(body, "Hello Again")
		})
		if out := s.must(t, "call", "helloworld", "Helloworld.Call", `{"name":"Frank"}`, "-n", "acme"); !strings.Contains(out, "Hello Frank") {
			t.Errorf("call after restart: %s", out)
		}
		// Each instance reconnects on its own schedule: greeter may still be on its way.
		eventually(t, "greeter answers through the region's gateway after the restart", func() bool {
			status, body, err := gateway(s.token, "acme", "greeter", "Greeter.Hello", `{"name":"Grace"}`)
			return err == nil && status == 200 && strings.Contains(body, "Hello Grace (via greeter)")
		})
		// After a full resync (every 5 s) the Deployments are adopted, not duplicated.
		time.Sleep(6 * time.Second)
		if d := kubeDeployments(t, kc, ns, "helloworld"); len(d) != 1 {
			t.Errorf("after restart: %d Deployments of helloworld, want 1", len(d))
		}
		if d := kubeDeployments(t, kc, ns, "greeter"); len(d) != 1 {
			t.Errorf("after restart: %d Deployments of greeter, want 1", len(d))
		}
		if after := podNames(kubePods(t, kc, ns, "helloworld")); strings.Join(after, ",") != strings.Join(before, ",") {
			t.Errorf("pods changed across the restart: %v, then %v", before, after)
		}
		if !containsRow(s.must(t, "services", "-n", "acme"), "helloworld", "v2", "running", "2/2") {
			t.Errorf("services after restart:\n%s", s.must(t, "services", "-n", "acme"))
		}
		step("re-adopted, still callable")
	})

	t.Run("a Deployment deleted by hand is restored", func(t *testing.T) {
		d := onlyDeployment(t, kc, ns, "greeter")
		old := podNames(kubePods(t, kc, ns, "greeter"))
		must(t, kc.Delete(ctx, d))
		eventually(t, "greeter's Deployment is back under its name with a new UID, its old pod replaced", func() bool {
			back := kubeDeployments(t, kc, ns, "greeter")
			if len(back) != 1 || back[0].UID == d.UID || back[0].Name != d.Name {
				return false
			}
			pods := kubePods(t, kc, ns, "greeter")
			return len(pods) == 1 && !slices.Contains(old, pods[0].Name) && ownedBy(t, kc, &pods[0], &back[0]) && pods[0].Status.Phase == corev1.PodRunning
		})
		eventually(t, "greeter answers from its new pod", func() bool {
			status, body, err := gateway(s.token, "acme", "greeter", "Greeter.Hello", `{"name":"Heidi"}`)
			return err == nil && status == 200 && strings.Contains(body, "Hello Heidi (via greeter)")
		})
		step("hand-deleted Deployment restored")
	})

	t.Run("delete", func(t *testing.T) {
		for _, svc := range []string{"helloworld", "greeter"} {
			s.must(t, "delete", svc, "-n", "acme")
		}
		eventually(t, "the Deployments, Secrets, Services and pods are gone from the cluster", func() bool {
			return len(owned(t, kc, ns, &appsv1.DeploymentList{})) == 0 && len(owned(t, kc, ns, &corev1.SecretList{})) == 0 &&
				len(owned(t, kc, ns, &corev1.ServiceList{})) == 0 && len(owned(t, kc, ns, &corev1.PodList{})) == 0
		})
		if kubelet := kube.kubelet; kubelet != nil {
			eventually(t, "the process kubelet runs no process", func() bool {
				kubelet.mu.Lock()
				defer kubelet.mu.Unlock()
				return len(kubelet.procs) == 0
			})
		}
		eventually(t, "the gateway says not found", func() bool {
			status, _, _ := gateway(s.token, "acme", "helloworld", "Helloworld.Call", `{}`)
			return status == 404
		})
		if out := s.must(t, "services", "-n", "acme"); strings.Contains(out, "helloworld") || strings.Contains(out, "greeter") {
			t.Errorf("services after delete:\n%s", out)
		}
		var n corev1.Namespace
		if err := kc.Get(ctx, client.ObjectKey{Name: ns}, &n); err != nil {
			t.Errorf("the Kubernetes namespace is kept (it may hold foreign objects): %v", err)
		}
		step("deleted")
	})
}

// TestKubernetesServer is the shorter path of `platform server --runtime kubernetes`,
// whose in-process region runs the kubernetes driver and whose builder pushes images to
// the server's own registry: deploy, call through the gateway, delete. Its Kubernetes
// objects carry their own owner and namespace prefix, so that it shares the API server
// with TestKubernetesWalkthrough.
func TestKubernetesServer(t *testing.T) {
	skipShort(t)
	t.Parallel()
	const owner = "platform-server"
	kube := kubeCluster(t, owner)
	kube.fresh(t, owner)
	kc := kube.admin(t)
	data := t.TempDir()
	conf := kube.configFile(t, "kube_owner: "+owner+"\nkube_namespace_prefix: srv-\n")
	s := startServer(t, data, "--config", conf, "--runtime", "kubernetes", "--kubeconfig", kube.kubeconfig, "--rollout-timeout", "90s")

	s.must(t, "namespaces", "create", "acme")
	if out := s.must(t, "deploy", "./examples/helloworld", "-n", "acme"); !strings.Contains(out, "is live") {
		t.Fatalf("deploy:\n%s", out)
	}
	ns := kubeNamespace(t, kc, owner, "acme")
	if ns != "srv-acme" {
		t.Errorf("Kubernetes namespace %s, want srv-acme (kube_namespace_prefix)", ns)
	}
	status, body, err := s.gateway(s.token, "acme", "helloworld", "Helloworld.Call", `{"name":"Bob"}`)
	if err != nil || status != 200 || strings.TrimSpace(body) != `{"message":"Hello Bob"}` {
		t.Errorf("gateway: %d %s %v", status, body, err)
	}
	selector := []client.ListOption{client.InNamespace(ns), client.MatchingLabels{kubernetes.LabelOwner: owner, kubernetes.LabelService: "helloworld"}}
	var deployments appsv1.DeploymentList
	must(t, kc.List(t.Context(), &deployments, selector...))
	if len(deployments.Items) != 1 {
		t.Fatalf("%d Deployments of helloworld, want 1", len(deployments.Items))
	}
	d := deployments.Items[0]
	addr, err := os.ReadFile(filepath.Join(data, "registry.addr"))
	must(t, err)
	if image := d.Spec.Template.Spec.Containers[0].Image; !strings.HasPrefix(image, "127.0.0.1:"+strings.TrimSpace(string(addr))+"/acme/helloworld@sha256:") {
		t.Errorf("image %s: want the server's own registry (port %s), by digest", image, addr)
	}
	s.must(t, "delete", "helloworld", "-n", "acme")
	eventually(t, "the Deployment and its pods are gone", func() bool {
		var pods corev1.PodList
		must(t, kc.List(t.Context(), &deployments, selector...))
		must(t, kc.List(t.Context(), &pods, selector...))
		return len(deployments.Items) == 0 && len(pods.Items) == 0
	})
}

// ownedBy reports whether pod belongs to Deployment d: directly (the process kubelet's
// pods) or through a ReplicaSet of d (a real controller-manager's).
func ownedBy(t *testing.T, c client.Client, pod *corev1.Pod, d *appsv1.Deployment) bool {
	t.Helper()
	for _, o := range pod.OwnerReferences {
		if o.UID == d.UID {
			return true
		}
		if o.Kind != "ReplicaSet" {
			continue
		}
		var rs appsv1.ReplicaSet
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: pod.Namespace, Name: o.Name}, &rs); err != nil {
			continue
		}
		for _, ro := range rs.OwnerReferences {
			if ro.UID == d.UID {
				return true
			}
		}
	}
	return false
}

// kubeNamespace returns the name of the one Kubernetes namespace labelled as owner's for
// platform namespace ns: the driver's prefix (whatever its default) and ns.
func kubeNamespace(t *testing.T, c client.Client, owner, ns string) string {
	t.Helper()
	var list corev1.NamespaceList
	must(t, c.List(context.Background(), &list, client.MatchingLabels{kubernetes.LabelOwner: owner, kubernetes.LabelNamespace: ns}))
	if len(list.Items) != 1 || !strings.HasSuffix(list.Items[0].Name, "-"+ns) {
		t.Fatalf("want one Kubernetes namespace <prefix>-%s labelled for platform namespace %s, got %d", ns, ns, len(list.Items))
	}
	return list.Items[0].Name
}

// writeKubeconfig writes a kubeconfig for a new system:masters user of the test API
// server, as an operator's ~/.kube/config would be.
func writeKubeconfig(t *testing.T) string {
	t.Helper()
	user, err := kubetest.Environment().AddUser(envtest.User{Name: "micro-platform-e2e", Groups: []string{"system:masters"}}, nil)
	must(t, err)
	b, err := user.KubeConfig()
	must(t, err)
	file := filepath.Join(t.TempDir(), "kubeconfig")
	must(t, os.WriteFile(file, b, 0o600))
	return file
}

// changedHelloworld is examples/helloworld with one changed line.
func changedHelloworld(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "helloworld")
	must(t, os.CopyFS(dir, os.DirFS("../examples/helloworld")))
	main := filepath.Join(dir, "main.go")
	b, err := os.ReadFile(main)
	must(t, err)
	changed := strings.Replace(string(b), `log.Printf("Helloworld.Call name=%q", req.Name)`, `log.Printf("Helloworld.Call v2 name=%q", req.Name)`, 1)
	if changed == string(b) {
		t.Fatal("examples/helloworld/main.go changed: update changedHelloworld")
	}
	must(t, os.WriteFile(main, []byte(changed), 0o644))
	return dir
}

func serviceView(t *testing.T, s *serverProc, service string) platform.ServiceView {
	t.Helper()
	for _, v := range decode[[]platform.ServiceView](t, s.must(t, "services", "-n", "acme", "-o", "json")) {
		if v.Name == service {
			return v
		}
	}
	t.Fatalf("no service %s", service)
	return platform.ServiceView{}
}

// owned lists the platform's objects of one kind in a Kubernetes namespace.
func owned[L client.ObjectList](t *testing.T, c client.Client, ns string, list L) []client.Object {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	must(t, c.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{kubernetes.LabelOwner: kubeOwner}))
	var out []client.Object
	switch l := any(list).(type) {
	case *appsv1.DeploymentList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *corev1.SecretList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *corev1.ServiceList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *corev1.PodList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	default:
		t.Fatalf("owned: unsupported list %T", list)
	}
	return out
}

func kubeDeployments(t *testing.T, c client.Client, ns, service string) []appsv1.Deployment {
	t.Helper()
	var list appsv1.DeploymentList
	must(t, c.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{kubernetes.LabelOwner: kubeOwner, kubernetes.LabelService: service}))
	return list.Items
}

func onlyDeployment(t *testing.T, c client.Client, ns, service string) *appsv1.Deployment {
	t.Helper()
	d := kubeDeployments(t, c, ns, service)
	if len(d) != 1 {
		t.Fatalf("%d Deployments of %s in %s, want 1", len(d), service, ns)
	}
	return &d[0]
}

// kubePods lists the pods of a service that are not being deleted, by name.
func kubePods(t *testing.T, c client.Client, ns, service string) []corev1.Pod {
	t.Helper()
	var list corev1.PodList
	must(t, c.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{kubernetes.LabelOwner: kubeOwner, kubernetes.LabelService: service}))
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

func podNames(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

// checkNamespaceObjects checks the Kubernetes namespace of platform namespace platformNS
// and the objects every such namespace has, with the platform's labels.
func checkNamespaceObjects(t *testing.T, c client.Client, ns, platformNS string) {
	t.Helper()
	ctx := context.Background()
	objects := []struct {
		kind string
		obj  client.Object
		key  client.ObjectKey
	}{
		{"Namespace", &corev1.Namespace{}, client.ObjectKey{Name: ns}},
		{"Secret", &corev1.Secret{}, client.ObjectKey{Namespace: ns, Name: "platform-mesh"}},
		{"ResourceQuota", &corev1.ResourceQuota{}, client.ObjectKey{Namespace: ns, Name: "platform"}},
		{"LimitRange", &corev1.LimitRange{}, client.ObjectKey{Namespace: ns, Name: "platform"}},
		{"NetworkPolicy", &networkingv1.NetworkPolicy{}, client.ObjectKey{Namespace: ns, Name: "platform-ingress"}},
	}
	for _, o := range objects {
		t.Run(o.kind, func(t *testing.T) {
			if err := c.Get(ctx, o.key, o.obj); err != nil {
				t.Fatalf("%s %s: %v", o.kind, o.key, err)
			}
			l := o.obj.GetLabels()
			if l[kubernetes.LabelOwner] != kubeOwner || l[kubernetes.LabelNamespace] != platformNS {
				t.Errorf("%s %s labels %v: want owner %s, namespace %s", o.kind, o.key, l, kubeOwner, platformNS)
			}
		})
	}
	var mesh corev1.Secret
	must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "platform-mesh"}, &mesh))
	account := false
	for _, v := range mesh.Data {
		account = account || strings.Contains(string(v), "ns-"+platformNS+":")
	}
	if string(mesh.Data["MICRO_REGISTRY"]) != "nats" || !account {
		t.Errorf("mesh Secret has keys %v: want MICRO_REGISTRY=nats and the NATS account ns-%s", slices.Sorted(maps.Keys(mesh.Data)), platformNS)
	}
}

// checkWorkload checks the Deployment of one release, its env Secret and the service's
// Service, and that the release's pods run the Deployment's image.
func checkWorkload(t *testing.T, c client.Client, d *appsv1.Deployment, platformNS, service, version string) {
	t.Helper()
	ctx := context.Background()
	want := map[string]string{kubernetes.LabelOwner: kubeOwner, kubernetes.LabelNamespace: platformNS, kubernetes.LabelService: service, kubernetes.LabelVersion: version}
	for k, v := range want {
		if d.Labels[k] != v {
			t.Errorf("Deployment %s label %s = %q, want %q", d.Name, k, d.Labels[k], v)
		}
	}
	if d.Labels[kubernetes.LabelRelease] == "" || d.Annotations[kubernetes.AnnotationSpec] == "" {
		t.Errorf("Deployment %s lacks its release label or spec annotation: %v %v", d.Name, d.Labels, d.Annotations)
	}
	var sec corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: d.Name + "-env"}, &sec); err != nil {
		t.Errorf("env Secret of %s: %v", d.Name, err)
	} else if sec.Labels[kubernetes.LabelRelease] != d.Labels[kubernetes.LabelRelease] {
		t.Errorf("env Secret labels %v", sec.Labels)
	}
	var svc corev1.Service
	if err := c.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: service}, &svc); err != nil {
		t.Errorf("Service %s: %v", service, err)
	} else if svc.Labels[kubernetes.LabelService] != service || svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service %s: labels %v, clusterIP %q", service, svc.Labels, svc.Spec.ClusterIP)
	}
	for _, p := range kubePods(t, c, d.Namespace, service) {
		if p.Labels[kubernetes.LabelRelease] != d.Labels[kubernetes.LabelRelease] {
			continue
		}
		if p.Spec.Containers[0].Image != d.Spec.Template.Spec.Containers[0].Image || p.Status.Phase != corev1.PodRunning {
			t.Errorf("pod %s: image %s, phase %s", p.Name, p.Spec.Containers[0].Image, p.Status.Phase)
		}
	}
}
