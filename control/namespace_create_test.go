package control_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	platform "github.com/micro/platform"
	"github.com/micro/platform/control"
	"github.com/micro/platform/internal/seal"
	"github.com/micro/platform/internal/testenv"
	"github.com/micro/platform/natsbus"
	"github.com/micro/platform/runtime/fake"
	"github.com/micro/platform/sqlstore"
)

// fillDisk writes a file in dir that leaves about leave bytes free on its file system.
func fillDisk(t *testing.T, dir string, leave int64) {
	t.Helper()
	out, err := exec.Command("df", "-B1", "--output=avail", dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	avail, err := strconv.ParseInt(f[len(f)-1], 10, 64)
	if err != nil {
		t.Fatalf("df output %q: %v", out, err)
	}
	if avail <= leave {
		return
	}
	fh, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	chunk := make([]byte, 1<<20)
	for n := avail - leave; n > 0; n -= int64(len(chunk)) {
		if n < int64(len(chunk)) {
			chunk = chunk[:n]
		}
		if _, err := fh.Write(chunk); err != nil {
			t.Fatalf("fill the disk: %v", err)
		}
	}
}

// meshPlane is a control plane on a real store and a real embedded NATS (the mesh the
// server uses), with the fake runtime.
type meshPlane struct {
	plane *control.Plane
	bus   *natsbus.Bus
	store platform.Store
	admin context.Context
	stop  func()
}

// startMeshPlane starts the store, the bus and the plane on dir, the way the server
// wires them, and fails the test if any of them does not start.
func startMeshPlane(t *testing.T, dir string, mesh func(*natsbus.Bus) platform.Mesh) *meshPlane {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	st, err := sqlstore.Open(context.Background(), filepath.Join(dir, "platform.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	bus, err := natsbus.New(natsbus.Options{Dir: filepath.Join(dir, "nats"), Secret: []byte("0123456789abcdef0123456789abcdef"), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	busDone := make(chan error, 1)
	go func() { busDone <- bus.Start(ctx) }()
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	if err := bus.WaitReady(rctx); err != nil {
		cancel()
		t.Fatalf("bus did not start on its own data: %v (Start: %v)", err, <-busDone)
	}
	driver := fake.New(fake.Options{Host: fake.NewHost()})
	box, err := seal.New([]byte("test secret key, 32 bytes long!!"), "release-env")
	if err != nil {
		t.Fatal(err)
	}
	var m platform.Mesh = bus
	if mesh != nil {
		m = mesh(bus)
	}
	plane, err := control.New(control.Options{
		Store: st, Mesh: m, Driver: driver, Builder: fakeBuilder{}, Sources: fakeBuilder{}, Secrets: box,
		BuildLogDir: filepath.Join(dir, "buildlogs"), ResyncInterval: 200 * time.Millisecond, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	planeDone := make(chan error, 1)
	go func() { planeDone <- plane.Start(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); !plane.Ready(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("plane did not start on its own data: %v", <-planeDone)
		}
	}
	mp := &meshPlane{plane: plane, bus: bus, store: st,
		admin: platform.NewContextWithToken(context.Background(), &platform.Token{Name: "admin", Admin: true})}
	stopped := false
	mp.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-planeDone; err != nil {
			t.Errorf("plane: %v", err)
		}
		if err := <-busDone; err != nil {
			t.Errorf("bus: %v", err)
		}
		driver.Close()
		st.Close()
	}
	t.Cleanup(mp.stop)
	return mp
}

// failedCreates returns the audit entries of namespace creates that failed.
func failedCreates(t *testing.T, mp *meshPlane) []*platform.AuditEntry {
	t.Helper()
	entries, err := mp.plane.ListAudit(mp.admin, platform.AuditFilter{Action: platform.AuditNamespaceCreate})
	if err != nil {
		t.Fatal(err)
	}
	var out []*platform.AuditEntry
	for _, e := range entries {
		if e.Outcome != platform.AuditOK {
			out = append(out, e)
		}
	}
	return out
}

// TestCreateNamespaceOnASmallDisk runs the control plane and the embedded NATS on a
// 96 MiB data disk. Namespaces reserve no JetStream space they do not use, so several
// fit (each used to reserve 1 GiB: the first create failed and was stored anyway). On
// a nearly full disk a create fails whole, saying which disk and what to do: nothing is
// stored, the attempt is audited, and the plane and the bus start again on that data.
func TestCreateNamespaceOnASmallDisk(t *testing.T) {
	dir := testenv.Tmpfs(t, "96m")
	mp := startMeshPlane(t, dir, nil)
	names := []string{"n1", "n2", "n3", "n4", "n5"}
	for _, ns := range names {
		if _, err := mp.plane.CreateNamespace(mp.admin, ns); err != nil {
			t.Fatalf("create %s on a 96 MiB disk: %v", ns, err)
		}
	}

	fillDisk(t, dir, 16<<20)
	_, err := mp.plane.CreateNamespace(mp.admin, "full")
	if code := platform.ErrorCode(err); code != platform.EUNAVAILABLE {
		t.Fatalf("create on a nearly full disk: %v (code %q), want %s", err, code, platform.EUNAVAILABLE)
	}
	msg, hint := platform.ErrorMessage(err), platform.ErrorHint(err)
	for _, want := range []string{"namespace full not created", filepath.Join(dir, "nats"), "MiB free"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	if !strings.Contains(hint, "free space") {
		t.Errorf("hint %q does not say to free space", hint)
	}
	if _, err := mp.store.GetNamespace(context.Background(), "full"); !platform.IsNotFound(err) {
		t.Errorf("refused namespace is in the store: %v", err)
	}
	failed := failedCreates(t, mp)
	if len(failed) != 1 || failed[0].Target != "namespace/full" || failed[0].Outcome != "failed" || !strings.Contains(failed[0].Detail, "not created") {
		t.Errorf("failed creates audited: %+v, want one for namespace/full", failed)
	}

	mp.stop()
	mp = startMeshPlane(t, dir, nil)
	got, err := mp.plane.ListNamespaces(mp.admin)
	if err != nil {
		t.Fatal(err)
	}
	var gotNames []string
	for _, ns := range got {
		gotNames = append(gotNames, ns.Name)
	}
	if strings.Join(gotNames, ",") != strings.Join(names, ",") {
		t.Errorf("namespaces after restart: %v, want %v", gotNames, names)
	}
	env, err := mp.bus.InstanceEnv("n3")
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(env["MICRO_REGISTRY_ADDRESS"], nats.NoReconnect())
	if err != nil {
		t.Fatalf("n3 cannot connect after the restart: %v", err)
	}
	nc.Close()
	if _, err := mp.bus.InstanceEnv("full"); !platform.IsNotFound(err) {
		t.Errorf("the refused namespace has a mesh account after the restart: %v", err)
	}
}

// refusingMesh is a mesh that refuses every new namespace in EnsureNamespace, as a
// remote mesh node out of reach does.
type refusingMesh struct {
	platform.Mesh
	mu      sync.Mutex
	err     error
	removed []string
}

func (m *refusingMesh) EnsureNamespace(ctx context.Context, ns string) error {
	m.mu.Lock()
	err := m.err
	m.mu.Unlock()
	if err != nil {
		return err
	}
	return m.Mesh.EnsureNamespace(ctx, ns)
}

func (m *refusingMesh) setErr(err error) {
	m.mu.Lock()
	m.err = err
	m.mu.Unlock()
}

func (m *refusingMesh) RemoveNamespace(ctx context.Context, ns string) error {
	m.removed = append(m.removed, ns)
	return m.Mesh.RemoveNamespace(ctx, ns)
}

// TestCreateNamespaceMeshRefuses checks what a user sees when a region's mesh refuses a
// namespace after the region said it had room (a remote mesh node out of reach): the
// namespace is created, and the region reports the refusal once as an event with the
// mesh's message (a clear one for an error without a code, never "internal"), and sets
// the namespace up once the mesh takes it.
func TestCreateNamespaceMeshRefuses(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		wantMsg string
	}{
		{name: "coded", err: platform.Errorf(platform.EUNAVAILABLE, "mesh node unreachable").WithHint("check platform mesh"),
			wantMsg: "region local could not set namespace acme up: mesh node unreachable"},
		{name: "uncoded", err: errors.New("dial tcp 10.0.0.1:4222: i/o timeout"),
			wantMsg: "region local could not set namespace acme up: the messaging layer could not take it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mesh *refusingMesh
			mp := startMeshPlane(t, t.TempDir(), func(b *natsbus.Bus) platform.Mesh {
				mesh = &refusingMesh{Mesh: b, err: tt.err}
				return mesh
			})
			if _, err := mp.plane.CreateNamespace(mp.admin, "acme"); err != nil {
				t.Fatalf("create: %v", err)
			}
			refused := func() []*platform.Event {
				evs, err := mp.plane.Events(mp.admin, platform.EventFilter{Namespace: "acme", Type: platform.EventNamespaceRefused})
				if err != nil {
					t.Fatal(err)
				}
				return evs
			}
			deadline := time.Now().Add(10 * time.Second)
			for len(refused()) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("no namespace.refused event")
				}
				time.Sleep(20 * time.Millisecond)
			}
			evs := refused()
			if !strings.HasPrefix(evs[0].Message, tt.wantMsg) || evs[0].Region != "local" {
				t.Errorf("event %q in region %q, want %q in local", evs[0].Message, evs[0].Region, tt.wantMsg)
			}
			if _, err := mp.bus.InstanceEnv("acme"); !platform.IsNotFound(err) {
				t.Errorf("the refused namespace has a mesh account: %v", err)
			}
			// Once the mesh takes it, the next resync sets it up, and it is not reported again.
			mesh.setErr(nil)
			deadline = time.Now().Add(10 * time.Second)
			for {
				if _, err := mp.bus.InstanceEnv("acme"); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the namespace was not set up once the mesh took it")
				}
				time.Sleep(50 * time.Millisecond)
			}
			if n := len(refused()); n != 1 {
				t.Errorf("%d namespace.refused events, want 1", n)
			}
		})
	}
}
