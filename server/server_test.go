package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/archive"
	"github.com/micro/platform/client"
	"github.com/micro/platform/internal/testenv"
	"github.com/micro/platform/server"
)

// startServer runs the whole platform in-process on 127.0.0.1:0 with a temp data dir and
// stops it when the test ends. Instances it started are killed then too.
func startServer(t *testing.T, dataDir string, configure ...func(*server.Config)) (*server.App, *client.Client, *testenv.Buffer) {
	t.Helper()
	app, c, out, stop := runServer(t, dataDir, configure...)
	t.Cleanup(func() {
		stop()
		testenv.KillInstances(t, dataDir)
	})
	return app, c, out
}

// runServer starts the platform and returns a func that stops it (instances keep running,
// as they do when a real server stops).
func runServer(t *testing.T, dataDir string, configure ...func(*server.Config)) (*server.App, *client.Client, *testenv.Buffer, func()) {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.DataDir = dataDir
	cfg.Addr = "127.0.0.1:0"
	cfg.RolloutTimeout = 45 * time.Second
	cfg.StopGrace = 3 * time.Second
	testenv.RemoveCgroups(t, dataDir)
	cfg.SandboxBridge, cfg.SandboxSubnet = testenv.SandboxNetwork(t, dataDir)
	for _, f := range configure {
		f(&cfg)
	}
	out := &testenv.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	app, err := server.New(ctx, cfg, out)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("server: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("server did not stop")
			}
		})
	}
	deadline := time.Now().Add(30 * time.Second)
	for !app.Ready() || app.Addr() == "" {
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("server not ready; output:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tok, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		stop()
		t.Fatal(err)
	}
	return app, client.New("http://"+app.Addr(), client.WithToken(strings.TrimSpace(string(tok)))), out, stop
}

func examplesDir(t *testing.T, name string) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// deployDir packs and deploys a directory and waits for the release to end.
func deployDir(t *testing.T, c *client.Client, ns, svc, dir string) *platform.Release {
	t.Helper()
	ctx := context.Background()
	var buf bytes.Buffer
	if err := archive.Pack(dir, &buf); err != nil {
		t.Fatal(err)
	}
	digest, err := c.UploadSource(ctx, ns, &buf)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Deploy(ctx, platform.DeployRequest{Namespace: ns, Service: svc, Source: platform.Source{Kind: platform.SourceArchive, Archive: digest}})
	if err != nil {
		t.Fatal(err)
	}
	return waitRelease(t, c, ns, r.ID)
}

