package infra

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/micro/platform/internal/kubetest"
	"github.com/micro/platform/internal/testenv"
)

// installRoot calls the platform module's install submodule the way modules/platform does,
// with the cluster's credentials as root variables (handed over in TF_VAR_ entries).
const installRoot = `
variable "image" {
  type = string
}
variable "host" {
  type = string
}
variable "ca" {
  type = string
}
variable "token" {
  type    = string
  default = null
}
variable "cert" {
  type    = string
  default = null
}
variable "key" {
  type    = string
  default = null
}
variable "wait" {
  type    = bool
  default = false
}

module "install" {
  source = "../modules/platform/install"

  image                  = var.image
  registry               = "reg.test/acme/services"
  gateway_domain         = "lon1.example.dev"
  values                 = { region_tokens_sha256 = "5eed5eed", region = "lon1" }
  host                   = var.host
  cluster_ca_certificate = var.ca
  token                  = var.token
  client_certificate     = var.cert
  client_key             = var.key
  wait_for_rollout       = var.wait
  rollout_timeout        = "2s"
}

output "manifest" {
  value = module.install.manifest
}

output "namespace" {
  value = module.install.namespace
}

output "objects" {
  value = module.install.objects
}
`

// renderedBase is deploy/kubernetes rendered by the real kubectl kustomize, kept by that
// package's TestRenderMatchesGolden.
const renderedBase = "../deploy/kubernetes/testdata/rendered.yaml"

