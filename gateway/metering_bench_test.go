package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	platform "github.com/micro/platform"
	"github.com/micro/platform/auth"
	"github.com/micro/platform/metering"
	"github.com/micro/platform/sqlstore"
)

// BenchmarkGatewayMetering measures what billing costs the gateway: the handler's
// throughput with the metering pipeline off, and on — the real publisher and folder on
// an embedded NATS server with JetStream, folding into a SQLite store, all in this
// process and on the same cores, the gateway flushing every second. Compare the two in
// one run (docs/performance.md §14).
func BenchmarkGatewayMetering(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			secret, hash := auth.NewSecret()
			store := oneTokenStore{tok: &platform.Token{ID: "t-1", Name: "bench", Hash: hash, Namespaces: []string{"acme"}}}
			opts := Options{
				Mesh:          benchMesh{body: []byte(`{"msg":"Hello Alice"}`)},
				Auth:          auth.NewAuthenticator(store, auth.Options{TTL: time.Hour}),
				Usage:         newMemUsage(),
				Metrics:       prometheus.NewRegistry(),
				Logger:        slog.New(slog.DiscardHandler),
				FlushInterval: time.Second,
				Region:        "local",
			}
			ctx, cancel := context.WithCancel(context.Background())
			var folded func() int64
			if on {
				var stop func()
				opts.Metering, folded, stop = startPipeline(b)
				defer stop()
			}
			g := New(opts)
			done := make(chan error, 1)
			go func() { done <- g.Start(ctx) }()

			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				body := strings.NewReader(benchBody)
				r := httptest.NewRequest(http.MethodPost, "/api/helloworld/Helloworld.Call", body)
				r.Header.Set("Authorization", "Bearer "+secret)
				r.Header.Set(HeaderNamespace, "acme")
				w := &discardWriter{h: http.Header{}}
				for pb.Next() {
					body.Reset(benchBody)
					r.Body = io.NopCloser(body)
					g.ServeHTTP(w, r)
					if w.status != http.StatusOK {
						b.Errorf("status %d", w.status)
						return
					}
				}
			})
			b.StopTimer()
			cancel()
			<-done
			if folded != nil {
				// Every request is billed once the last flush is folded. (The
				// benchmark runs b.N requests in each of its rounds; the store keeps
				// the sum of the rounds of this sub-benchmark's last call only.)
				deadline := time.Now().Add(30 * time.Second)
				for folded() != int64(b.N) {
					if time.Now().After(deadline) {
						b.Fatalf("rollups count %d requests, want %d", folded(), b.N)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
}

// startPipeline runs an embedded NATS server with JetStream, a metering publisher and a
// folder into a fresh SQLite store; folded returns the requests in the rollups.
func startPipeline(b *testing.B) (pub *metering.Publisher, folded func() int64, stop func()) {
	b.Helper()
	dir := b.TempDir()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: filepath.Join(dir, "nats"), NoSigs: true, NoLog: true})
	if err != nil {
		b.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		b.Fatal("nats server not ready")
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		b.Fatal(err)
	}
	st, err := sqlstore.Open(context.Background(), filepath.Join(dir, "platform.db"))
	if err != nil {
		b.Fatal(err)
	}
	if pub, err = metering.NewPublisher(nc, metering.PublisherOptions{}); err != nil {
		b.Fatal(err)
	}
	folder, err := metering.NewFolder(nc, st, metering.FolderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pdone, fdone := make(chan struct{}), make(chan struct{})
	go func() { defer close(pdone); _ = pub.Start(ctx) }()
	go func() { defer close(fdone); _ = folder.Start(ctx) }()
	folded = func() int64 {
		list, err := st.ListUsageRollups(context.Background(), platform.UsageRollupFilter{Meter: platform.MeterRequests})
		if err != nil {
			b.Fatal(err)
		}
		var n int64
		for _, r := range list {
			n += r.Quantity
		}
		return n
	}
	return pub, folded, func() {
		cancel()
		<-pdone
		<-fdone
		nc.Close()
		st.Close()
		srv.Shutdown()
	}
}
