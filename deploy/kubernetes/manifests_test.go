package kubernetes_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/micro/platform/internal/kubetest"
	"github.com/micro/platform/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/rendered.yaml and the platform module's install.yaml.tftpl")

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

const golden = "testdata/rendered.yaml"

// render runs `kubectl kustomize` on this directory, as an operator would.
func render(t *testing.T) []byte {
	t.Helper()
	return renderDir(t, ".")
}

// renderDir runs `kubectl kustomize` on dir.
func renderDir(t *testing.T, dir string) []byte {
	t.Helper()
	if testing.Short() {
		t.Skip("needs kubectl from scripts/build-k8s; skipped under -short")
	}
	out, err := exec.Command(kubetest.Kubectl(t), "kustomize", dir).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("kubectl kustomize: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	return out
}

// decode splits rendered YAML into objects.
func decode(t *testing.T, b []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return objs
		} else if err != nil {
			t.Fatalf("decode rendered manifests: %v", err)
		}
		if m != nil {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
}

func key(o *unstructured.Unstructured) string { return o.GetKind() + "/" + o.GetName() }

// find returns the object kind/name, failing the test when it is missing.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("rendered manifests have no %s/%s", kind, name)
	return nil
}

func TestRenderMatchesGolden(t *testing.T) {
	matchFile(t, golden, render(t), "TestRenderMatchesGolden")
}

// matchFile fails t unless the file at path holds got; with -update it writes got there
// first. test names the test to run with -update after a review.
func matchFile(t *testing.T, path string, got []byte, test string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not what the base renders to; review and run `go test ./deploy/kubernetes -run %s -update`:\n%s", path, test, testenv.FirstDiff(string(want), string(got)))
	}
}

// installTemplate is the manifest the Terraform platform module applies to a region's
// cluster: this base, rendered, with the values a region varies made template variables.
const installTemplate = "../../infra/modules/platform/install.yaml.tftpl"

// installTemplateHeader starts installTemplate. It is a YAML comment, so it is harmless in
// the applied manifest.
const installTemplateHeader = "# Generated from deploy/kubernetes by `go test ./deploy/kubernetes -run TestInstallTemplate -update`\n" +
	"# (kubectl kustomize, with the values a region varies as template variables). Do not edit.\n"

// templateVars lists what the platform module varies per region: the literal in the
// rendered base, the template text that replaces it, and how often it must occur (so a
// change of the base that drops or duplicates one fails here, not in a cluster).
var templateVars = []struct {
	literal, tmpl string
	count         int
}{
	{"registry.example.com/micro-platform/platform:v0.1.0", "${image}", 2}, // control plane and mesh
	{"registry: registry.example.com/micro-platform/services", "registry: ${registry}", 1},
	{`gateway_domain: ""`, `gateway_domain: "${gateway_domain}"`, 1},
	{`local_region: local`, `local_region: "${region}"`, 1},
	{`micro-platform/region-tokens-sha256: ""`, `micro-platform/region-tokens-sha256: "${region_tokens_sha256}"`, 1},
}

// configMapName is the name kustomize's configMapGenerator gives the server config: its
// content hash changes with the values, so the template names it after a hash the module
// computes from them (config_hash), which rolls the Deployment the same way.
var configMapName = regexp.MustCompile(`platform-config-[a-z0-9]{10}\b`)

// toTemplate turns the rendered base into the platform module's template, as
// templatefile() reads it: existing ${ and %{ are escaped, then the values a region
// varies become variables.
func toTemplate(rendered []byte) (string, error) {
	return makeTemplate(rendered, installTemplateHeader, templateVars, configMapName, "platform-config-${config_hash}")
}

