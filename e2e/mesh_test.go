package e2e

import (
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/micro/platform/internal/testenv"
)

// TestRemoteMesh runs the at-scale messaging layout: NATS in a `platform mesh` process of
// its own, the server started with --nats-url pointing at it, both reading one secret
// key. A service deploys, registers in its namespace on the node and answers through the
// CLI and the gateway; a server restart keeps it serving.
func TestRemoteMesh(t *testing.T) {
	skipShort(t)
	t.Parallel()
	dataDir, meshDir := t.TempDir(), t.TempDir()
	key := make([]byte, 32)
	rand.Read(key)
	must(t, os.WriteFile(filepath.Join(dataDir, "secret.key"), key, 0o600))
	// The node picks its port (a port taken, released and handed over could be taken
	// meanwhile) and logs it.
	mesh := exec.Command(binary, "mesh", "--data", meshDir, "--listen", "127.0.0.1:0",
		"--secret-file", filepath.Join(dataDir, "secret.key"))
	out := &testenv.Buffer{}
	mesh.Stdout, mesh.Stderr = out, out
	mesh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	must(t, mesh.Start())
	t.Cleanup(func() {
		_ = mesh.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { mesh.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = mesh.Process.Kill()
		}
		if t.Failed() {
			t.Logf("mesh output:\n%s", out)
		}
	})
	eventually(t, "the mesh node is ready", func() bool { return strings.Contains(out.String(), "mesh node ready") })
	m := regexp.MustCompile(`mesh node ready.* listen=127\.0\.0\.1:(\d+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("the mesh node does not log its address:\n%s", out)
	}
	port, _ := strconv.Atoi(m[1])
	// KillInstances finds a data dir's instances by the NATS port they dial.
	must(t, os.WriteFile(filepath.Join(dataDir, "nats.port"), []byte(strconv.Itoa(port)), 0o600))

	nats := "nats://127.0.0.1:" + strconv.Itoa(port)
	s := startServer(t, dataDir, "--nats-url", nats)
	s.must(t, "namespaces", "create", "acme")
	s.must(t, "deploy", "./examples/helloworld", "-n", "acme")
	if out := s.must(t, "call", "helloworld", "Helloworld.Call", `{"name":"Mesh"}`, "-n", "acme"); !strings.Contains(out, `"Hello Mesh"`) {
		t.Errorf("call: %s", out)
	}
	procs := testenv.Instances(t, dataDir)
	if len(procs) != 1 || !strings.Contains(procs[0].Env["MICRO_REGISTRY_ADDRESS"], "@127.0.0.1:"+strconv.Itoa(port)) {
		t.Fatalf("instances dialling the mesh node: %+v", procs)
	}

	s.stop()
	s = startServer(t, dataDir, "--nats-url", nats)
	eventually(t, "helloworld answers after the server restarts", func() bool {
		status, body, err := s.gateway(s.token, "acme", "helloworld", "Helloworld.Call", `{"name":"Again"}`)
		return err == nil && status == 200 && strings.Contains(body, "Hello Again")
	})
}
