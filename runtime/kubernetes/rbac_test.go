package kubernetes_test

import (
	"context"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/kubetest"
	"github.com/micro/platform/runtime/kubernetes"
)

// leastRights is the ClusterRole deploy/kubernetes gives the control plane (its
// manifests_test.go pins the same list): the driver must work with it and no more.
var leastRights = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch", "create", "patch"}},
	{APIGroups: []string{""}, Resources: []string{"services", "secrets", "resourcequotas", "limitranges"},
		Verbs: []string{"get", "list", "watch", "create", "patch", "delete"}},
	{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch", "create", "patch", "delete"}},
	{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: []string{"get", "list", "watch", "create", "patch", "delete"}},
	{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "watch"}},
	{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
	{APIGroups: []string{"metrics.k8s.io"}, Resources: []string{"pods"}, Verbs: []string{"list"}},
}

// TestLeastRightsSimulatedKubelet runs a workload's whole life with a driver that has only
// leastRights: deploy, restore a hand-deleted Deployment, logs, stop and re-adoption.
func TestLeastRightsSimulatedKubelet(t *testing.T) {
	kubetest.Config(t)
	c := adminClient(t)
	owner := unique("rbac")
	user, err := kubetest.Environment().AddUser(envtest.User{Name: "platform-" + owner}, nil)
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: owner}, Rules: leastRights}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: owner},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: owner},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "platform-" + owner}},
	}
	if err := c.Create(t.Context(), role); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(t.Context(), binding); err != nil {
		t.Fatal(err)
	}
	startSimKubelet(t, owner, 3)
	opts := kubernetes.Options{Config: user.Config(), Owner: owner, StopGrace: time.Second}
	d := newDriver(t, opts)

	spec := workload("acme", "hello")
	spec.Artifact = "registry.invalid/conformance/serve:v1"
	mustStart(t, d, spec)
	waitFor(t, "a running instance", func() bool {
		st, err := d.Inspect(t.Context(), spec.ID)
		return err == nil && st.Running() == 1
	})
	dep := mustDeployment(t, c, d, spec)
	if err := c.Delete(t.Context(), dep); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deployment to be restored", func() bool {
		got, err := deploymentOf(t, c, d, spec)
		return err == nil && got.UID != dep.UID
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ch, err := d.Logs(ctx, platform.LogQuery{Namespace: "acme", Service: "hello", Tail: -1})
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	var lines []string
	for e := range ch {
		lines = append(lines, e.Line)
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "started ") {
		t.Errorf("logs = %q, want the instance's output", lines)
	}
	_ = d.Close()

	d2 := newDriver(t, opts)
	if st, err := d2.Inspect(t.Context(), spec.ID); err != nil || st.Spec.Env["GREETING"] != spec.Env["GREETING"] {
		t.Fatalf("re-adopted workload = %+v, %v", st, err)
	}
	if err := d2.Stop(t.Context(), spec.ID, time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if list, err := d2.List(t.Context()); err != nil || len(list) != 0 {
		t.Errorf("List after Stop = %v, %v; want nothing", list, err)
	}
}
