package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/micro/platform/internal/imagebuild"
)

// installRegistryPort is the port scripts/real-k8s/up.sh reserves for a test's registry on
// the node IP: containerd pulls from NODE_IP:5000 over plain HTTP (a mirror entry).
const installRegistryPort = "5000"

// installNamespace is the platform namespace the install test deploys to (Kubernetes
// namespace mp-<it>): not acme, which other tests of the same cluster use.
const installNamespace = "inst"

// TestInstallOnTheRealCluster goes from an empty cluster to an answered call through the
// installed platform: the platform's image built without Docker (internal/imagebuild)
// and pushed to a registry on the node IP, `platform infra apply` of one region of
// provider existing (the control plane on PostgreSQL and the mesh, deploy/kubernetes),
// then `platform deploy` through the in-cluster control plane, whose build runs in its
// pod, and a call through its gateway. What the test supplies, as a cluster owner would:
// PostgreSQL reachable from pods, PersistentVolumes for the two claims (the cluster has
// no provisioner), the registry, and a Go module proxy (pods have no route to the
// internet; the control plane is given GOPROXY).
func TestInstallOnTheRealCluster(t *testing.T) {
	skipShort(t)
	kubeconfig := os.Getenv(envRealCluster)
	if kubeconfig == "" {
		t.Skip(envRealCluster + " is not set: the install test needs the real cluster (scripts/real-k8s/up.sh)")
	}
	start := time.Now()
	step := func(what string) { t.Logf("%6.1fs %s", time.Since(start).Seconds(), what) }
	c := kubeCluster(t, "")
	nodeIP := c.natsHost
	kubectlBin := kubectlPath(t)
	kubectl := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 11*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, kubectlBin, append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
		return string(out), err
	}
	mustKubectl := func(args ...string) string {
		t.Helper()
		out, err := kubectl(args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	if out, _ := kubectl("get", "namespace", "micro-platform", "--ignore-not-found", "-o", "name"); strings.TrimSpace(out) != "" {
		t.Fatalf("namespace micro-platform exists already: the install test starts from a cluster without the platform")
	}

	// The registry the image is pushed to and the control plane pushes builds to.
	regAddr := net.JoinHostPort(nodeIP, installRegistryPort)
	serve(t, regAddr, ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	// A Go module proxy from this machine's module cache: its download directory is laid
	// out as the GOPROXY protocol wants.
	modCache := strings.TrimSpace(goEnv(t, "GOMODCACHE"))
	proxyAddr := serve(t, net.JoinHostPort(nodeIP, "0"), http.FileServer(http.Dir(filepath.Join(modCache, "cache", "download"))))
	dbURL := startPostgres(t, nodeIP)
	step("registry, module proxy and PostgreSQL on " + nodeIP)

	// The image, from this tree, tagged by its digest: the node keeps the images of
	// earlier runs, and the install's pull policy (IfNotPresent) would run an old one
	// under a fixed tag.
	image := buildPlatformImage(t, regAddr+"/micro-platform/platform")
	step("platform image built and pushed: " + image)

	pvDir := makePersistentVolumes(t, kubectl)

	// platform infra apply: one region of provider existing.
	tofu, rc := tofuForTests(t)
	work := t.TempDir()
	cfg := filepath.Join(work, "platform.yaml")
	must(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`platform:
  name: e2e
  image: %s
  registry: %s/micro-platform/services
  state: { backend: local }
regions:
  - { name: home, provider: existing, kubeconfig: %s }
`, image, regAddr, kubeconfig)), 0o600))
	infraEnv := []string{"PLATFORM_INFRA_ENGINE=" + tofu, "TF_CLI_CONFIG_FILE=" + rc, "TF_VAR_database_url=" + dbURL,
		"PATH=" + filepath.Dir(kubectlBin) + string(os.PathListSeparator) + os.Getenv("PATH")}
	infra := func(args ...string) result {
		return runCLI(t, 15*time.Minute, infraEnv, append([]string{"infra"}, append(args, "-c", cfg)...)...)
	}
	// Cleanups run last first: the deploy's namespace goes after the control plane, which
	// would make it again.
	t.Cleanup(func() {
		kubectl("delete", "namespace", "mp-"+installNamespace, "--ignore-not-found", "--wait=true", "--timeout=5m")
	})
	t.Cleanup(func() {
		r := infra("destroy", "--region", "home", "--register=false")
		if r.code != 0 {
			t.Errorf("infra destroy: %s", r)
		}
		// The destroy deletes the namespace and the manifest's cluster-wide objects (RBAC,
		// the admission policy); whatever is left is deleted here, and reported.
		for _, o := range []string{"namespace/micro-platform", "clusterrolebinding/micro-platform", "clusterrole/micro-platform", "validatingadmissionpolicybinding/micro-platform-scope", "validatingadmissionpolicy/micro-platform-scope"} {
			if out, _ := kubectl("get", o, "--ignore-not-found", "-o", "name"); strings.TrimSpace(out) != "" {
				if r.code == 0 {
					t.Errorf("infra destroy left %s", o)
				}
				kubectl("delete", o, "--ignore-not-found", "--wait=true", "--timeout=5m")
			}
		}
	})
	if r := infra("apply", "--register=false"); r.code != 0 {
		logs, _ := kubectl("-n", "micro-platform", "logs", "deploy/platform", "--tail=50")
		pods, _ := kubectl("-n", "micro-platform", "get", "pods,pvc", "-o", "wide")
		t.Fatalf("infra apply: %s\npods:\n%s\ncontrol plane log:\n%s", r, pods, logs)
	}
	step("platform infra apply: mesh and control plane rolled out")

	// The admin token: printed once at the control plane's first start, and kept in its
	// data volume, which on this cluster is the test's own directory (a container that
	// printed it may have been restarted since).
	var token string
	if m := regexp.MustCompile(`--token (\S+)`).FindStringSubmatch(mustKubectl("-n", "micro-platform", "logs", "deploy/platform")); m != nil {
		token = m[1]
	} else {
		b, err := os.ReadFile(filepath.Join(pvDir, "platform-data", "admin.token"))
		if err != nil {
			t.Fatalf("admin token: not in the control plane's log, and %v", err)
		}
		token = strings.TrimSpace(string(b))
	}

	// Builds fetch modules through the test's proxy (the pod has no route beyond the node).
	mustKubectl("-n", "micro-platform", "set", "env", "deployment/platform", "GOPROXY=http://"+proxyAddr, "GOSUMDB=off")
	mustKubectl("-n", "micro-platform", "rollout", "status", "deployment/platform", "--timeout=5m")
	ip := strings.TrimSpace(mustKubectl("-n", "micro-platform", "get", "service", "platform", "-o", "jsonpath={.spec.clusterIP}"))
	server := "http://" + ip
	step("control plane ready at " + server + " with GOPROXY")

	cli := func(timeout time.Duration, args ...string) result {
		return runCLI(t, timeout, []string{"PLATFORM_SERVER=" + server, "PLATFORM_TOKEN=" + token, "HOME=" + work, "XDG_CONFIG_HOME=" + filepath.Join(work, "cfg")}, args...)
	}
	if r := cli(time.Minute, "namespaces", "create", installNamespace); r.code != 0 {
		t.Fatalf("namespaces create: %s", r)
	}
	if r := cli(20*time.Minute, "deploy", "./examples/helloworld", "-n", installNamespace); r.code != 0 {
		logs, _ := kubectl("-n", "micro-platform", "logs", "deploy/platform", "--tail=80")
		t.Fatalf("deploy: %s\ncontrol plane log:\n%s", r, logs)
	}
	step("helloworld deployed through the in-cluster control plane")

	var status int
	var body string
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var err error
		status, body, err = installGateway(server, token, installNamespace, "helloworld", "Helloworld.Call", `{"name":"Installer"}`)
		if err == nil && status == 200 && strings.Contains(body, "Hello Installer") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("call through the in-cluster gateway: status %d, body %q, err %v", status, body, err)
		}
		time.Sleep(2 * time.Second)
	}
	step("a call through the in-cluster gateway answered: " + strings.TrimSpace(body))

	// A second apply with another store URL (the same database) makes the Secrets again and
	// deletes nothing: the namespace and the deployed service stay.
	uid := mustKubectl("get", "namespace", "micro-platform", "-o", "jsonpath={.metadata.uid}")
	infraEnv = append(infraEnv, "TF_VAR_database_url="+dbURL+"&application_name=platform")
	if r := infra("apply", "--register=false"); r.code != 0 {
		t.Fatalf("second infra apply: %s", r)
	}
	if got := mustKubectl("get", "namespace", "micro-platform", "-o", "jsonpath={.metadata.uid}"); got != uid {
		t.Fatalf("the second apply replaced the namespace micro-platform (uid %s, was %s)", got, uid)
	}
	if url := mustKubectl("-n", "micro-platform", "get", "secret", "platform-store", "-o", "jsonpath={.data.url}"); !strings.Contains(decodeBase64(t, url), "application_name=platform") {
		t.Errorf("the second apply did not update the Secret platform-store")
	}
	if status, body, err := installGateway(server, token, installNamespace, "helloworld", "Helloworld.Call", `{"name":"Again"}`); err != nil || status != 200 || !strings.Contains(body, "Hello Again") {
		t.Errorf("call after the second apply: %d %q %v", status, body, err)
	}
	step("a second apply changed the store's Secret and kept the platform")
}

