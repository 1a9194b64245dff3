package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	platform "github.com/micro/platform"
	"github.com/micro/platform/auth"
)

// oneTokenStore is a store holding one token and answering every namespace as the
// default organisation's; only lookups are used. The authenticator resolves a
// namespace's organisation only when its store is a platform.NamespaceStore, so without
// GetNamespace every request would be refused (503).
type oneTokenStore struct {
	platform.Store
	tok *platform.Token
}

func (s oneTokenStore) GetNamespace(_ context.Context, name string) (*platform.Namespace, error) {
	return &platform.Namespace{Name: name, Org: platform.DefaultOrg}, nil
}

func (s oneTokenStore) GetTokenByHash(_ context.Context, hash string) (*platform.Token, error) {
	if hash == s.tok.Hash {
		return s.tok, nil
	}
	return nil, platform.Errorf(platform.ENOTFOUND, "no such token")
}

// newBenchGateway is the gateway as served: the real Authenticator, metering and
// Prometheus metrics on, with a Mesh that answers at once.
func newBenchGateway(b *testing.B) (*Gateway, string) {
	b.Helper()
	secret, hash := auth.NewSecret()
	store := oneTokenStore{tok: &platform.Token{ID: "t-1", Name: "bench", Hash: hash, Namespaces: []string{"acme"}}}
	g := New(Options{
		Mesh:    benchMesh{body: []byte(`{"msg":"Hello Alice"}`)},
		Auth:    auth.NewAuthenticator(store, auth.Options{TTL: time.Hour}),
		Usage:   newMemUsage(),
		Metrics: prometheus.NewRegistry(),
		Logger:  slog.New(slog.DiscardHandler),
	})
	return g, secret
}

// discardWriter is a minimal http.ResponseWriter, so the handler benchmark measures the
// gateway and not httptest.ResponseRecorder. It keeps the last status.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }

const benchBody = `{"name":"Alice"}`

// BenchmarkGateway measures the gateway's own overhead per call: "handler" calls
// ServeHTTP directly, "http" goes through an in-process HTTP server and keep-alive client.
func BenchmarkGateway(b *testing.B) {
	b.Run("handler", func(b *testing.B) {
		g, secret := newBenchGateway(b)
		b.ReportAllocs()
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
	})
	b.Run("http", func(b *testing.B) {
		g, secret := newBenchGateway(b)
		srv := httptest.NewServer(g)
		defer srv.Close()
		client := srv.Client()
		client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
		url := srv.URL + "/api/helloworld/Helloworld.Call"
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(benchBody))
				r.Header.Set("Authorization", "Bearer "+secret)
				r.Header.Set(HeaderNamespace, "acme")
				resp, err := client.Do(r)
				if err != nil {
					b.Error(err)
					return
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d: %s", resp.StatusCode, out)
					return
				}
			}
		})
	})
}