// makeTemplate turns a rendered base into a module's install template: existing ${ and %{
// escaped, each of vars' literals replaced by its template text (exactly count times),
// the config ConfigMap's generated name (configMap, twice: the object and the
// Deployment's volume) replaced by configMapTmpl, and header prepended.
func makeTemplate(rendered []byte, header string, vars []struct {
	literal, tmpl string
	count         int
}, configMap *regexp.Regexp, configMapTmpl string) (string, error) {
	s := strings.NewReplacer("${", "$${", "%{", "%%{").Replace(string(rendered))
	for _, v := range vars {
		if n := strings.Count(s, v.literal); n != v.count {
			return "", errors.New("rendered base has " + strconv.Itoa(n) + " of " + v.literal + ", want " + strconv.Itoa(v.count))
		}
		s = strings.ReplaceAll(s, v.literal, v.tmpl)
	}
	if n := len(configMap.FindAllString(s, -1)); n != 2 {
		return "", errors.New("rendered base names the config ConfigMap " + strconv.Itoa(n) + " times, want 2 (the object and the Deployment's volume)")
	}
	s = configMap.ReplaceAllLiteralString(s, configMapTmpl)
	if !strings.HasPrefix(s, "apiVersion: v1\nkind: Namespace\n") {
		return "", errors.New("the rendered base does not start with its Namespace: the module creates it first, from the first document")
	}
	return header + s, nil
}

// TestInstallTemplate keeps the platform module's install.yaml.tftpl in step with this
// base: it must be exactly the rendered base with the region's values as variables.
func TestInstallTemplate(t *testing.T) {
	want, err := toTemplate(render(t))
	if err != nil {
		t.Fatal(err)
	}
	matchFile(t, installTemplate, []byte(want), "TestInstallTemplate")
}

func TestRenderedObjects(t *testing.T) {
	objs := decode(t, render(t))
	var keys []string
	for _, o := range objs {
		keys = append(keys, key(o))
		if o.GetKind() != "Namespace" && !strings.HasPrefix(o.GetKind(), "Cluster") && o.GetNamespace() != "micro-platform" {
			t.Errorf("%s is in namespace %q, want micro-platform", key(o), o.GetNamespace())
		}
	}
	slices.Sort(keys)
	want := []string{
		"ClusterRole/micro-platform", "ClusterRoleBinding/micro-platform",
		"Deployment/platform", "Namespace/micro-platform",
		"NetworkPolicy/platform", "NetworkPolicy/platform-mesh", "PersistentVolumeClaim/platform-data",
		"Service/platform", "Service/platform-mesh", "ServiceAccount/platform",
		"StatefulSet/platform-mesh", "ValidatingAdmissionPolicy/micro-platform-scope", "ValidatingAdmissionPolicyBinding/micro-platform-scope",
	}
	var cm string
	keys = slices.DeleteFunc(keys, func(k string) bool {
		if strings.HasPrefix(k, "ConfigMap/platform-config-") {
			cm = strings.TrimPrefix(k, "ConfigMap/")
			return true
		}
		return false
	})
	if !slices.Equal(keys, want) {
		t.Fatalf("rendered objects:\n  %v\nwant (and one ConfigMap/platform-config-<hash>):\n  %v", keys, want)
	}
	if cm == "" {
		t.Fatal("no ConfigMap/platform-config-<hash>")
	}

	t.Run("server config", func(t *testing.T) {
		conf, _, _ := unstructured.NestedString(find(t, objs, "ConfigMap", cm).Object, "data", "platform.yaml")
		for _, line := range []string{
			"runtime: kubernetes", "addr: 0.0.0.0:8080", "nats_url: nats://platform-mesh:4222",
			"nats_advertise: platform-mesh.micro-platform.svc:4222", "kube_namespace_prefix: mp-",
			"registry: registry.example.com/micro-platform/services",
			"region_tokens_file: /etc/platform-regions/regions.json",
		} {
			if !strings.Contains(conf, "\n"+line+"\n") {
				t.Errorf("platform.yaml lacks %q", line)
			}
		}
		if strings.Contains(conf, "store:") {
			t.Error("platform.yaml sets store: the URL holds a password and comes from the platform-store Secret")
		}
		dep := find(t, objs, "Deployment", "platform")
		vols, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "volumes")
		if !strings.Contains(mustJSON(t, vols), `"name":"`+cm+`"`) {
			t.Errorf("the Deployment does not mount %s", cm)
		}
	})

	for _, w := range []struct{ kind, name, args string }{
		{"Deployment", "platform", `["server","--config","/etc/platform/platform.yaml"]`},
		{"StatefulSet", "platform-mesh", `["mesh","--data=/var/lib/platform-mesh","--listen=0.0.0.0:4222","--secret-file=/etc/platform/secret/secret.key","--log-format=json"]`},
	} {
		t.Run("hardened "+w.kind, func(t *testing.T) {
			o := find(t, objs, w.kind, w.name)
			pod, _, _ := unstructured.NestedMap(o.Object, "spec", "template", "spec")
			if nonRoot, _, _ := unstructured.NestedBool(pod, "securityContext", "runAsNonRoot"); !nonRoot {
				t.Error("pod securityContext.runAsNonRoot is not true")
			}
			cs, _, _ := unstructured.NestedSlice(pod, "containers")
			if len(cs) != 1 {
				t.Fatalf("%d containers, want 1", len(cs))
			}
			c := cs[0].(map[string]any)
			if got := mustJSON(t, c["args"]); got != w.args {
				t.Errorf("args = %s, want %s", got, w.args)
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
				if _, ok, _ := unstructured.NestedString(c, "resources", "requests", r); !ok {
					t.Errorf("no %s request", r)
				}
				if _, ok, _ := unstructured.NestedString(c, "resources", "limits", r); !ok {
					t.Errorf("no %s limit", r)
				}
			}
			if img, _ := c["image"].(string); !strings.HasPrefix(img, "registry.example.com/micro-platform/platform:") {
				t.Errorf("image = %q: kustomize's images: entry did not apply", img)
			}
		})
	}
	t.Run("region tokens file", func(t *testing.T) {
		// platform infra apply writes the Secret; a hand install has none, so it is optional.
		c := mustJSON(t, find(t, objs, "Deployment", "platform").Object)
		for _, p := range []string{
			`{"name":"region-tokens","secret":{"defaultMode":288,"optional":true,"secretName":"platform-region-tokens"}}`,
			`{"mountPath":"/etc/platform-regions","name":"region-tokens","readOnly":true}`,
			`"annotations":{"micro-platform/region-tokens-sha256":""}`,
		} {
			if !strings.Contains(c, p) {
				t.Errorf("Deployment lacks %s", p)
			}
		}
	})
	t.Run("probes", func(t *testing.T) {
		c := mustJSON(t, find(t, objs, "Deployment", "platform").Object)
		for _, p := range []string{`"readinessProbe":{"failureThreshold":2,"httpGet":{"path":"/readyz"`, `"livenessProbe":{"failureThreshold":3,"httpGet":{"path":"/healthz"`} {
			if !strings.Contains(c, p) {
				t.Errorf("Deployment lacks %s", p)
			}
		}
	})
	t.Run("only the control plane has a service account token", func(t *testing.T) {
		if a, _, _ := unstructured.NestedBool(find(t, objs, "StatefulSet", "platform-mesh").Object, "spec", "template", "spec", "automountServiceAccountToken"); a {
			t.Error("the mesh mounts a service account token")
		}
		if sa, _, _ := unstructured.NestedString(find(t, objs, "Deployment", "platform").Object, "spec", "template", "spec", "serviceAccountName"); sa != "platform" {
			t.Errorf("control plane runs as %q, want platform", sa)
		}
	})
}

