package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
)

// meshFake answers the connection routes: a grant whose secret needs quoting, a list, a
// revoke, and a tunnel whose far end echoes what it gets.
type meshFake struct {
	*httptest.Server
	mu      sync.Mutex
	revoked []string
}

func newMeshFake(t *testing.T) *meshFake {
	t.Helper()
	f := &meshFake{}
	exp := t0.Add(8 * time.Hour)
	tok := &platform.Token{ID: "t_mesh1", Name: "connect@laptop", Kind: platform.TokenMesh, User: "dana", Namespaces: []string{"acme"}, CreatedAt: t0, ExpiresAt: &exp}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/namespaces/acme/connections", func(w http.ResponseWriter, r *http.Request) {
		u := "nats://dev.t_mesh1:it%27s-secret@10.0.0.1:4222"
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(platform.MeshGrant{Token: tok, Secret: "it's-secret", User: "dev.t_mesh1", MeshURL: "nats://10.0.0.1:4222",
			Env: map[string]string{"MICRO_REGISTRY": "nats", "MICRO_REGISTRY_ADDRESS": u, "MICRO_BROKER": "nats", "MICRO_BROKER_ADDRESS": u,
				"MICRO_TRANSPORT": "nats", "MICRO_TRANSPORT_ADDRESS": u}})
	})
	mux.HandleFunc("GET /v1/namespaces/acme/connections", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"connections": []*platform.MeshConnection{{Token: tok, Clients: []platform.MeshClient{
			{Remote: "192.0.2.7:50001", Since: t1}, {Remote: "192.0.2.7:50002", Since: t0.Add(time.Minute)},
		}}}})
	})
	mux.HandleFunc("GET /v1/namespaces/acme/mesh", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != platform.MeshTunnelProtocol || r.Header.Get("Authorization") != "Bearer "+adminSecret {
			http.Error(w, `{"error":{"code":"invalid","message":"not an upgrade"}}`, http.StatusBadRequest)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "+platform.MeshTunnelProtocol+"\r\n\r\n")
		_, _ = io.Copy(c, brw) // the far end: an echo
	})
	mux.HandleFunc("DELETE /v1/tokens/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.revoked = append(f.revoked, r.PathValue("id"))
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *meshFake) run(t *testing.T, args ...string) result {
	t.Helper()
	return runCLI(t, []string{"PLATFORM_SERVER=" + f.URL, "PLATFORM_TOKEN=" + adminSecret, "TZ=UTC"}, "", args...)
}

func (f *meshFake) revokedIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.revoked...)
}

// TestEnvPrintsExports: platform env prints the grant's environment as shell exports a
// POSIX shell reads back unchanged, and says how to revoke the credential.
func TestEnvPrintsExports(t *testing.T) {
	f := newMeshFake(t)
	r := f.run(t, "env", "-n", "acme")
	if r.code != 0 {
		t.Fatalf("env: %+v", r)
	}
	want := "export MICRO_REGISTRY='nats'\n" +
		"export MICRO_REGISTRY_ADDRESS='nats://dev.t_mesh1:it%27s-secret@10.0.0.1:4222'\n" +
		"export MICRO_BROKER='nats'\n" +
		"export MICRO_BROKER_ADDRESS='nats://dev.t_mesh1:it%27s-secret@10.0.0.1:4222'\n" +
		"export MICRO_TRANSPORT='nats'\n" +
		"export MICRO_TRANSPORT_ADDRESS='nats://dev.t_mesh1:it%27s-secret@10.0.0.1:4222'\n"
	if r.stdout != want {
		t.Fatalf("env printed:\n%s\nwant:\n%s", r.stdout, want)
	}
	if !strings.Contains(r.stderr, "platform connections revoke t_mesh1") {
		t.Errorf("env does not say how to revoke the credential: %s", r.stderr)
	}
	if sh, err := exec.LookPath("sh"); err == nil {
		out, err := exec.Command(sh, "-c", r.stdout+`printf %s "$MICRO_BROKER_ADDRESS"`).Output()
		if err != nil || string(out) != "nats://dev.t_mesh1:it%27s-secret@10.0.0.1:4222" {
			t.Errorf("a shell reads the exports back as %q (%v)", out, err)
		}
	}
	if got := f.revokedIDs(); len(got) != 0 {
		t.Errorf("env revoked %v: its credential must outlive the command", got)
	}
}

// TestConnectRunsCommandInTunnel: platform connect runs the command with the environment
// pointed at its local end of the tunnel, which carries bytes to the mesh through the
// platform and back; the command's exit status is connect's, and the credential is
// revoked when it ends.
func TestConnectRunsCommandInTunnel(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("needs bash for /dev/tcp")
	}
	f := newMeshFake(t)
	script := `addr=${MICRO_TRANSPORT_ADDRESS##*@}
echo "$MICRO_REGISTRY_ADDRESS"
exec 3<>/dev/tcp/${addr%:*}/${addr##*:}
printf ping >&3
head -c 4 <&3
exit 3`
	r := f.run(t, "connect", "-n", "acme", "--", bash, "-c", script)
	if r.code != 3 {
		t.Fatalf("connect exited %d, want the command's 3: %+v", r.code, r)
	}
	first, echoed, _ := strings.Cut(r.stdout, "\n")
	if !strings.HasPrefix(first, "nats://dev.t_mesh1:it%27s-secret@127.0.0.1:") {
		t.Errorf("the command's registry address is %q, want the tunnel's local end with the credential", first)
	}
	if echoed != "ping" {
		t.Errorf("through the tunnel the command read %q, want the far end's echo %q", echoed, "ping")
	}
	if got := f.revokedIDs(); len(got) != 1 || got[0] != "t_mesh1" {
		t.Errorf("revoked %v at the end, want [t_mesh1]", got)
	}

	// --direct hands the mesh server's own address.
	r = f.run(t, "connect", "-n", "acme", "--direct", "--", bash, "-c", `echo "$MICRO_BROKER_ADDRESS"`)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "nats://dev.t_mesh1:it%27s-secret@10.0.0.1:4222" {
		t.Errorf("connect --direct: %+v", r)
	}
	if r := f.run(t, "connect", "-n", "acme", "--", "no-such-command-here"); r.code != ExitUsage || !strings.Contains(r.stderr, "not found") {
		t.Errorf("connect with a missing command: %+v", r)
	}
}

// TestConnectionsTable: the credentials with how many processes are connected, from
// where and since when.
func TestConnectionsTable(t *testing.T) {
	f := newMeshFake(t)
	r := f.run(t, "connections", "-n", "acme")
	if r.code != 0 {
		t.Fatalf("connections: %+v", r)
	}
	want := "ID        NAME             USER   EXPIRES               CLIENTS   FROM        CONNECTED SINCE\n" +
		"t_mesh1   connect@laptop   dana   2026-03-04 18:20:30   2         192.0.2.7   2026-03-04 10:21:30\n"
	if r.stdout != want {
		t.Fatalf("connections printed:\n%s\nwant:\n%s", r.stdout, want)
	}
	if r := f.run(t, "connections", "revoke", "t_mesh1"); r.code != 0 || !strings.Contains(r.stdout, "Revoked mesh credential t_mesh1") {
		t.Fatalf("connections revoke: %+v", r)
	}
}
