package cli

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/micro/platform/internal/testenv"
	"github.com/micro/platform/natsbus"
)

func TestMeshUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	short := filepath.Join(dir, "short.key")
	if err := os.WriteFile(short, []byte("too short"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		env      []string
		wantCode int
		want     []string
	}{
		{name: "every missing setting reported", args: []string{"mesh", "--listen", "nope"}, wantCode: ExitUsage,
			want: []string{"--data is required", `--listen "nope"`, "--secret-file is required"}},
		{name: "missing secret file", args: []string{"mesh", "--data", dir, "--secret-file", filepath.Join(dir, "none.key")}, wantCode: ExitError,
			want: []string{"does not exist", "hint: use the platform server's DATA/secret.key"}},
		{name: "secret too short from env", args: []string{"mesh"}, env: []string{"PLATFORM_MESH_DATA=" + dir, "PLATFORM_MESH_SECRET_FILE=" + short},
			wantCode: ExitError, want: []string{"holds 9 bytes, want at least 16"}},
		{name: "bad log format", args: []string{"mesh", "--data", dir, "--secret-file", short, "--log-format", "xml"}, wantCode: ExitUsage,
			want: []string{`--log-format "xml"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out, errb testenv.Buffer
			code := Run(context.Background(), tt.args, strings.NewReader(""), &out, &errb, tt.env)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstderr:\n%s", code, tt.wantCode, errb.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr does not say %q:\n%s", w, errb.String())
				}
			}
		})
	}
}

// TestMeshServesRemoteBus runs `platform mesh` in process and connects a platform Bus to
// it with the same secret file, as the Kubernetes manifests do.
func TestMeshServesRemoteBus(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	dir := t.TempDir()
	// The server writes 32 random bytes; the file is used as it is, newline included.
	secret := []byte("0123456789abcdef0123456789abcde\n")
	secretFile := filepath.Join(dir, "secret.key")
	if err := os.WriteFile(secretFile, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb testenv.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"mesh", "--data", filepath.Join(dir, "mesh"), "--listen", "127.0.0.1:0"},
			strings.NewReader(""), &out, &errb, []string{"PLATFORM_MESH_SECRET_FILE=" + secretFile, "PLATFORM_LOG_FORMAT=json"})
	}()
	readyRE := regexp.MustCompile(`"msg":"mesh node ready","listen":"([0-9.:]+)"`)
	var addr string
	deadline := time.Now().Add(30 * time.Second)
	for addr == "" {
		if m := readyRE.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("mesh exited %d:\n%s%s", code, out.String(), errb.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("mesh not ready:\n%s", out.String())
		}
	}

	bus, err := natsbus.New(natsbus.Options{Remote: "nats://" + addr, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	bctx, bcancel := context.WithCancel(ctx)
	bdone := make(chan error, 1)
	go func() { bdone <- bus.Start(bctx) }()
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	if err := bus.WaitReady(rctx); err != nil {
		t.Fatalf("bus not ready: %v", err)
	}
	if err := bus.EnsureNamespace(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Services(ctx, "acme", ""); err != nil {
		t.Fatalf("list services in acme through the mesh: %v", err)
	}
	bcancel()
	if err := <-bdone; err != nil {
		t.Fatal(err)
	}

	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("mesh exited %d after interrupt:\n%s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("mesh did not stop")
	}
	if strings.Contains(out.String(), strings.TrimSpace(string(secret))) {
		t.Error("mesh output holds the secret")
	}
	if !strings.Contains(out.String(), `"namespace":"acme"`) {
		t.Errorf("mesh did not log acme's account:\n%s", out.String())
	}
}
