package kubernetes_test

import (
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/kubetest"
	"github.com/micro/platform/runtime"
	"github.com/micro/platform/runtime/kubernetes"
)

// workload returns a spec of service svc in namespace ns with one replica.
func workload(ns, svc string) runtime.WorkloadSpec {
	return runtime.WorkloadSpec{
		ID: platform.NewID("r"), Namespace: ns, Service: svc, Version: "v1",
		Artifact: "registry.example/" + ns + "/" + svc + "@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Replicas: 1,
		Env:      map[string]string{"GREETING": "hello from " + ns, "MICRO_SERVER_NAME": svc},
		NamespaceEnv: map[string]string{
			"MICRO_REGISTRY": "nats", "MICRO_REGISTRY_ADDRESS": "nats://ns-" + ns + ":secret-of-" + ns + "@nats.micro-platform:4222",
		},
	}
}

// mustStart starts spec on d, failing the test on error.
func mustStart(t testing.TB, d *testDriver, spec runtime.WorkloadSpec) {
	t.Helper()
	if err := d.Start(t.Context(), spec); err != nil {
		t.Fatalf("Start %s: %v", spec.ID, err)
	}
}

// deploymentOf reads the Deployment of spec from the API server (not the driver's cache).
func deploymentOf(t testing.TB, c client.Client, d *testDriver, spec runtime.WorkloadSpec) (*appsv1.Deployment, error) {
	t.Helper()
	var list appsv1.DeploymentList
	if err := c.List(t.Context(), &list, client.InNamespace(d.opts.NamespacePrefix+spec.Namespace), client.MatchingLabels{kubernetes.LabelRelease: spec.ID}); err != nil {
		t.Fatal(err)
	}
	switch len(list.Items) {
	case 0:
		return nil, apierrors.NewNotFound(appsv1.Resource("deployments"), spec.ID)
	case 1:
		return &list.Items[0], nil
	}
	t.Fatalf("%d deployments for workload %s, want one", len(list.Items), spec.ID)
	return nil, nil
}

func mustDeployment(t testing.TB, c client.Client, d *testDriver, spec runtime.WorkloadSpec) *appsv1.Deployment {
	t.Helper()
	dep, err := deploymentOf(t, c, d, spec)
	if err != nil {
		t.Fatalf("deployment of %s: %v", spec.ID, err)
	}
	return dep
}

func mustGet(t testing.TB, c client.Client, ns, name string, obj client.Object) {
	t.Helper()
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatalf("get %T %s/%s: %v", obj, ns, name, err)
	}
}

