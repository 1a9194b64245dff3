package infra

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/micro/platform/internal/kubetest"
)

// existingRoot calls the existing module as a rendered root does, with the rollout wait
// off (no kubelet runs on the test API server).
const existingRoot = `
variable "database_url" {
  type      = string
  sensitive = true
}
variable "kubeconfig" {
  type = string
}

module "platform" {
  source = "../modules/existing"

  region           = "home"
  image            = "reg.test/acme/platform:v1"
  registry         = "reg.test/acme/services"
  database_url     = var.database_url
  agent_regions    = { fra1 = { provider = "aws", location = "eu-central-1" } }
  kubeconfig       = var.kubeconfig
  wait_for_rollout = false
}

output "gateway_endpoint" {
  value = module.platform.gateway_endpoint
}
`

// TestExistingInstallWithTheEngine applies the existing module with OpenTofu and the real
// kubectl to a real kube-apiserver, as platform infra apply does for a region of provider
// existing: the namespace and the three Secrets exist with their content (the secret key
// made once and kept, the store's URL, the agents' token hashes only), the manifest is
// applied, and a new database URL updates the Secret without touching the namespace.
// Destroying (which deletes the namespace) is run by the install test on the real cluster
// (e2e/install_test.go): this API server runs no namespace controller.
func TestExistingInstallWithTheEngine(t *testing.T) {
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
	if err := os.WriteFile(filepath.Join(root, "main.tf"), []byte(existingRoot), 0o644); err != nil {
		t.Fatal(err)
	}
	kubeconfig := writeKubeconfig(t, cfg.Host, cfg.CAData, cfg.CertData, cfg.KeyData, "")
	path := filepath.Dir(kubectl) + ":/usr/bin:/bin"
	tofu := func(_ string, vars []string, args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(tofuDir, "tofu"), args...)
		cmd.Dir = root
		cmd.Env = append([]string{
			"TF_CLI_CONFIG_FILE=" + filepath.Join(tofuDir, "tofurc"), "HOME=" + dir, "PATH=" + path,
			"TMPDIR=" + t.TempDir(), "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1", "TF_VAR_kubeconfig=" + kubeconfig,
		}, vars...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := tofu(path, nil, "init", "-input=false", "-no-color"); err != nil {
		t.Fatalf("tofu init: %v\n%s", err, out)
	}
	get := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := exec.Command(kubectl, append([]string{"--kubeconfig", kubeconfig, "-n", "micro-platform"}, args...)...).Output()
		if err != nil {
			t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
	secret := func(t *testing.T, name, key string) string {
		t.Helper()
		return string(mustBase64(t, get(t, "get", "secret", name, "-o", "jsonpath={.data."+strings.ReplaceAll(key, ".", `\.`)+"}")))
	}
	apply := func(t *testing.T, url string) {
		t.Helper()
		if out, err := tofu(path, []string{"TF_VAR_database_url=" + url}, "apply", "-auto-approve", "-input=false", "-no-color"); err != nil {
			t.Fatalf("tofu apply: %v\n%s", err, out)
		}
	}

	apply(t, "postgres://platform@db.test/platform")
	key := secret(t, "platform-secret-key", "secret.key")
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(key) {
		t.Errorf("secret.key = %d characters, want 64 hexadecimal ones", len(key))
	}
	if got := secret(t, "platform-store", "url"); got != "postgres://platform@db.test/platform" {
		t.Errorf("platform-store url = %q", got)
	}
	if seeds := secret(t, "platform-region-tokens", "regions.json"); !strings.Contains(seeds, `"fra1"`) || !strings.Contains(seeds, `"hash"`) || strings.Contains(seeds, `"token"`) {
		t.Errorf("platform-region-tokens = %s, want fra1's hash and no token", seeds)
	}
	if img := get(t, "get", "deployment", "platform", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); img != "reg.test/acme/platform:v1" {
		t.Errorf("Deployment image = %q: the manifest was not applied", img)
	}
	if got := tofuOutput(t, tofu, path, "gateway_endpoint"); got != "http://platform.micro-platform.svc" {
		t.Errorf("gateway_endpoint = %q", got)
	}
	uid := get(t, "get", "namespace", "micro-platform", "-o", "jsonpath={.metadata.uid}")
	if labels := get(t, "get", "namespace", "micro-platform", "-o", "jsonpath={.metadata.labels}"); !strings.Contains(labels, "micro-platform-infra") {
		t.Errorf("namespace labels %s lack app.kubernetes.io/managed-by", labels)
	}

	t.Run("a new database URL updates the Secret and keeps the rest", func(t *testing.T) {
		apply(t, "postgres://platform@db2.test/platform")
		if got := secret(t, "platform-store", "url"); got != "postgres://platform@db2.test/platform" {
			t.Errorf("platform-store url = %q after the change", got)
		}
		if got := secret(t, "platform-secret-key", "secret.key"); got != key {
			t.Error("the secret key changed: every credential and sealed value would be lost")
		}
		if got := get(t, "get", "namespace", "micro-platform", "-o", "jsonpath={.metadata.uid}"); got != uid {
			t.Error("the namespace was replaced")
		}
		out, err := tofu(path, []string{"TF_VAR_database_url=postgres://platform@db2.test/platform"}, "plan", "-detailed-exitcode", "-input=false", "-no-color")
		if err != nil {
			t.Errorf("plan after apply is not empty: %v\n%s", err, out)
		}
	})
}

func mustBase64(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		tb.Fatalf("base64 %q: %v", s, err)
	}
	return b
}