// allowed is the whole of the control plane's RBAC: group/resource -> verbs. Every entry
// is explained in docs/deploy-kubernetes.md.
var allowed = map[string][]string{
	"/namespaces":                       {"get", "list", "watch", "create", "patch"},
	"/services":                         {"get", "list", "watch", "create", "patch", "delete"},
	"/secrets":                          {"get", "list", "watch", "create", "patch", "delete"},
	"/resourcequotas":                   {"get", "list", "watch", "create", "patch", "delete"},
	"/limitranges":                      {"get", "list", "watch", "create", "patch", "delete"},
	"apps/deployments":                  {"get", "list", "watch", "create", "patch", "delete"},
	"networking.k8s.io/networkpolicies": {"get", "list", "watch", "create", "patch", "delete"},
	"/pods":                             {"list", "watch"},
	"/pods/log":                         {"get"},
	"metrics.k8s.io/pods":               {"list"},
}

func TestRBACRulesAreTheListedOnes(t *testing.T) {
	role := find(t, decode(t, render(t)), "ClusterRole", "micro-platform")
	rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	got := map[string][]string{}
	for _, r := range rules {
		r := r.(map[string]any)
		if r["resourceNames"] != nil || r["nonResourceURLs"] != nil {
			t.Errorf("unexpected rule shape: %v", r)
		}
		groups, _, _ := unstructured.NestedStringSlice(r, "apiGroups")
		resources, _, _ := unstructured.NestedStringSlice(r, "resources")
		verbs, _, _ := unstructured.NestedStringSlice(r, "verbs")
		for _, s := range slices.Concat(groups, resources, verbs) {
			if strings.Contains(s, "*") {
				t.Errorf("wildcard %q in rule %v", s, r)
			}
		}
		for _, v := range verbs {
			if v == "escalate" || v == "bind" || v == "impersonate" {
				t.Errorf("verb %q in rule %v", v, r)
			}
		}
		for _, g := range groups {
			for _, res := range resources {
				k := g + "/" + res
				got[k] = append(got[k], verbs...)
			}
		}
	}
	for k, verbs := range got {
		want, ok := allowed[k]
		if !ok {
			t.Errorf("ClusterRole grants %s %v: not on the list", k, verbs)
			continue
		}
		slices.Sort(verbs)
		want = slices.Sorted(slices.Values(want))
		if !slices.Equal(verbs, want) {
			t.Errorf("ClusterRole grants %s %v, want %v", k, verbs, want)
		}
	}
	for k := range allowed {
		if _, ok := got[k]; !ok {
			t.Errorf("ClusterRole lacks %s, which the driver needs", k)
		}
	}
}