// TestPlatformInstallWithTheEngine applies the platform module's install step with OpenTofu
// and the real kubectl to a real kube-apiserver: what lands in the cluster is the
// kustomize base with the region's values, applied again when they change, updated in
// place; the credentials never stay on disk; a missing kubectl is said so.
func TestPlatformInstallWithTheEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs OpenTofu, kubectl and a kube-apiserver")
	}
	cfg := kubetest.Config(t)
	kubectl := kubetest.Kubectl(t)
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "modules"), Modules()); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	tmp := filepath.Join(dir, "tmp") // TMPDIR of the provisioner: the kubeconfig goes there
	for _, d := range []string{root, tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "main.tf"), []byte(installRoot), 0o644); err != nil {
		t.Fatal(err)
	}
	kubeconfig := writeKubeconfig(t, cfg.Host, cfg.CAData, cfg.CertData, cfg.KeyData, "")
	certVars := []string{"TF_VAR_host=" + cfg.Host, "TF_VAR_ca=" + string(cfg.CAData), "TF_VAR_cert=" + string(cfg.CertData), "TF_VAR_key=" + string(cfg.KeyData)}
	tofu := func(path string, vars []string, args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(tofuDir, "tofu"), args...)
		cmd.Dir = root
		cmd.Env = append([]string{
			"TF_CLI_CONFIG_FILE=" + filepath.Join(tofuDir, "tofurc"), "HOME=" + dir, "PATH=" + path,
			"TMPDIR=" + tmp, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1",
		}, vars...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	withKubectl := filepath.Dir(kubectl) + ":/usr/bin:/bin"
	if out, err := tofu(withKubectl, nil, "init", "-input=false", "-no-color"); err != nil {
		t.Fatalf("tofu init: %v\n%s", err, out)
	}
	apply := func(t *testing.T, path string, vars ...string) (string, error) {
		t.Helper()
		return tofu(path, vars, "apply", "-auto-approve", "-input=false", "-no-color")
	}
	get := func(t *testing.T, args ...string) []byte {
		t.Helper()
		out, err := exec.Command(kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...).Output()
		if err != nil {
			t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	deployment := func(t *testing.T) (uid, image string) {
		t.Helper()
		var d struct {
			Metadata struct{ UID string }
			Spec     struct {
				Template struct {
					Spec struct{ Containers []struct{ Image string } }
				}
			}
		}
		if err := json.Unmarshal(get(t, "-n", "micro-platform", "get", "deployment/platform", "-o", "json"), &d); err != nil {
			t.Fatal(err)
		}
		return d.Metadata.UID, d.Spec.Template.Spec.Containers[0].Image
	}
	noKubeconfigLeft := func(t *testing.T) {
		t.Helper()
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Errorf("the provisioner left %d entries in TMPDIR (the kubeconfig holds credentials)", len(left))
		}
	}

	var firstUID string
	t.Run("first apply installs the base with the region's values", func(t *testing.T) {
		if out, err := apply(t, withKubectl, append(certVars, "TF_VAR_image=reg.test/acme/platform:v1")...); err != nil {
			t.Fatalf("tofu apply: %v\n%s", err, out)
		}
		noKubeconfigLeft(t)
		manifest := tofuOutput(t, tofu, withKubectl, "manifest")
		base, err := os.ReadFile(renderedBase)
		if err != nil {
			t.Fatal(err)
		}
		if want := expectedManifest(t, string(base), "reg.test/acme/platform:v1", "reg.test/acme/services", "lon1.example.dev", root); manifest != want {
			t.Errorf("applied manifest is not the rendered base with the region's values:\n%s", testenv.FirstDiff(want, manifest))
		}
		var objects []string
		if err := json.Unmarshal([]byte(tofuOutput(t, tofu, withKubectl, "objects")), &objects); err != nil {
			t.Fatal(err)
		}
		// kubectl get -f of the manifest fails if one object is missing.
		cmd := exec.Command(kubectl, "--kubeconfig", kubeconfig, "get", "-f", "-", "-o", "name")
		cmd.Stdin = strings.NewReader(manifest)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kubectl get the manifest's objects: %v", err)
		}
		if got := strings.Count(string(out), "\n"); got != len(objects) || len(objects) < 10 {
			t.Errorf("API server holds %d of the manifest's %d objects:\n%s", got, len(objects), out)
		}
		var uidImage string
		firstUID, uidImage = deployment(t)
		if uidImage != "reg.test/acme/platform:v1" {
			t.Errorf("Deployment image = %q, want reg.test/acme/platform:v1", uidImage)
		}
		conf := string(get(t, "-n", "micro-platform", "get", "configmaps", "-o", "jsonpath={.items[*].data.platform\\.yaml}"))
		for _, line := range []string{"\nregistry: reg.test/acme/services\n", "\ngateway_domain: \"lon1.example.dev\"\n"} {
			if !strings.Contains(conf, line) {
				t.Errorf("server config lacks %q:\n%s", line, conf)
			}
		}
		diff := exec.Command(kubectl, "--kubeconfig", kubeconfig, "diff", "--server-side", "--field-manager=platform-infra", "-f", "-")
		diff.Stdin = strings.NewReader(manifest)
		if out, err := diff.CombinedOutput(); err != nil {
			t.Errorf("kubectl diff of the manifest after apply is not empty: %v\n%s", err, out)
		}
	})

	t.Run("nothing changed: plan is empty", func(t *testing.T) {
		vars := append(certVars, "TF_VAR_image=reg.test/acme/platform:v1")
		if out, err := tofu(withKubectl, vars, "plan", "-detailed-exitcode", "-input=false", "-no-color"); err != nil {
			t.Errorf("plan after apply: %v (exit 2 means changes)\n%s", err, out)
		}
	})

	t.Run("a new image is applied in place, with a token", func(t *testing.T) {
		token := adminToken(t, kubernetes.NewForConfigOrDie(cfg))
		out, err := apply(t, withKubectl, "TF_VAR_host="+cfg.Host, "TF_VAR_ca="+string(cfg.CAData), "TF_VAR_token="+token, "TF_VAR_image=reg.test/acme/platform:v2")
		if err != nil {
			t.Fatalf("tofu apply: %v\n%s", err, out)
		}
		if strings.Contains(out, token) {
			t.Error("apply output shows the token")
		}
		noKubeconfigLeft(t)
		uid, image := deployment(t)
		if image != "reg.test/acme/platform:v2" {
			t.Errorf("Deployment image = %q, want reg.test/acme/platform:v2", image)
		}
		if uid != firstUID {
			t.Errorf("Deployment uid %s, was %s: replaced, not updated in place", uid, firstUID)
		}
	})

	t.Run("waiting for a rollout that does not come fails the apply", func(t *testing.T) {
		// No kubelet runs here, so no pod ever becomes ready.
		out, err := apply(t, withKubectl, append(certVars, "TF_VAR_image=reg.test/acme/platform:v3", "TF_VAR_wait=true")...)
		if err == nil {
			t.Fatalf("apply succeeded though nothing rolled out:\n%s", out)
		}
		if !strings.Contains(out, "timed out waiting") || !strings.Contains(out, "kubectl-apply.sh") {
			t.Errorf("apply error does not name the step and say the rollout timed out:\n%s", out)
		}
		if key := strings.Split(strings.TrimSpace(string(cfg.KeyData)), "\n"); len(key) < 3 || strings.Contains(out, key[1]) {
			t.Error("apply error shows the client key")
		}
		noKubeconfigLeft(t)
	})

	t.Run("without kubectl on PATH the apply says so", func(t *testing.T) {
		// The provisioner runs /bin/sh by its absolute path; the script needs nothing else
		// before it looks for kubectl (and /usr/bin may hold Debian's).
		empty := t.TempDir()
		out, err := apply(t, empty, append(certVars, "TF_VAR_image=reg.test/acme/platform:v4")...)
		if err == nil {
			t.Fatalf("apply succeeded without kubectl:\n%s", out)
		}
		if !strings.Contains(out, "kubectl is not on PATH") {
			t.Errorf("apply error does not name the missing kubectl:\n%s", out)
		}
	})

	t.Run("destroy leaves the objects to the namespace's deletion", func(t *testing.T) {
		if out, err := tofu(withKubectl, append(certVars, "TF_VAR_image=reg.test/acme/platform:v4"), "destroy", "-auto-approve", "-input=false", "-no-color"); err != nil {
			t.Fatalf("tofu destroy: %v\n%s", err, out)
		}
		if _, image := deployment(t); image == "" {
			t.Error("the Deployment is gone: the install step must never delete (a replacement would delete the platform's data volume)")
		}
	})
}

