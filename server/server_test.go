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
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/archive"
	"github.com/micro/platform/client"
	"github.com/micro/platform/internal/testenv"
	"github.com/micro/platform/server"
)

// startServer runs the whole platform in-process on 127.0.0.1:0 with a temp data dir.
func startServer(t *testing.T, dataDir string) (*server.App, *client.Client, *testenv.Buffer) {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.DataDir = dataDir
	cfg.Addr = "127.0.0.1:0"
	cfg.RolloutTimeout = 45 * time.Second
	cfg.StopGrace = 3 * time.Second
	out := &testenv.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	app, err := server.New(ctx, cfg, out)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	t.Cleanup(func() {
		defer testenv.KillInstances(t, dataDir)
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
	deadline := time.Now().Add(30 * time.Second)
	for !app.Ready() || app.Addr() == "" {
		if time.Now().After(deadline) {
			t.Fatalf("server not ready; output:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tok, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return app, client.New("http://"+app.Addr(), client.WithToken(strings.TrimSpace(string(tok)))), out
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
