package kubernetes_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/micro/platform/runtime/kubernetes"
)

// TestNamespaceIsolation deploys to two platform namespaces and checks that nothing in
// A's Kubernetes namespace carries B's credentials, env, quota or labels, and that the
// service account A's pods run as may read nothing through the API server.
func TestNamespaceIsolation(t *testing.T) {
	const registryHost = "registry.example:5000"
	pull := func(ns string) (string, string, string, bool) {
		return registryHost, "pull-" + ns, "password-of-" + ns, true
	}
	d := newDriver(t, kubernetes.Options{PullCredential: pull})
	c := adminClient(t)
	a, b := workload("acme", "hello"), workload("beta", "hello")
	mustStart(t, d, a)
	mustStart(t, d, b)
	nsA, nsB := d.opts.NamespacePrefix+"acme", d.opts.NamespacePrefix+"beta"

	t.Run("objects of A carry nothing of B", func(t *testing.T) {
		leaks := []string{"secret-of-beta", "hello from beta", nsB}
		lists := []client.ObjectList{&appsv1.DeploymentList{}, &corev1.SecretList{}, &corev1.ServiceList{}, &corev1.ResourceQuotaList{},
			&corev1.LimitRangeList{}, &networkingv1.NetworkPolicyList{}, &corev1.ServiceAccountList{}, &corev1.ConfigMapList{}}
		for _, list := range lists {
			if err := c.List(t.Context(), list, client.InNamespace(nsA)); err != nil {
				t.Fatal(err)
			}
			raw, err := json.Marshal(list)
			if err != nil {
				t.Fatal(err)
			}
			for _, leak := range leaks {
				if strings.Contains(string(raw), leak) {
					t.Errorf("%T in %s contains %q", list, nsA, leak)
				}
			}
			if !strings.Contains(string(raw), `"`+kubernetes.LabelNamespace+`":"acme"`) && lenOfAny(list) > 0 {
				t.Errorf("%T in %s lacks the label %s=acme", list, nsA, kubernetes.LabelNamespace)
			}
			if strings.Contains(string(raw), `"`+kubernetes.LabelNamespace+`":"beta"`) {
				t.Errorf("%T in %s carries B's namespace label", list, nsA)
			}
		}
		var mesh corev1.Secret
		mustGet(t, c, nsA, "platform-mesh", &mesh)
		if string(mesh.Data["MICRO_REGISTRY_ADDRESS"]) != a.NamespaceEnv["MICRO_REGISTRY_ADDRESS"] {
			t.Errorf("A's mesh secret holds %q, want A's credentials", mesh.Data["MICRO_REGISTRY_ADDRESS"])
		}
		var quotas corev1.ResourceQuotaList
		if err := c.List(t.Context(), &quotas, client.InNamespace(nsA)); err != nil || len(quotas.Items) != 1 {
			t.Errorf("A has %d quotas (%v), want exactly its own", len(quotas.Items), err)
		}
		dep := mustDeployment(t, c, d, a)
		for _, from := range dep.Spec.Template.Spec.Containers[0].EnvFrom {
			var s corev1.Secret
			mustGet(t, c, nsA, from.SecretRef.Name, &s) // envFrom can only name secrets of the pod's own namespace
			if s.Labels[kubernetes.LabelNamespace] != "acme" {
				t.Errorf("A's pods take env from %s labelled %v", s.Name, s.Labels)
			}
		}
	})

	t.Run("A pulls with A's credential only", func(t *testing.T) {
		var secrets corev1.SecretList
		if err := c.List(t.Context(), &secrets, client.InNamespace(nsA)); err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets.Items {
			for k, v := range s.Data {
				if strings.Contains(string(v), "password-of-beta") || strings.Contains(string(v), "pull-beta") {
					t.Errorf("secret %s/%s key %s holds B's pull credential", nsA, s.Name, k)
				}
			}
		}
		var ps corev1.Secret
		mustGet(t, c, nsA, "platform-pull", &ps)
		if ps.Type != corev1.SecretTypeDockerConfigJson {
			t.Errorf("pull secret type = %s, want %s", ps.Type, corev1.SecretTypeDockerConfigJson)
		}
		var config struct {
			Auths map[string]struct{ Username, Password, Auth string } `json:"auths"`
		}
		if err := json.Unmarshal(ps.Data[corev1.DockerConfigJsonKey], &config); err != nil {
			t.Fatalf("pull secret: %v", err)
		}
		got, ok := config.Auths[registryHost]
		if len(config.Auths) != 1 || !ok || got.Username != "pull-acme" || got.Password != "password-of-acme" ||
			got.Auth != base64.StdEncoding.EncodeToString([]byte("pull-acme:password-of-acme")) {
			t.Errorf("pull secret auths = %+v, want A's credential for %s only", config.Auths, registryHost)
		}
		dep := mustDeployment(t, c, d, a)
		if refs := dep.Spec.Template.Spec.ImagePullSecrets; len(refs) != 1 || refs[0].Name != "platform-pull" {
			t.Errorf("A's pod template imagePullSecrets = %v, want [platform-pull]", refs)
		}
	})

	t.Run("namespace enforces the restricted pod security standard", func(t *testing.T) {
		dep := mustDeployment(t, c, d, a)
		ok := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "platform-shaped", Namespace: nsA}, Spec: *dep.Spec.Template.Spec.DeepCopy()}
		if err := c.Create(t.Context(), ok, client.DryRunAll); err != nil {
			t.Errorf("a pod as the driver makes them is refused: %v", err)
		}
		root := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "privileged", Namespace: nsA},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		if err := c.Create(t.Context(), root, client.DryRunAll); !apierrors.IsForbidden(err) {
			t.Errorf("a pod that may run as root is admitted (%v), want forbidden by pod security", err)
		}
	})

	t.Run("service account of A has no RBAC", func(t *testing.T) {
		dep := mustDeployment(t, c, d, a)
		pod := dep.Spec.Template.Spec
		if *pod.AutomountServiceAccountToken {
			t.Error("pods of A mount a service-account token")
		}
		user := fmt.Sprintf("system:serviceaccount:%s:%s", nsA, pod.ServiceAccountName)
		groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + nsA, "system:authenticated"}
		for _, ns := range []string{nsA, nsB, ""} {
			for _, res := range []string{"secrets", "pods", "configmaps", "services", "serviceaccounts"} {
				for _, verb := range []string{"get", "list", "watch"} {
					if allowed(t, c, user, groups, verb, "", res, ns) {
						t.Errorf("%s may %s %s in %q", user, verb, res, ns)
					}
				}
			}
		}
		for _, res := range []string{"deployments", "replicasets"} {
			if allowed(t, c, user, groups, "list", "apps", res, nsA) {
				t.Errorf("%s may list %s", user, res)
			}
		}
		// The same review says yes to a cluster admin, so a "no" above is the API
		// server's RBAC answering, not a review that cannot say yes.
		if !allowed(t, c, "admin", []string{"system:masters"}, "get", "", "secrets", nsA) {
			t.Fatal("SubjectAccessReview denies system:masters: the check cannot tell anything")
		}
	})
}

// allowed asks the API server whether user in groups may verb group/resource in ns.
func allowed(t *testing.T, c client.Client, user string, groups []string, verb, group, resource, ns string) bool {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user, Groups: groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Group: group, Resource: resource},
	}}
	if err := c.Create(t.Context(), sar); err != nil {
		t.Fatalf("SubjectAccessReview: %v", err)
	}
	return sar.Status.Allowed
}

func lenOfAny(list client.ObjectList) int {
	raw, _ := json.Marshal(list)
	var v struct {
		Items []json.RawMessage `json:"items"`
	}
	_ = json.Unmarshal(raw, &v)
	return len(v.Items)
}