var (
	applyOnce sync.Once
	applyErr  string
	applied   []byte
)

// writeKubeconfig writes a kubeconfig for the test API server's admin into a temp dir.
func writeKubeconfig(t *testing.T) string {
	t.Helper()
	cfg := kubetest.Config(t)
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "admin"}
	kc.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// kubectlApply runs `kubectl apply --server-side` on the rendered base, as the docs tell
// operators, and returns its stdout and stderr.
func kubectlApply(t *testing.T, kubeconfig string, rendered []byte) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(kubetest.Kubectl(t), "--kubeconfig", kubeconfig, "apply", "--server-side", "--field-manager=micro-platform-install", "-f", "-")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(rendered), &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// mustApply applies the rendered base to the test API server once per test binary and
// returns a kubeconfig for it and the applied objects. Warnings fail it: the namespace's
// pod-security "warn: restricted" label makes the API server report a non-compliant
// workload.
func mustApply(t *testing.T) (kubeconfig string, objs []*unstructured.Unstructured) {
	t.Helper()
	kubeconfig = writeKubeconfig(t)
	applyOnce.Do(func() {
		applied = render(t)
		out, stderr, err := kubectlApply(t, kubeconfig, applied)
		switch {
		case err != nil:
			applyErr = "kubectl apply --server-side: " + err.Error() + "\n" + stderr
		case stderr != "":
			applyErr = "kubectl apply printed warnings:\n" + stderr + out
		}
	})
	if applyErr != "" {
		t.Fatal(applyErr)
	}
	return kubeconfig, decode(t, applied)
}

func TestApplyToAPIServer(t *testing.T) {
	kubeconfig, objs := mustApply(t)
	kubectl := kubetest.Kubectl(t)

	cmd := exec.Command(kubectl, "--kubeconfig", kubeconfig, "get", "-f", "-", "-o", "json")
	cmd.Stdin = bytes.NewReader(applied)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl get the applied objects: %v", err)
	}
	var list struct{ Items []map[string]any }
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != len(objs) {
		t.Fatalf("API server holds %d of the %d applied objects", len(list.Items), len(objs))
	}
	for i, item := range list.Items {
		u := &unstructured.Unstructured{Object: item}
		if key(u) != key(objs[i]) {
			t.Errorf("object %d is %s, want %s", i, key(u), key(objs[i]))
		}
		if u.GetUID() == "" {
			t.Errorf("%s has no uid: not stored", key(u))
		}
	}

	t.Run("reapplying changes nothing", func(t *testing.T) {
		if _, stderr, err := kubectlApply(t, kubeconfig, applied); err != nil || stderr != "" {
			t.Fatalf("second apply: %v\n%s", err, stderr)
		}
		diff := exec.Command(kubectl, "--kubeconfig", kubeconfig, "diff", "--server-side", "--field-manager=micro-platform-install", "-f", "-")
		diff.Stdin = bytes.NewReader(applied)
		if out, err := diff.CombinedOutput(); err != nil {
			t.Fatalf("kubectl diff after apply is not empty: %v\n%s", err, out)
		}
	})
}