func TestDeployCreatesTheObjects(t *testing.T) {
	d := newDriver(t, kubernetes.Options{})
	c := adminClient(t)
	spec := workload("acme", "hello")
	spec.Replicas = 2
	// The control plane gives each release its size's resources: small is 250m and 256Mi.
	cpu, mem := platform.SizeSmall.Resources()
	spec.Resources = runtime.Resources{CPUMillis: cpu, MemoryBytes: mem}
	mustStart(t, d, spec)
	ns := d.opts.NamespacePrefix + "acme"

	t.Run("namespace", func(t *testing.T) {
		var n corev1.Namespace
		mustGet(t, c, "", ns, &n)
		if n.Labels[kubernetes.LabelOwner] != d.opts.Owner || n.Labels[kubernetes.LabelNamespace] != "acme" ||
			n.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
			t.Errorf("namespace labels = %v", n.Labels)
		}
	})
	t.Run("deployment", func(t *testing.T) {
		dep := mustDeployment(t, c, d, spec)
		if *dep.Spec.Replicas != 2 || dep.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
			t.Errorf("replicas %d strategy %s, want 2 RollingUpdate", *dep.Spec.Replicas, dep.Spec.Strategy.Type)
		}
		for k, v := range map[string]string{kubernetes.LabelOwner: d.opts.Owner, kubernetes.LabelNamespace: "acme",
			kubernetes.LabelService: "hello", kubernetes.LabelRelease: spec.ID, kubernetes.LabelVersion: "v1"} {
			if dep.Labels[k] != v || dep.Spec.Template.Labels[k] != v {
				t.Errorf("label %s = %q on the deployment, %q on its pods; want %q", k, dep.Labels[k], dep.Spec.Template.Labels[k], v)
			}
		}
		pod := dep.Spec.Template.Spec
		if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken || pod.ServiceAccountName != "default" {
			t.Errorf("service account %q automount %v, want the default one without token", pod.ServiceAccountName, pod.AutomountServiceAccountToken)
		}
		psc := pod.SecurityContext
		if psc == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("pod security context = %+v", psc)
		}
		ctr := pod.Containers[0]
		sc := ctr.SecurityContext
		if sc == nil || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || !*sc.RunAsNonRoot ||
			!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("container security context = %+v", sc)
		}
		if ctr.Image != spec.Artifact {
			t.Errorf("image = %q, want %q", ctr.Image, spec.Artifact)
		}
		for _, rl := range []corev1.ResourceList{ctr.Resources.Limits, ctr.Resources.Requests} {
			if !rl.Cpu().Equal(resource.MustParse("250m")) || !rl.Memory().Equal(resource.MustParse("256Mi")) {
				t.Errorf("resources = %v, want 250m and 256Mi (size small)", rl)
			}
		}
		var from []string
		for _, e := range ctr.EnvFrom {
			from = append(from, e.SecretRef.Name)
		}
		if want := []string{dep.Name + "-env", "platform-mesh"}; !slices.Equal(from, want) {
			t.Errorf("envFrom = %v, want %v (namespace env last, so it wins)", from, want)
		}
		if len(ctr.Env) != 1 || ctr.Env[0].Name != "MICRO_SERVER_ID" || ctr.Env[0].ValueFrom.FieldRef.FieldPath != "metadata.name" {
			t.Errorf("env = %+v, want MICRO_SERVER_ID from the pod name", ctr.Env)
		}
		applied := false
		for _, mf := range dep.ManagedFields {
			applied = applied || (mf.Manager == kubernetes.FieldManager && mf.Operation == metav1.ManagedFieldsOperationApply)
		}
		if !applied {
			t.Errorf("managed fields %+v lack a server-side apply by %q", dep.ManagedFields, kubernetes.FieldManager)
		}
	})
	t.Run("secrets", func(t *testing.T) {
		var mesh, env corev1.Secret
		mustGet(t, c, ns, "platform-mesh", &mesh)
		dep := mustDeployment(t, c, d, spec)
		mustGet(t, c, ns, dep.Name+"-env", &env)
		if string(mesh.Data["MICRO_REGISTRY_ADDRESS"]) != spec.NamespaceEnv["MICRO_REGISTRY_ADDRESS"] || len(mesh.Data) != 2 {
			t.Errorf("mesh secret = %v, want exactly the namespace env", keys(mesh.Data))
		}
		if string(env.Data["GREETING"]) != "hello from acme" || env.Data["MICRO_REGISTRY_ADDRESS"] != nil {
			t.Errorf("env secret = %v, want the release env without the mesh credentials", keys(env.Data))
		}
	})
	t.Run("service", func(t *testing.T) {
		var svc corev1.Service
		mustGet(t, c, ns, "hello", &svc)
		if svc.Spec.ClusterIP != corev1.ClusterIPNone || svc.Spec.Selector[kubernetes.LabelService] != "hello" || svc.Spec.Selector[kubernetes.LabelRelease] != "" {
			t.Errorf("service spec = %+v, want headless selecting every release of hello", svc.Spec)
		}
	})
	t.Run("network policy", func(t *testing.T) {
		var np networkingv1.NetworkPolicy
		mustGet(t, c, ns, "platform-ingress", &np)
		if len(np.Spec.PodSelector.MatchLabels) != 0 ||
			!slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
			t.Fatalf("policy applies to %v for %v, want every pod, ingress and egress", np.Spec.PodSelector, np.Spec.PolicyTypes)
		}
		if n := len(np.Spec.Egress); n != 4 || !slices.Contains(np.Spec.Egress[3].To[0].IPBlock.Except, "169.254.0.0/16") {
			t.Errorf("egress = %+v, want DNS, the mesh, the namespace and the internet without the metadata service", np.Spec.Egress)
		}
		from := np.Spec.Ingress[0].From
		if len(np.Spec.Ingress) != 1 || len(from) != 2 || from[0].NamespaceSelector != nil || len(from[0].PodSelector.MatchLabels) != 0 ||
			from[1].NamespaceSelector.MatchLabels[corev1.LabelMetadataName] != "micro-platform" ||
			from[1].PodSelector.MatchLabels["app.kubernetes.io/component"] != "control-plane" {
			t.Errorf("ingress = %+v, want this namespace's pods and the platform's gateway only", np.Spec.Ingress)
		}
	})
	t.Run("quota and limits", func(t *testing.T) {
		var q corev1.ResourceQuota
		mustGet(t, c, ns, "platform", &q)
		for name, want := range map[corev1.ResourceName]string{"pods": "50", "limits.cpu": "4", "requests.memory": "8Gi"} {
			if got := q.Spec.Hard[name]; got.String() != want {
				t.Errorf("quota %s = %s, want %s", name, got.String(), want)
			}
		}
		var lr corev1.LimitRange
		mustGet(t, c, ns, "platform", &lr)
		if l := lr.Spec.Limits[0]; l.Default.Cpu().String() != "100m" || l.DefaultRequest.Memory().String() != "128Mi" {
			t.Errorf("limit range = %+v, want 100m and 128Mi defaults", l)
		}
	})
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestStartAgain(t *testing.T) {
	var n counter
	d := newDriver(t, kubernetes.Options{Config: n.count(kubetest.Config(t))})
	c := adminClient(t)
	spec := workload("acme", "hello")
	mustStart(t, d, spec)
	before := mustDeployment(t, c, d, spec)
	// The cache must have seen the driver's own writes before an unchanged Start can be
	// free.
	waitFor(t, "the driver's cache to hold its writes", func() bool {
		w := writes(n.snapshot())
		mustStart(t, d, spec)
		return writes(n.snapshot()) == w
	})

	t.Run("unchanged makes no request", func(t *testing.T) {
		at := n.total.Load()
		for range 10 {
			mustStart(t, d, spec)
		}
		if got := n.total.Load() - at; got != 0 {
			t.Errorf("10 unchanged Starts made %d API requests, want 0", got)
		}
	})
	t.Run("replicas only keep the template", func(t *testing.T) {
		spec.Replicas = 3
		mustStart(t, d, spec)
		dep := mustDeployment(t, c, d, spec)
		if *dep.Spec.Replicas != 3 {
			t.Errorf("replicas = %d, want 3", *dep.Spec.Replicas)
		}
		if a, b := dep.Spec.Template.Annotations[kubernetes.AnnotationEnvHash], before.Spec.Template.Annotations[kubernetes.AnnotationEnvHash]; a != b {
			t.Errorf("env hash changed from %s to %s with only replicas changed", b, a)
		}
	})
	t.Run("env rolls the pods", func(t *testing.T) {
		spec.Env = map[string]string{"GREETING": "changed"}
		mustStart(t, d, spec)
		dep := mustDeployment(t, c, d, spec)
		if a, b := dep.Spec.Template.Annotations[kubernetes.AnnotationEnvHash], before.Spec.Template.Annotations[kubernetes.AnnotationEnvHash]; a == b {
			t.Errorf("pod template env hash still %s after an env change: pods would not roll", a)
		}
		var env corev1.Secret
		mustGet(t, c, dep.Namespace, dep.Name+"-env", &env)
		if string(env.Data["GREETING"]) != "changed" || len(env.Data) != 1 {
			t.Errorf("env secret = %v, want only GREETING=changed", keys(env.Data))
		}
		st, err := d.Inspect(t.Context(), spec.ID)
		if err != nil || st.Spec.Env["GREETING"] != "changed" || st.Spec.Replicas != 3 {
			t.Errorf("Inspect = %+v, %v; want the new spec", st, err)
		}
	})
}