func decodeBase64(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	must(t, err)
	return string(b)
}

// installGateway posts body to server's /api/{service}/{endpoint} in ns with token.
func installGateway(server, token, ns, service, endpoint, body string) (int, string, error) {
	s := &serverProc{addr: strings.TrimPrefix(server, "http://")}
	return s.gateway(token, ns, service, endpoint, body)
}

// kubectlPath is the kubectl scripts/build-k8s keeps in the test cache.
func kubectlPath(t *testing.T) string {
	t.Helper()
	cache := os.Getenv("PLATFORM_TEST_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		must(t, err)
		cache = filepath.Join(home, ".cache", "micro-platform-test")
	}
	p := filepath.Join(cache, "k8s", "kubectl")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("kubectl: %v (scripts/real-k8s/up.sh builds it)", err)
	}
	return p
}

// serve serves h on addr until the test ends and returns the address it listens on.
func serve(t *testing.T, addr string, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func goEnv(t *testing.T, key string) string {
	t.Helper()
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", key, err)
	}
	return string(out)
}

// startPostgres starts a throwaway PostgreSQL (Debian's, as user postgres when root) that
// listens on host, trusting the pods' network, and returns its URL; it is stopped when
// the test ends.
func startPostgres(t *testing.T, host string) string {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		t.Fatal("PostgreSQL is needed: apt-get install -y postgresql")
	}
	bin := filepath.Dir(bins[len(bins)-1])
	// Not t.TempDir: the postgres user must be able to reach it.
	data, err := os.MkdirTemp("", "install-pg-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(data) })
	asPG := func(script string) error {
		var cmd *exec.Cmd
		if os.Geteuid() == 0 {
			must(t, exec.Command("chown", "-R", "postgres", data).Run())
			cmd = exec.Command("su", "postgres", "-s", "/bin/sh", "-c", script)
		} else {
			cmd = exec.Command("/bin/sh", "-c", script)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v\n%s", script, err, out)
		}
		return nil
	}
	must(t, asPG(fmt.Sprintf("%s/initdb -D %s/db -A trust -U postgres >/dev/null", bin, data)))
	// The pods' network, by the bridge's range; the node itself through its IP.
	hba, err := os.OpenFile(filepath.Join(data, "db", "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	fmt.Fprintf(hba, "host all all 10.244.0.0/16 trust\nhost all all %s/32 trust\n", host)
	must(t, hba.Close())
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	must(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	must(t, asPG(fmt.Sprintf("%s/pg_ctl -D %s/db -o '-p %d -k %s -c listen_addresses=%s -c fsync=off' -l %s/log -w start >/dev/null", bin, data, port, data, host, data)))
	t.Cleanup(func() {
		if err := asPG(fmt.Sprintf("%s/pg_ctl -D %s/db -m fast -w stop >/dev/null", bin, data)); err != nil {
			t.Errorf("stop PostgreSQL: %v", err)
		}
	})
	return fmt.Sprintf("postgres://postgres@%s:%d/postgres?sslmode=disable", host, port)
}

// buildPlatformImage builds the platform's image from this tree as the operator does
// (deploy/kubernetes/build-image: a static binary on the local Go toolchain), pushes it to
// repo and returns its reference.
func buildPlatformImage(t *testing.T, repo string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "platform")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "../cmd/platform")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	img, err := imagebuild.Build(imagebuild.Options{Binary: bin, GoRoot: strings.TrimSpace(goEnv(t, "GOROOT")), CACerts: "/etc/ssl/certs/ca-certificates.crt", Dir: dir})
	must(t, err)
	d, err := img.Digest()
	must(t, err)
	ref := repo + ":e2e-" + d.Hex[:12]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	must(t, imagebuild.Push(ctx, ref, img))
	return ref
}

// makePersistentVolumes makes a hostPath PersistentVolume for each of the install's claims
// (the cluster has no provisioner), bound to it by claimRef, and deletes them at the end.
func makePersistentVolumes(t *testing.T, kubectl func(args ...string) (string, error)) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "install-pv-")
	must(t, err)
	var docs []string
	for _, claim := range []string{"platform-data", "data-platform-mesh-0"} {
		path := filepath.Join(dir, claim)
		must(t, os.MkdirAll(path, 0o777))
		must(t, os.Chmod(path, 0o777)) // the pods run as 65532; fsGroup does not apply to hostPath
		docs = append(docs, fmt.Sprintf(`apiVersion: v1
kind: PersistentVolume
metadata:
  name: e2e-install-%s
  labels: {e2e: install}
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  claimRef: {namespace: micro-platform, name: %s}
  hostPath: {path: %s, type: Directory}
`, claim, claim, path))
	}
	f := filepath.Join(dir, "pv.yaml")
	must(t, os.WriteFile(f, []byte(strings.Join(docs, "---\n")), 0o600))
	if out, err := kubectl("apply", "-f", f); err != nil {
		t.Fatalf("create PersistentVolumes: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		kubectl("delete", "pv", "-l", "e2e=install", "--ignore-not-found", "--wait=false")
		os.RemoveAll(dir)
	})
	return dir
}
