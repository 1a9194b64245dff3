package metering

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/micro/platform"
	"github.com/micro/platform/internal/testenv"
	"github.com/micro/platform/sqlstore"
)

// natsServer is an embedded NATS server with JetStream on a directory of its own, which
// a test may stop and start again on the same data.
type natsServer struct {
	dir  string
	port int // after the first start: restarts take the same port, so clients reconnect
	srv  *server.Server
}

// startNATS starts a JetStream server on dir (a new temporary one when ""), stopped when
// tb ends. It skips under -short.
func startNATS(tb testing.TB, dir string) *natsServer {
	tb.Helper()
	if testing.Short() {
		tb.Skip("starts a NATS server")
	}
	if dir == "" {
		dir = tb.TempDir()
	}
	s := &natsServer{dir: dir}
	s.start(tb)
	tb.Cleanup(s.stop)
	return s
}

func (s *natsServer) start(tb testing.TB) {
	tb.Helper()
	port := server.RANDOM_PORT
	if s.port != 0 {
		port = s.port
	}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true,
		StoreDir: s.dir, NoSigs: true, NoLog: true})
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		tb.Fatal("nats server not ready")
	}
	s.srv = srv
	s.port = srv.Addr().(*net.TCPAddr).Port
}

func (s *natsServer) stop() {
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
		s.srv = nil
	}
}

// restart stops the server and starts it again on the same data and port.
func (s *natsServer) restart(tb testing.TB) {
	tb.Helper()
	s.stop()
	s.start(tb)
}

// connect returns a connection to the server, closed when tb ends.
func (s *natsServer) connect(tb testing.TB) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(s.srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// openStore opens a store of engine ("sqlite" or "postgres") on new storage, closed when
// tb ends.
func openStore(tb testing.TB, engine string) platform.Store {
	tb.Helper()
	dsn := filepath.Join(tb.TempDir(), "platform.db")
	if engine == "postgres" {
		dsn = testenv.PostgresDatabase(tb, testenv.PostgresAdmin(tb))
	}
	s, err := sqlstore.Open(context.Background(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// engines are the stores the pipeline tests run on: SQLite, and PostgreSQL but under
// -short (which skips them anyway: they need NATS).
func engines() []string { return []string{"sqlite", "postgres"} }

// running is a started publisher or folder and the way to stop it.
type running struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when Start has returned err
	err    error
}

// stop ends it and waits for Start to return, failing tb on an error.
func (r *running) stop(tb testing.TB) {
	tb.Helper()
	r.cancel()
	<-r.done
	if r.err != nil {
		tb.Errorf("Start returned %v", r.err)
	}
}

// run starts start (a Publisher's or Folder's Start) until stopped or tb ends.
func run(tb testing.TB, start func(context.Context) error) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = start(ctx)
	}()
	tb.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// newPublisher returns a started publisher on nc.
func newPublisher(tb testing.TB, nc *nats.Conn, opts PublisherOptions) (*Publisher, *running) {
	tb.Helper()
	p, err := NewPublisher(nc, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return p, run(tb, p.Start)
}

// newFolder returns a started folder on nc into store.
func newFolder(tb testing.TB, nc *nats.Conn, store platform.MeteringStore, opts FolderOptions) (*Folder, *running) {
	tb.Helper()
	f, err := NewFolder(nc, store, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return f, run(tb, f.Start)
}

// streamLast returns the sequence of the stream's last message.
func streamLast(tb testing.TB, nc *nats.Conn, name string) uint64 {
	tb.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return info.State.LastSeq
}

// waitFolded waits until the folder has committed up to the stream's last message.
func waitFolded(tb testing.TB, nc *nats.Conn, f *Folder, name string) {
	tb.Helper()
	last := streamLast(tb, nc, name)
	eventually(tb, 60*time.Second, func() error {
		if pos := f.Stats().Position; pos < last {
			return fmt.Errorf("folder at %d of %d", pos, last)
		}
		return nil
	})
}

// eventually retries check until it returns nil, failing tb with its last error after
// timeout.
func eventually(tb testing.TB, timeout time.Duration, check func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wantRollups fails tb unless the store's rollups are those of events (distinct).
func wantRollups(tb testing.TB, s platform.MeteringStore, events []*platform.UsageEvent) {
	tb.Helper()
	got, err := s.ListUsageRollups(context.Background(), platform.UsageRollupFilter{})
	if err != nil {
		tb.Fatal(err)
	}
	want := platform.SumUsage(events)
	if len(got) != len(want) {
		tb.Fatalf("%d rollups, want %d:\n got %s\nwant %s", len(got), len(want), formatRollups(got), formatRollups(want))
	}
	for i := range want {
		g, w := *got[i], *want[i]
		if !g.Hour.Equal(w.Hour) || g.Quantity != w.Quantity || g.Org != w.Org || g.Namespace != w.Namespace ||
			g.Service != w.Service || g.Region != w.Region || g.Meter != w.Meter {
			tb.Fatalf("rollup %d = %+v, want %+v\n got %s\nwant %s", i, g, w, formatRollups(got), formatRollups(want))
		}
	}
}

func formatRollups(list []*platform.UsageRollup) string {
	s := ""
	for _, r := range list {
		s += fmt.Sprintf("\n  %s %s/%s/%s@%s %s %d", r.Hour.Format("01-02T15"), r.Org, r.Namespace, r.Service, r.Region, r.Meter, r.Quantity)
	}
	return s
}

// testHour is the hour most test events fall in: recent, so that no event is late for
// the default dedupe window as JetStream timestamps them.
func testHour() time.Time { return platform.UsageHour(time.Now()) }

// event returns a valid event.
func event(id string, svc string, m platform.Meter, q int64, at time.Time) platform.UsageEvent {
	return platform.UsageEvent{ID: id, Org: "o-1", Namespace: "acme", Service: svc, Region: "local", Meter: m,
		Quantity: q, Time: at}
}

// pointers returns pointers to the events.
func pointers(events []platform.UsageEvent) []*platform.UsageEvent {
	list := make([]*platform.UsageEvent, len(events))
	for i := range events {
		list[i] = &events[i]
	}
	return list
}
