package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestFixedAddresses runs go-micro code written the way its users write it, unchanged:
// services that fix their own address (micro.Address(":8081"), ":9090"), several handlers
// in one service, go-micro's MCP gateway option and listeners of their own on fixed ports
// (:9090, :3000). Two replicas, two services with the same ports, and the old and new
// release of a rollout run side by side, and every one of them answers.
func TestFixedAddresses(t *testing.T) {
	skipShort(t)
	if os.Geteuid() != 0 {
		t.Skip("listeners on fixed ports need an instance network of their own: the sandbox needs root")
	}
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.must(t, "namespaces", "create", "acme")
	s.must(t, "deploy", "./examples/orders", "-n", "acme", "--replicas", "2")
	s.must(t, "deploy", "./examples/orders", "-n", "acme", "--name", "payments")
	// go-micro's own MCP example: micro.Address(":9090") and mcp.WithMCP(":3000").
	s.must(t, "deploy", goMicroModule(t, "examples/mcp/hello/main.go"), "-n", "acme", "--name", "greeter", "--replicas", "2")

	services := s.must(t, "services", "-n", "acme")
	for _, row := range [][]string{
		{"orders", "running", "2/2", "Orders.Create,Status.Check"},
		{"payments", "running", "1/1", "Orders.Create,Status.Check"},
		{"greeter", "running", "2/2", "Greeter.SayHello"},
	} {
		if !containsRow(services, row...) {
			t.Errorf("services lacks %v:\n%s", row, services)
		}
	}
	calls := func(when string) {
		t.Helper()
		for _, c := range []struct{ service, endpoint, body, want string }{
			{"orders", "Orders.Create", `{"item":"book"}`, `"id":"order-book"`},
			{"orders", "Status.Check", `{}`, `200 OK`},
			{"payments", "Orders.Create", `{"item":"tea"}`, `"id":"order-tea"`},
			{"greeter", "Greeter.SayHello", `{"name":"Ada"}`, `"Hello Ada!"`},
		} {
			// Several calls, so round robin reaches every replica.
			for range 4 {
				status, body, err := s.gateway(s.token, "acme", c.service, c.endpoint, c.body)
				if err != nil || status != 200 || !strings.Contains(body, c.want) {
					t.Errorf("%s: %s %s = %d %s %v", when, c.service, c.endpoint, status, body, err)
				}
			}
		}
	}
	calls("after deploy")

	// A rollout starts the new release beside the old one: same fixed ports, no collision.
	out := s.must(t, "deploy", "./examples/orders", "-n", "acme", "--replicas", "2", "--env", "V=2")
	if !strings.Contains(out, "v2 of orders is live") {
		t.Errorf("redeploy:\n%s", out)
	}
	calls("after the rollout")
}

// goMicroModule copies one file of go-micro's own examples, unchanged, into a module of its
// own with its requirements tidied, as its author's repository would have them.
func goMicroModule(t *testing.T, file string) string {
	t.Helper()
	dir := goMicroExample(t, file)
	tidy := exec.Command("go", "mod", "tidy")
	tidy.Dir = dir
	tidy.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := tidy.CombinedOutput(); err != nil {
		t.Fatalf("go mod tidy: %v\n%s", err, out)
	}
	return dir
}
