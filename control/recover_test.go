package control_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/control"
	"github.com/micro/platform/internal/seal"
	"github.com/micro/platform/runtime/fake"
	"github.com/micro/platform/sqlstore"
)

// flakyRecover is a driver whose Recover fails as unavailable a number of times first.
type flakyRecover struct {
	*fake.Driver
	failures atomic.Int32
}

func (d *flakyRecover) Recover(ctx context.Context) error {
	if d.failures.Add(-1) >= 0 {
		return platform.Errorf(platform.EUNAVAILABLE, "runtime: API server not answering")
	}
	return d.Driver.Recover(ctx)
}

// TestStartWaitsForAnUnavailableRuntime: a runtime briefly unavailable at start is
// retried, not fatal; any other Recover error still is.
func TestStartWaitsForAnUnavailableRuntime(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := sqlstore.Open(context.Background(), filepath.Join(dir, "platform.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	drv := &flakyRecover{Driver: fake.New(fake.Options{Host: fake.NewHost()})}
	defer drv.Close()
	drv.failures.Store(2)
	box, err := seal.New([]byte("test secret key, 32 bytes long!!"), "release-env")
	if err != nil {
		t.Fatal(err)
	}
	plane, err := control.New(control.Options{
		Store: st, Mesh: &fakeMesh{driver: drv.Driver}, Driver: drv, Builder: fakeBuilder{}, Sources: fakeBuilder{}, Secrets: box,
		BuildLogDir: filepath.Join(dir, "buildlogs"), Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- plane.Start(ctx) }()
	deadline := time.Now().Add(15 * time.Second)
	for !plane.Ready() {
		select {
		case err := <-done:
			t.Fatalf("Start returned %v, want it to wait for the runtime", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("plane not ready after the runtime came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Start: %v", err)
	}
}