// tofuOutput returns the root output name: a string raw, anything else as JSON.
func tofuOutput(t *testing.T, tofu func(string, []string, ...string) (string, error), path, name string) string {
	t.Helper()
	out, err := tofu(path, nil, "output", "-json", name)
	if err != nil {
		t.Fatalf("tofu output %s: %v\n%s", name, err, out)
	}
	var s string
	if json.Unmarshal([]byte(out), &s) == nil {
		return s
	}
	return strings.TrimSpace(out)
}

// expectedManifest is the rendered base with a region's values, computed here without the
// template: the image and registry replaced, gateway_domain, the region tokens' hash and
// local_region (installRoot's) set, and the ConfigMap named
// after the hash the module computes (sha256 of its JSON list of the template's SHA-256,
// the registry, the gateway domain and the values, 10 hex digits).
func expectedManifest(t *testing.T, base, image, registry, gatewayDomain, root string) string {
	t.Helper()
	tmpl, err := os.ReadFile(filepath.Join(root, "..", "modules", "platform", "install.yaml.tftpl"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(tmpl)
	list, _ := json.Marshal([]any{hex.EncodeToString(sum[:]), registry, gatewayDomain, map[string]string{"region_tokens_sha256": "5eed5eed", "region": "lon1"}})
	h := sha256.Sum256(list)
	hash := hex.EncodeToString(h[:])[:10]
	header, _, _ := strings.Cut(string(tmpl), "apiVersion:")
	s := strings.NewReplacer(
		"registry.example.com/micro-platform/platform:v0.1.0", image,
		"registry: registry.example.com/micro-platform/services", "registry: "+registry,
		`gateway_domain: ""`, `gateway_domain: "`+gatewayDomain+`"`,
		`micro-platform/region-tokens-sha256: ""`, `micro-platform/region-tokens-sha256: "5eed5eed"`,
		`local_region: local`, `local_region: "lon1"`,
	).Replace(base)
	i := strings.Index(s, "platform-config-")
	if i < 0 {
		t.Fatal("rendered base has no platform-config ConfigMap")
	}
	s = strings.ReplaceAll(s, s[i:i+len("platform-config-")+10], "platform-config-"+hash)
	return header + s
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// writeKubeconfig writes a kubeconfig for the test API server into a temp dir.
func writeKubeconfig(t *testing.T, host string, ca, cert, key []byte, token string) string {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster:\n    server: " + host + "\n")
	b.WriteString("    certificate-authority-data: " + b64(ca) + "\nusers:\n- name: t\n  user:\n")
	if token != "" {
		b.WriteString("    token: " + token + "\n")
	} else {
		b.WriteString("    client-certificate-data: " + b64(cert) + "\n    client-key-data: " + b64(key) + "\n")
	}
	b.WriteString("contexts:\n- name: t\n  context:\n    cluster: t\n    user: t\ncurrent-context: t\n")
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// adminToken returns a bearer token of a service account bound to cluster-admin, as a
// cloud cluster module's token output would be.
func adminToken(t *testing.T, cs *kubernetes.Clientset) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "infra-test", Namespace: "kube-system"}}
	if _, err := cs.CoreV1().ServiceAccounts("kube-system").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "infra-test"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "infra-test", Namespace: "kube-system"}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts("kube-system").CreateToken(ctx, "infra-test", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// agentInstallRoot calls the install step as modules/agent does: the agent's template,
// its values and its one workload to wait for.
const agentInstallRoot = `
variable "host" {
  type = string
}
variable "ca" {
  type = string
}
variable "cert" {
  type = string
}
variable "key" {
  type = string
}

module "install" {
  source = "../modules/platform/install"

  template               = "${path.module}/../modules/agent/install.yaml.tftpl"
  image                  = "reg.test/acme/platform:v1"
  registry               = "reg.test/acme/services"
  values                 = { region = "on", control_url = "https://lon1.example.dev", region_token_sha256 = "70ce70ce" }
  rollouts               = ["deployment/platform-agent"]
  host                   = var.host
  cluster_ca_certificate = var.ca
  client_certificate     = var.cert
  client_key             = var.key
  wait_for_rollout       = false
}

output "objects" {
  value = module.install.objects
}
`

// TestAgentInstallWithTheEngine applies the agent module's install step with OpenTofu and
// the real kubectl to a real kube-apiserver: the region agent's Deployment runs the
// region's name (here "on", which YAML would take for true unquoted) against the
// control plane's URL, with the region token's hash on its pod template.
func TestAgentInstallWithTheEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs OpenTofu, kubectl and a kube-apiserver")
	}
	cfg := kubetest.Config(t)
	kubectl := kubetest.Kubectl(t)
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "modules"), Modules()); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "main.tf"), []byte(agentInstallRoot), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"TF_CLI_CONFIG_FILE=" + filepath.Join(tofuDir, "tofurc"), "HOME=" + dir, "PATH=" + filepath.Dir(kubectl) + ":/usr/bin:/bin",
		"TMPDIR=" + t.TempDir(), "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1",
		"TF_VAR_host=" + cfg.Host, "TF_VAR_ca=" + string(cfg.CAData), "TF_VAR_cert=" + string(cfg.CertData), "TF_VAR_key=" + string(cfg.KeyData),
	}
	for _, args := range [][]string{{"init", "-input=false", "-no-color"}, {"apply", "-auto-approve", "-input=false", "-no-color"}} {
		cmd := exec.Command(filepath.Join(tofuDir, "tofu"), args...)
		cmd.Dir, cmd.Env = root, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tofu %s: %v\n%s", args[0], err, out)
		}
	}
	kubeconfig := writeKubeconfig(t, cfg.Host, cfg.CAData, cfg.CertData, cfg.KeyData, "")
	out, err := exec.Command(kubectl, "--kubeconfig", kubeconfig, "-n", "micro-platform", "get", "deployment/platform-agent", "-o", "json").Output()
	if err != nil {
		t.Fatalf("kubectl get deployment/platform-agent: %v", err)
	}
	var d struct {
		Spec struct {
			Template struct {
				Metadata struct{ Annotations map[string]string }
				Spec     struct {
					Containers []struct {
						Image string
						Env   []struct{ Name, Value string }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	c := d.Spec.Template.Spec.Containers[0]
	env2 := map[string]string{}
	for _, e := range c.Env {
		env2[e.Name] = e.Value
	}
	if env2["PLATFORM_REGION_NAME"] != "on" || env2["PLATFORM_CONTROL_URL"] != "https://lon1.example.dev" || c.Image != "reg.test/acme/platform:v1" {
		t.Errorf("the agent runs %s with region %q and control plane %q", c.Image, env2["PLATFORM_REGION_NAME"], env2["PLATFORM_CONTROL_URL"])
	}
	if got := d.Spec.Template.Metadata.Annotations["micro-platform/region-token-sha256"]; got != "70ce70ce" {
		t.Errorf("pod template annotation region-token-sha256 = %q, want the token's hash", got)
	}
	conf, err := exec.Command(kubectl, "--kubeconfig", kubeconfig, "-n", "micro-platform", "get", "configmaps", "-o", "jsonpath={.items[*].data.platform\\.yaml}").Output()
	if err != nil || !strings.Contains(string(conf), "\nregistry: reg.test/acme/services\n") {
		t.Errorf("the agent's config lacks the registry (err %v):\n%s", err, conf)
	}
}
