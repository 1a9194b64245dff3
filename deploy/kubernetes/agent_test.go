package kubernetes_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"github.com/micro/platform/internal/kubetest"
)

// The region agent's base, deploy/kubernetes/agent, which platform infra apply installs
// in every region but the control region (infra/modules/agent).
const (
	agentDir      = "agent"
	agentGolden   = "testdata/agent-rendered.yaml"
	agentTemplate = "../../infra/modules/agent/install.yaml.tftpl"
)

// agentTemplateHeader starts agentTemplate.
const agentTemplateHeader = "# Generated from deploy/kubernetes/agent by `go test ./deploy/kubernetes -run TestAgentInstallTemplate -update`\n" +
	"# (kubectl kustomize, with the values a region varies as template variables). Do not edit.\n"

// agentTemplateVars lists what the agent module varies per region (see templateVars).
var agentTemplateVars = []struct {
	literal, tmpl string
	count         int
}{
	{"registry.example.com/micro-platform/platform:v0.1.0", "${image}", 1},
	{"registry: registry.example.com/micro-platform/services", "registry: ${registry}", 1},
	// Quoted: a region called "on" or "no" would be a YAML boolean.
	{"- name: PLATFORM_REGION_NAME\n          value: fra1\n", "- name: PLATFORM_REGION_NAME\n          value: \"${region}\"\n", 1},
	{"value: https://platform.example.com\n", "value: \"${control_url}\"\n", 1},
	{`micro-platform/region-token-sha256: ""`, `micro-platform/region-token-sha256: "${region_token_sha256}"`, 1},
}

var agentConfigMapName = regexp.MustCompile(`platform-agent-config-[a-z0-9]{10}\b`)

func TestAgentRenderMatchesGolden(t *testing.T) {
	matchFile(t, agentGolden, renderDir(t, agentDir), "TestAgentRenderMatchesGolden")
}

// TestAgentInstallTemplate keeps the agent module's install.yaml.tftpl in step with the
// agent's base, as TestInstallTemplate does the platform module's.
func TestAgentInstallTemplate(t *testing.T) {
	want, err := makeTemplate(renderDir(t, agentDir), agentTemplateHeader, agentTemplateVars, agentConfigMapName, "platform-agent-config-${config_hash}")
	if err != nil {
		t.Fatal(err)
	}
	matchFile(t, agentTemplate, []byte(want), "TestAgentInstallTemplate")
}