func TestNewReleaseThenStopOld(t *testing.T) {
	d := newDriver(t, kubernetes.Options{})
	c := adminClient(t)
	old, next := workload("acme", "hello"), workload("acme", "hello")
	next.Version = "v2"
	mustStart(t, d, old)
	mustStart(t, d, next)
	if err := d.Stop(t.Context(), old.ID, time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := deploymentOf(t, c, d, old); !apierrors.IsNotFound(err) {
		t.Errorf("old deployment: %v, want it gone", err)
	}
	dep := mustDeployment(t, c, d, next)
	ns := dep.Namespace
	for name, obj := range map[string]client.Object{dep.Name + "-env": &corev1.Secret{}, "platform-mesh": &corev1.Secret{}, "hello": &corev1.Service{}, "platform-ingress": &networkingv1.NetworkPolicy{}} {
		mustGet(t, c, ns, name, obj)
	}
	var secrets corev1.SecretList
	if err := c.List(t.Context(), &secrets, client.InNamespace(ns), client.MatchingLabels{kubernetes.LabelRelease: old.ID}); err != nil || len(secrets.Items) != 0 {
		t.Errorf("old release's secrets: %d, %v; want none", len(secrets.Items), err)
	}
	list, err := d.List(t.Context())
	if err != nil || len(list) != 1 || list[0].Spec.ID != next.ID {
		t.Errorf("List = %v, %v; want only %s", list, err, next.ID)
	}
}

func TestStopRemovesOwnedOnly(t *testing.T) {
	d := newDriver(t, kubernetes.Options{})
	c := adminClient(t)
	a, b := workload("acme", "hello"), workload("acme", "world")
	mustStart(t, d, a)
	mustStart(t, d, b)
	ns := d.opts.NamespacePrefix + "acme"
	foreign := []client.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: ns}, Data: map[string]string{"k": "v"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: ns}, StringData: map[string]string{"k": "v"}},
		// Labelled for the platform's namespace but not owned: still foreign.
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: ns, Labels: map[string]string{kubernetes.LabelNamespace: "acme", kubernetes.LabelService: "hello"}},
			Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}},
	}
	for _, obj := range foreign {
		if err := c.Create(t.Context(), obj); err != nil {
			t.Fatal(err)
		}
	}

	if err := d.Stop(t.Context(), a.ID, time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	mustGet(t, c, ns, "world", &corev1.Service{})
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "hello"}, &corev1.Service{}); !apierrors.IsNotFound(err) {
		t.Errorf("service hello after its last workload stopped: %v, want gone", err)
	}
	mustGet(t, c, ns, "platform-mesh", &corev1.Secret{})

	if err := d.Stop(t.Context(), b.ID, time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	for _, list := range []client.ObjectList{&appsv1.DeploymentList{}, &corev1.SecretList{}, &corev1.ServiceList{}, &corev1.ResourceQuotaList{},
		&corev1.LimitRangeList{}, &networkingv1.NetworkPolicyList{}, &corev1.ServiceAccountList{}} {

		if err := c.List(t.Context(), list, client.InNamespace(ns), client.MatchingLabels{kubernetes.LabelOwner: d.opts.Owner}); err != nil {
			t.Fatal(err)
		}
		if n := lenOf(list); n != 0 {
			t.Errorf("%d owned %T left after the last workload stopped", n, list)
		}
	}
	for _, obj := range foreign {
		if err := c.Get(t.Context(), client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Errorf("foreign %T %s: %v, want it untouched", obj, obj.GetName(), err)
		}
	}
	mustGet(t, c, "", ns, &corev1.Namespace{}) // kept: deleting it would delete the foreign objects
	if _, err := d.Inspect(t.Context(), a.ID); platform.ErrorCode(err) != platform.ENOTFOUND {
		t.Errorf("Inspect after Stop = %v, want not_found", err)
	}
}