func waitRelease(t *testing.T, c *client.Client, ns, id string) *platform.Release {
	t.Helper()
	deadline := time.Now().Add(4 * time.Minute)
	for {
		r, err := c.GetRelease(context.Background(), ns, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == platform.ReleaseLive || r.Status.Terminal() {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("release %s still %s", id, r.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func gatewayCall(t *testing.T, addr, token, ns, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Micro-Namespace", ns)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServerDeploysCallsAndIsolates(t *testing.T) {
	if testing.Short() {
		t.Skip("builds go-micro services")
	}
	dir := t.TempDir()
	app, c, out := startServer(t, dir)
	ctx := context.Background()
	for _, ns := range []string{"acme", "globex"} {
		if _, err := c.CreateNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	r := deployDir(t, c, "acme", "helloworld", examplesDir(t, "helloworld"))
	if r.Status != platform.ReleaseLive {
		t.Fatalf("release %s: %s; output:\n%s", r.Status, r.Reason, out)
	}

	resp, err := c.Call(ctx, "acme", "helloworld", "Helloworld.Call", json.RawMessage(`{"name":"Alice"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(resp), `"Hello Alice"`) {
		t.Errorf("call = %s", resp)
	}

	// A token for globex only.
	_, globexSecret, err := c.CreateToken(ctx, platform.CreateTokenRequest{Name: "globex", Namespaces: []string{"globex"}})
	if err != nil {
		t.Fatal(err)
	}
	adminTok, _ := os.ReadFile(filepath.Join(dir, "admin.token"))
	admin := strings.TrimSpace(string(adminTok))
	tests := []struct {
		name, token, ns, body string
		status                int
		contains              string
	}{
		{"admin in acme", admin, "acme", `{"name":"Bob"}`, 200, `"Hello Bob"`},
		{"globex token into acme", globexSecret, "acme", `{"name":"Eve"}`, 403, "forbidden"},
		{"not deployed in globex", globexSecret, "globex", `{"name":"Eve"}`, 404, "not_found"},
		{"malformed json", admin, "acme", `{"name":`, 400, "invalid"},
		{"no token", "", "acme", `{}`, 401, "unauthenticated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := gatewayCall(t, app.Addr(), tt.token, tt.ns, "/api/helloworld/Helloworld.Call", tt.body)
			if status != tt.status || !strings.Contains(body, tt.contains) {
				t.Errorf("gateway = %d %s, want %d containing %q", status, body, tt.status, tt.contains)
			}
		})
	}
	if strings.Contains(out.String(), globexSecret) {
		t.Error("server output contains a token secret")
	}
}

// TestServerOnPostgres runs the platform on its at-scale store: deploy, call, restart the
// server, and find everything as it was.
func TestServerOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and builds a go-micro service")
	}
	dsn := testenv.PostgresDatabase(t, testenv.PostgresAdmin(t))
	dir := t.TempDir()
	onPostgres := func(c *server.Config) { c.Store = dsn }
	t.Cleanup(func() { testenv.KillInstances(t, dir) })

	_, c, _, stop := runServer(t, dir, onPostgres)
	ctx := context.Background()
	if _, err := c.CreateNamespace(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	r := deployDir(t, c, "acme", "helloworld", examplesDir(t, "helloworld"))
	if r.Status != platform.ReleaseLive {
		t.Fatalf("release %s: %s", r.Status, r.Reason)
	}
	stop()
	if _, err := os.Stat(filepath.Join(dir, "platform.db")); err == nil {
		t.Error("a SQLite file was created although the store is PostgreSQL")
	}

	_, c, _, stop = runServer(t, dir, onPostgres)
	defer stop()
	svc, err := c.GetService(ctx, "acme", "helloworld")
	if err != nil {
		t.Fatal(err)
	}
	if svc.CurrentRelease != r.ID || svc.Version != "v1" {
		t.Errorf("after restart: current %s %s, want %s v1", svc.CurrentRelease, svc.Version, r.ID)
	}
	// The instance kept running; it reconnects to the restarted embedded NATS server
	// within nats.go's reconnect wait (2s).
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := c.Call(ctx, "acme", "helloworld", "Helloworld.Call", json.RawMessage(`{"name":"Postgres"}`), "")
		if err == nil && strings.Contains(string(out), "Hello Postgres") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("call after restart: %s %v", out, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := len(testenv.Instances(t, dir)); n != 1 {
		t.Errorf("%d instances after restart, want the one re-adopted", n)
	}
}

func TestOneServerPerDataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	startServer(t, dir)
	cfg := server.DefaultConfig()
	cfg.DataDir = dir
	cfg.Addr = "127.0.0.1:0"
	_, err := server.New(context.Background(), cfg, io.Discard)
	if platform.ErrorCode(err) != platform.ECONFLICT || !strings.Contains(err.Error(), "another platform server") {
		t.Fatalf("second server on the same data dir: %v, want a conflict", err)
	}
}

// TestServerRunsItsNamedRegion names the server's own region (local_region), as a
// control plane installed by `platform infra apply` does with its control region: the
// region is connected under that name, a registration of it by `platform infra apply`
// (its provider and location) survives a restart, and no region "local" appears.
func TestServerRunsItsNamedRegion(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	named := func(c *server.Config) { c.LocalRegion = "lon1" }
	_, c, _, stop := runServer(t, dir, named)
	t.Cleanup(func() { testenv.KillInstances(t, dir) })
	ctx := context.Background()
	if _, err := c.RegisterRegion(ctx, &platform.Region{Name: "lon1", Provider: "digitalocean", Location: "lon1"}); err != nil {
		t.Fatal(err)
	}
	stop()
	_, c, _ = startServer(t, dir, named)
	var regions []*platform.Region
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		if regions, err = c.ListRegions(ctx); err != nil {
			t.Fatal(err)
		}
		if len(regions) == 1 && regions[0].Health == platform.RegionConnected || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(regions) != 1 {
		t.Fatalf("regions %+v, want lon1 only", regions)
	}
	r := regions[0]
	if r.Name != "lon1" || r.Health != platform.RegionConnected || r.Provider != "digitalocean" || r.Location != "lon1" || r.Runtime != "local" {
		t.Errorf("region %+v, want lon1 connected, provider and location as registered, local runtime", r)
	}
}