func TestAgentRenderedObjects(t *testing.T) {
	objs := decode(t, renderDir(t, agentDir))
	var keys []string
	var cm string
	for _, o := range objs {
		if o.GetKind() != "Namespace" && !strings.HasPrefix(o.GetKind(), "Cluster") && o.GetNamespace() != "micro-platform" {
			t.Errorf("%s is in namespace %q, want micro-platform", key(o), o.GetNamespace())
		}
		if o.GetKind() == "ConfigMap" && strings.HasPrefix(o.GetName(), "platform-agent-config-") {
			cm = o.GetName()
			continue
		}
		keys = append(keys, key(o))
	}
	slices.Sort(keys)
	want := []string{
		"ClusterRole/platform-agent", "ClusterRoleBinding/platform-agent", "Deployment/platform-agent",
		"Namespace/micro-platform", "NetworkPolicy/platform-agent", "PersistentVolumeClaim/platform-agent-data",
		"Service/platform-agent", "ServiceAccount/platform-agent",
		"ValidatingAdmissionPolicy/platform-agent-scope", "ValidatingAdmissionPolicyBinding/platform-agent-scope",
	}
	if !slices.Equal(keys, want) || cm == "" {
		t.Fatalf("rendered objects:\n  %v\nwant (and one ConfigMap/platform-agent-config-<hash>):\n  %v", keys, want)
	}
	dep := find(t, objs, "Deployment", "platform-agent")
	pod, _, _ := unstructured.NestedMap(dep.Object, "spec", "template", "spec")
	cs, _, _ := unstructured.NestedSlice(pod, "containers")
	if len(cs) != 1 {
		t.Fatalf("%d containers, want 1", len(cs))
	}
	c := cs[0].(map[string]any)

	t.Run("runs the agent of the named region against the control plane", func(t *testing.T) {
		want := `["agent","--config=/etc/platform/platform.yaml","--region=$(PLATFORM_REGION_NAME)","--control=$(PLATFORM_CONTROL_URL)","--gateway-addr=0.0.0.0:8081"]`
		if got := mustJSON(t, c["args"]); got != want {
			t.Errorf("args = %s, want %s", got, want)
		}
		env := mustJSON(t, c["env"])
		for _, e := range []string{
			`{"name":"PLATFORM_REGION_NAME","value":"fra1"}`,
			`{"name":"PLATFORM_CONTROL_URL","value":"https://platform.example.com"}`,
			`{"name":"PLATFORM_REGION_TOKEN","valueFrom":{"secretKeyRef":{"key":"token","name":"platform-region-token"}}}`,
		} {
			if !strings.Contains(env, e) {
				t.Errorf("env lacks %s: %s", e, env)
			}
		}
		if strings.Contains(mustJSON(t, c["args"]), "TOKEN") {
			t.Error("the token is on the command line")
		}
		if s, _, _ := unstructured.NestedString(dep.Object, "spec", "strategy", "type"); s != "Recreate" {
			t.Errorf("strategy %q, want Recreate", s)
		}
		if n, _, _ := unstructured.NestedFieldNoCopy(dep.Object, "spec", "replicas"); mustJSON(t, n) != "1" {
			t.Errorf("%v replicas, want 1", n)
		}
	})
	t.Run("config", func(t *testing.T) {
		conf, _, _ := unstructured.NestedString(find(t, objs, "ConfigMap", cm).Object, "data", "platform.yaml")
		for _, line := range []string{
			"runtime: kubernetes", "data: /var/lib/platform", "nats_host: 0.0.0.0", "nats_port: 4222",
			"nats_advertise: platform-agent.micro-platform.svc:4222", "kube_mesh_namespace: micro-platform",
			"registry: registry.example.com/micro-platform/services", "kube_namespace_prefix: mp-",
		} {
			if !strings.Contains(conf, "\n"+line+"\n") {
				t.Errorf("the agent's platform.yaml lacks %q", line)
			}
		}
		vols := mustJSON(t, pod["volumes"])
		for _, v := range []string{`"name":"` + cm + `"`, `"claimName":"platform-agent-data"`} {
			if !strings.Contains(vols, v) {
				t.Errorf("the Deployment's volumes lack %s: %s", v, vols)
			}
		}
	})
	t.Run("hardened", func(t *testing.T) {
		if nonRoot, _, _ := unstructured.NestedBool(pod, "securityContext", "runAsNonRoot"); !nonRoot {
			t.Error("pod securityContext.runAsNonRoot is not true")
		}
		if sa, _ := pod["serviceAccountName"].(string); sa != "platform-agent" {
			t.Errorf("runs as %q, want platform-agent", sa)
		}
		if ro, _, _ := unstructured.NestedBool(c, "securityContext", "readOnlyRootFilesystem"); !ro {
			t.Error("readOnlyRootFilesystem is not true")
		}
		if esc, ok, _ := unstructured.NestedBool(c, "securityContext", "allowPrivilegeEscalation"); !ok || esc {
			t.Error("allowPrivilegeEscalation is not false")
		}
		for _, p := range []string{"startupProbe", "livenessProbe", "readinessProbe"} {
			if c[p] == nil {
				t.Errorf("no %s", p)
			}
		}
		for _, r := range []string{"cpu", "memory"} {
			if _, ok, _ := unstructured.NestedString(c, "resources", "limits", r); !ok {
				t.Errorf("no %s limit", r)
			}
		}
	})
	t.Run("service and network policy", func(t *testing.T) {
		svc := mustJSON(t, find(t, objs, "Service", "platform-agent").Object)
		for _, p := range []string{`{"name":"http","port":8081,"targetPort":"http"}`, `{"name":"nats","port":4222,"targetPort":"nats"}`} {
			if !strings.Contains(svc, p) {
				t.Errorf("Service lacks port %s: %s", p, svc)
			}
		}
		if strings.Contains(svc, `"type"`) {
			t.Errorf("Service sets a type, want ClusterIP (the default): %s", svc)
		}
		np := mustJSON(t, find(t, objs, "NetworkPolicy", "platform-agent").Object)
		if !strings.Contains(np, `[{"port":"http","protocol":"TCP"},{"port":"nats","protocol":"TCP"}]`) {
			t.Errorf("NetworkPolicy does not admit exactly the gateway and NATS: %s", np)
		}
	})
}