func lenOf(list client.ObjectList) int {
	switch l := list.(type) {
	case *appsv1.DeploymentList:
		return len(l.Items)
	case *corev1.SecretList:
		return len(l.Items)
	case *corev1.ServiceList:
		return len(l.Items)
	case *corev1.ResourceQuotaList:
		return len(l.Items)
	case *corev1.LimitRangeList:
		return len(l.Items)
	case *networkingv1.NetworkPolicyList:
		return len(l.Items)
	case *corev1.ServiceAccountList:
		return len(l.Items)
	}
	panic("unknown list")
}

func TestForeignObjectInTheWay(t *testing.T) {
	d := newDriver(t, kubernetes.Options{})
	c := adminClient(t)
	spec := workload("acme", "taken")
	ns := d.opts.NamespacePrefix + "acme"
	if err := c.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	err := d.Start(t.Context(), spec)
	if platform.ErrorCode(err) != platform.ECONFLICT {
		t.Fatalf("Start into a namespace the platform does not own = %v, want conflict", err)
	}
	var n corev1.Namespace
	mustGet(t, c, "", ns, &n)
	if n.Labels[kubernetes.LabelOwner] != "" {
		t.Errorf("foreign namespace got labels %v", n.Labels)
	}
}

func TestHandChangesRestored(t *testing.T) {
	d := newDriver(t, kubernetes.Options{})
	c := adminClient(t)
	spec := workload("acme", "hello")
	mustStart(t, d, spec)
	ns := d.opts.NamespacePrefix + "acme"

	t.Run("deleted deployment", func(t *testing.T) {
		dep := mustDeployment(t, c, d, spec)
		if err := c.Delete(t.Context(), dep); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the deployment to come back without a Start", func() bool {
			got, err := deploymentOf(t, c, d, spec)
			return err == nil && got.UID != dep.UID
		})
	})
	t.Run("edited deployment", func(t *testing.T) {
		dep := mustDeployment(t, c, d, spec)
		dep.Spec.Template.Spec.Containers[0].Image = "evil.example/miner:latest"
		replicas := int32(7)
		dep.Spec.Replicas = &replicas
		if err := c.Update(t.Context(), dep); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the image and replicas to be restored", func() bool {
			got := mustDeployment(t, c, d, spec)
			return got.Spec.Template.Spec.Containers[0].Image == spec.Artifact && *got.Spec.Replicas == 1
		})
	})
	t.Run("deleted network policy and secret", func(t *testing.T) {
		for _, obj := range []client.Object{
			&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "platform-ingress", Namespace: ns}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "platform-mesh", Namespace: ns}},
		} {
			if err := c.Delete(t.Context(), obj); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the "+obj.GetName()+" to come back", func() bool {
				return c.Get(t.Context(), client.ObjectKeyFromObject(obj), obj) == nil
			})
		}
	})
	// Keys added to maps that must be exact: an env var every instance would get, a quota
	// limit, a label that exempts pods from the network policy.
	t.Run("added secret key", func(t *testing.T) {
		var s corev1.Secret
		mustGet(t, c, ns, "platform-mesh", &s)
		s.Data["HTTP_PROXY"] = []byte("http://evil.example:3128")
		if err := c.Update(t.Context(), &s); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the added key to be removed", func() bool {
			mustGet(t, c, ns, "platform-mesh", &s)
			return slices.Equal(keys(s.Data), keys(spec.NamespaceEnv))
		})
	})
	t.Run("added quota limit", func(t *testing.T) {
		var q corev1.ResourceQuota
		mustGet(t, c, ns, "platform", &q)
		q.Spec.Hard["count/configmaps"] = resource.MustParse("0")
		if err := c.Update(t.Context(), &q); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the added limit to be removed", func() bool {
			mustGet(t, c, ns, "platform", &q)
			_, ok := q.Spec.Hard["count/configmaps"]
			return !ok && len(q.Spec.Hard) == 6
		})
	})
	t.Run("narrowed network policy", func(t *testing.T) {
		var np networkingv1.NetworkPolicy
		mustGet(t, c, ns, "platform-ingress", &np)
		np.Spec.PodSelector.MatchLabels = map[string]string{"exempt": "no"}
		if err := c.Update(t.Context(), &np); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the policy to select every pod again", func() bool {
			mustGet(t, c, ns, "platform-ingress", &np)
			return len(np.Spec.PodSelector.MatchLabels) == 0 && len(np.Spec.PodSelector.MatchExpressions) == 0
		})
	})
	t.Run("next Start restores too", func(t *testing.T) {
		_ = d.Close() // no watches: only Start can restore
		d2 := newDriver(t, d.opts)
		dep := mustDeployment(t, c, d2, spec)
		if err := c.Delete(t.Context(), dep); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the deployment to be restored by Start", func() bool {
			mustStart(t, d2, spec)
			got, err := deploymentOf(t, c, d2, spec)
			return err == nil && got.UID != dep.UID
		})
	})
}