// TestRBACLeastPrivilege asks the API server, as the control plane's service account,
// what it may do.
func TestRBACLeastPrivilege(t *testing.T) {
	mustApply(t)
	cs, err := kubernetes.NewForConfig(kubetest.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	const sa = "system:serviceaccount:micro-platform:platform"
	tests := []struct {
		name string
		attr authorizationv1.ResourceAttributes
		want bool
	}{
		{"create a namespace", authorizationv1.ResourceAttributes{Verb: "create", Resource: "namespaces"}, true},
		{"create a deployment in a platform namespace", authorizationv1.ResourceAttributes{Namespace: "mp-acme", Verb: "create", Group: "apps", Resource: "deployments"}, true},
		{"patch a network policy", authorizationv1.ResourceAttributes{Namespace: "mp-acme", Verb: "patch", Group: "networking.k8s.io", Resource: "networkpolicies"}, true},
		{"create a secret", authorizationv1.ResourceAttributes{Namespace: "mp-acme", Verb: "create", Resource: "secrets"}, true},
		{"delete a resource quota", authorizationv1.ResourceAttributes{Namespace: "mp-acme", Verb: "delete", Resource: "resourcequotas"}, true},
		{"read pod logs", authorizationv1.ResourceAttributes{Namespace: "mp-acme", Verb: "get", Resource: "pods", Subresource: "log"}, true},
		{"watch pods", authorizationv1.ResourceAttributes{Namespace: "mp-acme", Verb: "watch", Resource: "pods"}, true},
		{"get a pod (the driver reads pods from its watch)", authorizationv1.ResourceAttributes{Namespace: "mp-acme", Verb: "get", Resource: "pods", Name: "x"}, false},
		{"delete a namespace", authorizationv1.ResourceAttributes{Verb: "delete", Resource: "namespaces", Name: "kube-system"}, false},
		{"update a deployment", authorizationv1.ResourceAttributes{Namespace: "mp-acme", Verb: "update", Group: "apps", Resource: "deployments"}, false},
		{"watch events", authorizationv1.ResourceAttributes{Namespace: "mp-acme", Verb: "watch", Group: "events.k8s.io", Resource: "events"}, false},
		{"create a cluster role binding", authorizationv1.ResourceAttributes{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"}, false},
		{"create a role binding", authorizationv1.ResourceAttributes{Namespace: "mp-acme", Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "rolebindings"}, false},
		{"read nodes", authorizationv1.ResourceAttributes{Verb: "get", Resource: "nodes"}, false},
		{"create a pod", authorizationv1.ResourceAttributes{Namespace: "mp-acme", Verb: "create", Resource: "pods"}, false},
		{"delete a pod", authorizationv1.ResourceAttributes{Namespace: "mp-acme", Verb: "delete", Resource: "pods"}, false},
		{"exec into a pod", authorizationv1.ResourceAttributes{Namespace: "mp-acme", Verb: "create", Resource: "pods", Subresource: "exec"}, false},
		{"write deployment status", authorizationv1.ResourceAttributes{Namespace: "mp-acme", Verb: "update", Group: "apps", Resource: "deployments", Subresource: "status"}, false},
		{"create a daemonset", authorizationv1.ResourceAttributes{Namespace: "mp-acme", Verb: "create", Group: "apps", Resource: "daemonsets"}, false},
		{"read configmaps", authorizationv1.ResourceAttributes{Namespace: "kube-system", Verb: "get", Resource: "configmaps"}, false},
		{"create service accounts", authorizationv1.ResourceAttributes{Namespace: "mp-acme", Verb: "create", Resource: "serviceaccounts"}, false},
		{"mint service account tokens", authorizationv1.ResourceAttributes{Namespace: "mp-acme", Verb: "create", Resource: "serviceaccounts", Subresource: "token"}, false},
		{"write events", authorizationv1.ResourceAttributes{Namespace: "mp-acme", Verb: "create", Resource: "events"}, false},
		{"edit CRDs", authorizationv1.ResourceAttributes{Verb: "create", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"}, false},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attr := tt.attr
			sar, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
				Spec: authorizationv1.SubjectAccessReviewSpec{
					User:               sa,
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

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