// TestAgentRBACIsTheControlPlanes: the agent runs the same driver as the control plane,
// so its ClusterRole grants exactly the listed rules (allowed), no more.
func TestAgentRBACIsTheControlPlanes(t *testing.T) {
	objs := decode(t, renderDir(t, agentDir))
	role := find(t, objs, "ClusterRole", "platform-agent")
	base := find(t, decode(t, render(t)), "ClusterRole", "micro-platform")
	got, _, _ := unstructured.NestedSlice(role.Object, "rules")
	want, _, _ := unstructured.NestedSlice(base.Object, "rules")
	if mustJSON(t, got) != mustJSON(t, want) {
		t.Errorf("the agent's ClusterRole rules differ from the control plane's:\n got %s\nwant %s", mustJSON(t, got), mustJSON(t, want))
	}
	binding := mustJSON(t, find(t, objs, "ClusterRoleBinding", "platform-agent").Object)
	if !strings.Contains(binding, `"subjects":[{"kind":"ServiceAccount","name":"platform-agent","namespace":"micro-platform"}]`) ||
		!strings.Contains(binding, `"name":"platform-agent"}`) {
		t.Errorf("ClusterRoleBinding does not bind platform-agent to its role: %s", binding)
	}
}

// TestAgentApplyToAPIServer applies the agent's base to a real kube-apiserver beside the
// control plane's (they share the namespace): accepted with no warning, every object
// stored, applying again changes nothing; and asks the API server what the agent's
// service account may do.
func TestAgentApplyToAPIServer(t *testing.T) {
	kubeconfig, _ := mustApply(t) // the namespace and the control plane's objects
	rendered := renderDir(t, agentDir)
	if _, stderr, err := kubectlApply(t, kubeconfig, rendered); err != nil || stderr != "" {
		t.Fatalf("kubectl apply --server-side of the agent's base: %v\n%s", err, stderr)
	}
	cmd := exec.Command(kubetest.Kubectl(t), "--kubeconfig", kubeconfig, "get", "-f", "-", "-o", "json")
	cmd.Stdin = bytes.NewReader(rendered)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl get the agent's objects: %v", err)
	}
	var list struct{ Items []map[string]any }
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatal(err)
	}
	if want := len(decode(t, rendered)); len(list.Items) != want {
		t.Fatalf("API server holds %d of the agent's %d objects", len(list.Items), want)
	}
	diff := exec.Command(kubetest.Kubectl(t), "--kubeconfig", kubeconfig, "diff", "--server-side", "--field-manager=micro-platform-install", "-f", "-")
	diff.Stdin = bytes.NewReader(rendered)
	if out, err := diff.CombinedOutput(); err != nil {
		t.Fatalf("kubectl diff after applying the agent's base is not empty: %v\n%s", err, out)
	}

	cs, err := kubernetes.NewForConfig(kubetest.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tt := range []struct {
		name string
		attr authorizationv1.ResourceAttributes
		want bool
	}{
		{"create a deployment in a platform namespace", authorizationv1.ResourceAttributes{Namespace: "mp-acme", Verb: "create", Group: "apps", Resource: "deployments"}, true},
		{"read pod logs", authorizationv1.ResourceAttributes{Namespace: "mp-acme", Verb: "get", Resource: "pods", Subresource: "log"}, true},
		{"get a pod", authorizationv1.ResourceAttributes{Namespace: "mp-acme", Verb: "get", Resource: "pods", Name: "x"}, false},
		{"delete a namespace", authorizationv1.ResourceAttributes{Verb: "delete", Resource: "namespaces", Name: "kube-system"}, false},
		{"create a role binding", authorizationv1.ResourceAttributes{Namespace: "mp-acme", Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "rolebindings"}, false},
		{"exec into a pod", authorizationv1.ResourceAttributes{Namespace: "mp-acme", Verb: "create", Resource: "pods", Subresource: "exec"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			attr := tt.attr
			sar, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
				Spec: authorizationv1.SubjectAccessReviewSpec{
					User:               "system:serviceaccount:micro-platform:platform-agent",
					Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:micro-platform", "system:authenticated"},
					ResourceAttributes: &attr,
				},
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if sar.Status.Allowed != tt.want {
				t.Errorf("allowed = %v, want %v (%s)", sar.Status.Allowed, tt.want, sar.Status.Reason)
			}
		})
	}
}
