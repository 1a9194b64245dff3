package kubernetes_test

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/micro/platform/internal/kubetest"
)

const ownerLabel = "platform.micro.mu/owner"

// TestAdmissionPolicyConfinesWrites acts as the control plane's and the agent's service
// accounts against the API server holding both bases: their ValidatingAdmissionPolicy
// lets them write what the runtime driver writes (objects with the owner label, in
// namespaces with it, namespaces under the restricted Pod Security Standard, pods as the
// default service account without a token) and refuses what RBAC alone would allow
// anywhere else.
func TestAdmissionPolicyConfinesWrites(t *testing.T) {
	kubeconfig, _ := mustApply(t)
	if _, stderr, err := kubectlApply(t, kubeconfig, renderDir(t, agentDir)); err != nil || stderr != "" {
		t.Fatalf("kubectl apply --server-side of the agent's base: %v\n%s", err, stderr)
	}
	admin, err := kubernetes.NewForConfig(kubetest.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A namespace of someone else's, with a NetworkPolicy the platform must not touch.
	foreign := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "adm-foreign"}}
	if _, err := admin.CoreV1().Namespaces().Create(ctx, foreign, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	policy := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: "adm-foreign", Labels: map[string]string{ownerLabel: "platform"}}}
	if _, err := admin.NetworkingV1().NetworkPolicies("adm-foreign").Create(ctx, policy, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, sa := range []string{"platform", "platform-agent"} {
		t.Run(sa, func(t *testing.T) {
			cfg := rest.CopyConfig(kubetest.Config(t))
			cfg.Impersonate = rest.ImpersonationConfig{
				UserName: "system:serviceaccount:micro-platform:" + sa,
				Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:micro-platform", "system:authenticated"},
			}
			as, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ns := "mp-adm-" + sa
			owned := map[string]string{ownerLabel: "platform"}
			restricted := map[string]string{ownerLabel: "platform", "pod-security.kubernetes.io/enforce": "restricted"}
			// The policy takes effect once the API server has loaded it.
			waitRefused(ctx, t, func() error {
				n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "adm-unlabelled-" + sa}}
				_, err := as.CoreV1().Namespaces().Create(ctx, n, metav1.CreateOptions{})
				if err == nil {
					_ = admin.CoreV1().Namespaces().Delete(ctx, n.Name, metav1.DeleteOptions{})
				}
				return err
			})
			secret := func(namespace string, labels map[string]string) error {
				_, err := as.CoreV1().Secrets(namespace).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{GenerateName: "s-", Labels: labels}}, metav1.CreateOptions{})
				return err
			}
			deployment := func(account string, automount bool) error {
				d := &appsv1.Deployment{
					ObjectMeta: metav1.ObjectMeta{GenerateName: "d-", Labels: owned},
					Spec: appsv1.DeploymentSpec{
						Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}},
						Template: corev1.PodTemplateSpec{
							ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}},
							Spec: corev1.PodSpec{
								ServiceAccountName: account, AutomountServiceAccountToken: &automount,
								Containers: []corev1.Container{{Name: "x", Image: "registry.invalid/x:v1"}},
							},
						},
					},
				}
				_, err := as.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
				return err
			}
			for _, tt := range []struct {
				name    string
				do      func() error
				allowed bool
			}{
				{"create its namespace, owned and restricted", func() error {
					_, err := as.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: restricted}}, metav1.CreateOptions{})
					return err
				}, true},
				{"create an owned namespace without the restricted standard", func() error {
					_, err := as.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns + "-open", Labels: owned}}, metav1.CreateOptions{})
					return err
				}, false},
				{"relax its namespace's standard", func() error {
					_, err := as.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, []byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"privileged"}}}`), metav1.PatchOptions{})
					return err
				}, false},
				{"label another namespace as its own", func() error {
					_, err := as.CoreV1().Namespaces().Patch(ctx, "adm-foreign", types.MergePatchType, []byte(`{"metadata":{"labels":{"`+ownerLabel+`":"platform","pod-security.kubernetes.io/enforce":"restricted"}}}`), metav1.PatchOptions{})
					return err
				}, false},
				{"create an owned Secret in its namespace", func() error { return secret(ns, owned) }, true},
				{"create an unlabelled Secret in its namespace", func() error { return secret(ns, nil) }, false},
				{"create an owned Secret in kube-system", func() error { return secret("kube-system", owned) }, false},
				{"create an owned Secret in its own home namespace", func() error { return secret("micro-platform", owned) }, false},
				{"delete a NetworkPolicy of another namespace", func() error {
					return as.NetworkingV1().NetworkPolicies("adm-foreign").Delete(ctx, "theirs", metav1.DeleteOptions{})
				}, false},
				{"create a Deployment as the default account, no token", func() error { return deployment("default", false) }, true},
				{"create a Deployment that mounts a token", func() error { return deployment("default", true) }, false},
				{"create a Deployment as another account", func() error { return deployment("builder", false) }, false},
			} {
				t.Run(tt.name, func(t *testing.T) {
					err := tt.do()
					switch {
					case tt.allowed && err != nil && !apierrors.IsAlreadyExists(err):
						t.Errorf("refused: %v", err)
					case !tt.allowed && err == nil:
						t.Error("allowed")
					case !tt.allowed && !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err):
						t.Errorf("refused, but not by admission: %v", err)
					case !tt.allowed && !strings.Contains(err.Error(), "ValidatingAdmissionPolicy"):
						t.Errorf("refused, but not by the policy: %v", err)
					}
				})
			}
		})
	}
}

// waitRefused retries do until the API server refuses it (the policy is loaded).
func waitRefused(ctx context.Context, t *testing.T, do func() error) {
	t.Helper()
	for {
		err := do()
		if err != nil && strings.Contains(err.Error(), "ValidatingAdmissionPolicy") {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the admission policy never refused the service account: last %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