func TestPlatformRestartReadopts(t *testing.T) {
	var n counter
	cfg := n.count(kubetest.Config(t))
	d1 := newDriver(t, kubernetes.Options{Config: cfg})
	c := adminClient(t)
	a, b := workload("acme", "hello"), workload("beta", "world")
	b.Replicas = 2
	mustStart(t, d1, a)
	mustStart(t, d1, b)
	_ = d1.Close()
	// An owned Deployment without its spec annotation (written by hand, or by a broken
	// version) cannot be adopted: the restarted driver removes it.
	broken := mustDeployment(t, c, d1, a).DeepCopy()
	broken.ObjectMeta = metav1.ObjectMeta{Name: "broken", Namespace: broken.Namespace, Labels: broken.Labels}
	broken.Labels[kubernetes.LabelRelease] = "r-broken"
	broken.Spec.Selector.MatchLabels[kubernetes.LabelRelease] = "r-broken"
	broken.Spec.Template.Labels[kubernetes.LabelRelease] = "r-broken"
	if err := c.Create(t.Context(), broken); err != nil {
		t.Fatal(err)
	}

	d2 := newDriver(t, kubernetes.Options{Config: cfg, Owner: d1.opts.Owner, NamespacePrefix: d1.opts.NamespacePrefix})
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(broken), broken); !apierrors.IsNotFound(err) {
		t.Errorf("un-adoptable deployment after Recover: %v, want deleted", err)
	}
	list, err := d2.List(t.Context())
	if err != nil || len(list) != 2 {
		t.Fatalf("List after restart = %d workloads, %v; want 2", len(list), err)
	}
	for _, want := range []runtime.WorkloadSpec{a, b} {
		st, err := d2.Inspect(t.Context(), want.ID)
		if err != nil {
			t.Fatalf("Inspect %s: %v", want.ID, err)
		}
		got := st.Spec
		if got.Artifact != want.Artifact || got.Replicas != want.Replicas || got.Env["GREETING"] != want.Env["GREETING"] ||
			got.NamespaceEnv["MICRO_REGISTRY_ADDRESS"] != want.NamespaceEnv["MICRO_REGISTRY_ADDRESS"] {
			t.Errorf("re-adopted spec = %+v, want %+v", got, want)
		}
	}
	waitFor(t, "the cache to see the deletion", func() bool {
		_, err := d2.Inspect(t.Context(), "r-broken")
		return platform.ErrorCode(err) == platform.ENOTFOUND
	})
	at := writes(n.snapshot())
	mustStart(t, d2, a)
	mustStart(t, d2, b)
	if w := writes(n.snapshot()) - at; w != 0 {
		t.Errorf("Start of the re-adopted workloads wrote %d times, want 0", w)
	}
	if dep := mustDeployment(t, c, d2, b); *dep.Spec.Replicas != 2 {
		t.Errorf("replicas = %d, want 2", *dep.Spec.Replicas)
	}
	if err := d2.Stop(t.Context(), a.ID, time.Second); err != nil {
		t.Fatalf("Stop a re-adopted workload: %v", err)
	}
	if _, err := deploymentOf(t, c, d2, a); !apierrors.IsNotFound(err) {
		t.Errorf("deployment after Stop: %v, want gone", err)
	}
}
