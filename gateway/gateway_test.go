package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	platform "github.com/micro/platform"
)

const (
	acmeSecret   = "mp_acme"
	globexSecret = "mp_globex"
	adminSecret  = "mp_admin"
)

var testTokens = fakeAuth{
	acmeSecret:   {ID: "t-acme", Name: "acme-ci", Namespaces: []string{"acme"}},
	globexSecret: {ID: "t-globex", Name: "globex-ci", Namespaces: []string{"globex"}},
	adminSecret:  {ID: "t-admin", Name: "root", Admin: true},
}

type testGateway struct {
	*Gateway
	mesh  *fakeMesh
	usage *memUsage
	reg   *prometheus.Registry
	clock *fakeClock
	logs  *bytes.Buffer
}

func newTestGateway(t testing.TB, mod func(*Options)) *testGateway {
	t.Helper()
	tg := &testGateway{
		mesh:  newFakeMesh(),
		usage: newMemUsage(),
		reg:   prometheus.NewRegistry(),
		clock: &fakeClock{now: time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)},
		logs:  &bytes.Buffer{},
	}
	opts := Options{
		Mesh:    tg.mesh,
		Auth:    testTokens,
		Usage:   tg.usage,
		Domain:  "example.com",
		Metrics: tg.reg,
		Logger:  slog.New(slog.NewTextHandler(tg.logs, nil)),
		Timeout: 7 * time.Second,
		Clock:   tg.clock,
	}
	if mod != nil {
		mod(&opts)
	}
	tg.Gateway = New(opts)
	return tg
}

type req struct {
	method, host, path, body string
	headers                  map[string]string
}

// do serves r and returns the response.
func (tg *testGateway) do(r req) *httptest.ResponseRecorder {
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.host == "" {
		r.host = "api.example.com"
	}
	if r.path == "" {
		r.path = "/api/helloworld/Helloworld.Call"
	}
	if r.body == "" {
		r.body = `{"name":"Alice"}`
	}
	hr := httptest.NewRequest(r.method, "http://"+r.host+r.path, strings.NewReader(r.body))
	for k, v := range r.headers {
		hr.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	tg.ServeHTTP(w, hr)
	return w
}

// acme returns headers for a call in namespace acme with acme's token.
func acme() map[string]string {
	return map[string]string{"Authorization": "Bearer " + acmeSecret, HeaderNamespace: "acme"}
}

// errorOf decodes the platform error JSON of w, failing unless it has that shape.
func errorOf(t *testing.T, w *httptest.ResponseRecorder) platform.ErrorBody {
	t.Helper()
	var b platform.ErrorResponse
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil || b.Error.Code == "" || b.Error.RequestID == "" {
		t.Fatalf("body %q is not the platform error shape (%v)", w.Body.String(), err)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	return b.Error
}

func TestRouting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		domain   string
		req      req
		wantNS   string
		wantVer  string
		wantCode int
		wantMsg  string
	}{
		{name: "header", req: req{headers: map[string]string{HeaderNamespace: "acme"}}, wantNS: "acme"},
		{name: "host prefix", req: req{host: "acme.example.com"}, wantNS: "acme"},
		{name: "host prefix with port and capitals", req: req{host: "ACME.Example.com:8443"}, wantNS: "acme"},
		{name: "header wins over host", req: req{host: "globex.example.com", headers: map[string]string{HeaderNamespace: "acme"}}, wantNS: "acme"},
		{name: "version header", req: req{headers: map[string]string{HeaderNamespace: "acme", HeaderVersion: "v2"}}, wantNS: "acme", wantVer: "v2"},
		{name: "neither", req: req{host: "example.com"}, wantCode: 400, wantMsg: "no namespace: set the Micro-Namespace header or call NAMESPACE.example.com"},
		{name: "nested host prefix", req: req{host: "a.acme.example.com"}, wantCode: 400, wantMsg: "no namespace"},
		{name: "other domain", req: req{host: "acme.example.org"}, wantCode: 400, wantMsg: "no namespace"},
		{name: "host ignored without domain", domain: "-", req: req{host: "acme.example.com"}, wantCode: 400, wantMsg: "no namespace: set the Micro-Namespace header"},
		{name: "bad namespace header", req: req{headers: map[string]string{HeaderNamespace: "Acme!"}}, wantCode: 400, wantMsg: `invalid namespace name "Acme!"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg := newTestGateway(t, func(o *Options) {
				if tt.domain == "-" {
					o.Domain = ""
				}
			})
			if tt.req.headers == nil {
				tt.req.headers = map[string]string{}
			}
			tt.req.headers["Authorization"] = "Bearer " + adminSecret
			w := tg.do(tt.req)
			if tt.wantCode != 0 {
				if w.Code != tt.wantCode {
					t.Fatalf("status %d, want %d: %s", w.Code, tt.wantCode, w.Body)
				}
				if e := errorOf(t, w); e.Code != platform.EINVALID || !strings.Contains(e.Message, tt.wantMsg) || e.Hint == "" {
					t.Fatalf("error %+v, want invalid with %q and a hint", e, tt.wantMsg)
				}
				if n := len(tg.mesh.Calls()); n != 0 {
					t.Fatalf("mesh called %d times", n)
				}
				return
			}
			if w.Code != 200 || w.Body.String() != `{"msg":"Hello Alice"}` || w.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("got %d %q %q", w.Code, w.Body, w.Header().Get("Content-Type"))
			}
			calls := tg.mesh.Calls()
			want := platform.CallRequest{Namespace: tt.wantNS, Service: "helloworld", Endpoint: "Helloworld.Call",
				Body: []byte(`{"name":"Alice"}`), Version: tt.wantVer, Timeout: 7 * time.Second, Scoped: true}
			if len(calls) != 1 || fmt.Sprint(calls[0]) != fmt.Sprint(want) {
				t.Fatalf("mesh calls %+v, want one %+v", calls, want)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		auth     string
		ns       string
		wantCode int
		wantErr  string
	}{
		{name: "no token", ns: "acme", wantCode: 401, wantErr: platform.EUNAUTHENTICATED},
		{name: "bad token", auth: "Bearer mp_wrong", ns: "acme", wantCode: 401, wantErr: platform.EUNAUTHENTICATED},
		{name: "basic scheme", auth: "Basic " + acmeSecret, ns: "acme", wantCode: 401, wantErr: platform.EUNAUTHENTICATED},
		{name: "own namespace", auth: "Bearer " + acmeSecret, ns: "acme", wantCode: 200},
		{name: "lowercase scheme", auth: "bearer " + acmeSecret, ns: "acme", wantCode: 200},
		{name: "other namespace", auth: "Bearer " + globexSecret, ns: "acme", wantCode: 403, wantErr: platform.EFORBIDDEN},
		{name: "namespace that does not exist", auth: "Bearer " + globexSecret, ns: "nosuch", wantCode: 403, wantErr: platform.EFORBIDDEN},
		{name: "admin anywhere", auth: "Bearer " + adminSecret, ns: "globex", wantCode: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg := newTestGateway(t, nil)
			h := map[string]string{HeaderNamespace: tt.ns}
			if tt.auth != "" {
				h["Authorization"] = tt.auth
			}
			w := tg.do(req{headers: h})
			if w.Code != tt.wantCode {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.wantCode, w.Body)
			}
			if tt.wantErr == "" {
				return
			}
			if e := errorOf(t, w); e.Code != tt.wantErr {
				t.Fatalf("error %+v, want code %s", e, tt.wantErr)
			}
			if n := len(tg.mesh.Calls()); n != 0 {
				t.Fatalf("mesh called %d times for a refused request", n)
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		req      req
		wantCode int
		wantMsgs []string
	}{
		{name: "GET", req: req{method: http.MethodGet}, wantCode: 405, wantMsgs: []string{"only takes POST"}},
		{name: "bad service", req: req{path: "/api/Hello_World/Helloworld.Call"}, wantCode: 400, wantMsgs: []string{`invalid service name "Hello_World"`}},
		{name: "no endpoint", req: req{path: "/api/helloworld"}, wantCode: 400, wantMsgs: []string{"is not /api/{service}/{Type.Method}"}},
		{name: "endpoint without type", req: req{path: "/api/helloworld/Call"}, wantCode: 400, wantMsgs: []string{`invalid endpoint "Call"`}},
		{name: "endpoint with digit first", req: req{path: "/api/helloworld/Hello.1x"}, wantCode: 400, wantMsgs: []string{`invalid endpoint "Hello.1x"`}},
		{name: "extra segment", req: req{path: "/api/helloworld/Hello.Call/x"}, wantCode: 400, wantMsgs: []string{`invalid endpoint "Hello.Call/x"`}},
		{name: "every problem at once", req: req{path: "/api/Bad/Call", headers: map[string]string{HeaderNamespace: "-x"}}, wantCode: 400,
			wantMsgs: []string{`invalid service name "Bad"`, `invalid endpoint "Call"`, `invalid namespace name "-x"`}},
		{name: "malformed JSON", req: req{body: `{"name":`}, wantCode: 400, wantMsgs: []string{"not valid JSON"}},
		{name: "too large", req: req{body: `{"name":"` + strings.Repeat("a", 2048) + `"}`}, wantCode: 413, wantMsgs: []string{"larger than 1024 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg := newTestGateway(t, func(o *Options) { o.MaxBodyBytes = 1024 })
			h := acme()
			for k, v := range tt.req.headers {
				h[k] = v
			}
			tt.req.headers = h
			w := tg.do(tt.req)
			if w.Code != tt.wantCode {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.wantCode, w.Body)
			}
			e := errorOf(t, w)
			for _, m := range tt.wantMsgs {
				if e.Code != platform.EINVALID || !strings.Contains(e.Message, m) {
					t.Fatalf("error %+v, want invalid mentioning %q", e, m)
				}
			}
			if n := len(tg.mesh.Calls()); n != 0 {
				t.Fatalf("mesh called %d times for a bad request", n)
			}
		})
	}
}

func TestEmptyBodyIsEmptyObject(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, nil)
	hr := httptest.NewRequest(http.MethodPost, "/api/helloworld/Helloworld.Call", http.NoBody)
	for k, v := range acme() {
		hr.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	tg.ServeHTTP(w, hr)
	if calls := tg.mesh.Calls(); w.Code != 200 || len(calls) != 1 || string(calls[0].Body) != "{}" {
		t.Fatalf("status %d, calls %+v: want one call with {}", w.Code, calls)
	}
}

func TestMeshErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code   string
		status int
	}{
		{platform.EINVALID, 400},
		{platform.EUNAUTHENTICATED, 401},
		{platform.EFORBIDDEN, 403},
		{platform.ENOTFOUND, 404},
		{platform.ECONFLICT, 409},
		{platform.EQUOTA, 429},
		{platform.EINTERNAL, 500},
		{platform.EUNAVAILABLE, 503},
		{platform.ETIMEOUT, 504},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			t.Parallel()
			tg := newTestGateway(t, nil)
			tg.mesh.errs["helloworld"] = platform.Errorf(tt.code, "detail of %s", tt.code).WithHint("do something")
			w := tg.do(req{headers: acme()})
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d", w.Code, tt.status)
			}
			e := errorOf(t, w)
			if e.Code != tt.code || e.Message != "detail of "+tt.code || e.Hint != "do something" {
				t.Fatalf("error %+v", e)
			}
			if w.Header().Get(HeaderRequestID) != e.RequestID {
				t.Fatalf("X-Request-Id %q, body request_id %q", w.Header().Get(HeaderRequestID), e.RequestID)
			}
		})
	}
	t.Run("uncoded", func(t *testing.T) {
		t.Parallel()
		tg := newTestGateway(t, nil)
		tg.mesh.errs["helloworld"] = errors.New("nats: secret connection detail")
		h := acme()
		h[HeaderRequestID] = "req-from-client"
		w := tg.do(req{headers: h})
		e := errorOf(t, w)
		if w.Code != 500 || e.Code != platform.EINTERNAL || e.Message != "internal error" || e.RequestID != "req-from-client" {
			t.Fatalf("status %d error %+v: want 500 internal error that hides the detail", w.Code, e)
		}
		if logs := tg.logs.String(); !strings.Contains(logs, "secret connection detail") || !strings.Contains(logs, "req-from-client") {
			t.Fatalf("the internal error was not logged with its request id: %q", logs)
		}
	})
}

// TestOverHTTP runs a call through a real HTTP server and client.
func TestOverHTTP(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, nil)
	srv := httptest.NewServer(tg)
	defer srv.Close()
	r, err := http.NewRequest(http.MethodPost, srv.URL+"/api/helloworld/Helloworld.Call", strings.NewReader(`{"name":"Alice"}`))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+acmeSecret)
	r.Header.Set(HeaderNamespace, "acme")
	resp, err := srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != `{"msg":"Hello Alice"}` {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
}

func TestStartFlushesOnExit(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, func(o *Options) { o.FlushInterval = time.Hour })
	for range 3 {
		tg.do(req{headers: acme()})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tg.Start(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Start did not return after its context ended")
	}
	if rows := tg.usage.Rows(); len(rows) != 1 || rows[0].Requests != 3 {
		t.Fatalf("rows %+v, want one row of 3 requests", rows)
	}
}

func TestStartFlushesPeriodically(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, func(o *Options) { o.FlushInterval = 10 * time.Millisecond })
	tg.do(req{headers: acme()})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = tg.Start(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	deadline := time.Now().Add(5 * time.Second)
	for len(tg.usage.Rows()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no flush within 5s at a 10ms interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// gather returns the gathered metrics of family name, by their label values joined with
// commas: the counter value for a counter, the sample count for a histogram.
func gather(t *testing.T, tg *testGateway, name string) map[string]float64 {
	t.Helper()
	families, err := tg.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetValue())
			}
			v := m.GetCounter().GetValue()
			if h := m.GetHistogram(); h != nil {
				v = float64(h.GetSampleCount())
			}
			out[strings.Join(labels, ",")] = v
		}
	}
	return out
}

func TestMetering(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, nil)
	tg.mesh.errs["broken"] = platform.Errorf(platform.EUNAVAILABLE, "no nodes")
	tg.mesh.errs["picky"] = platform.Errorf(platform.EINVALID, "bad name")
	ctx := context.Background()

	send := func(path string, n int) {
		for range n {
			tg.do(req{path: path, headers: acme()})
			tg.clock.Advance(time.Millisecond)
		}
	}
	send("/api/helloworld/Helloworld.Call", 5)
	send("/api/broken/Broken.Call", 2)
	send("/api/picky/Picky.Call", 3)
	tg.do(req{headers: map[string]string{HeaderNamespace: "acme"}}) // unauthenticated: not billed

	tg.usage.setFail(errors.New("database is locked"))
	if err := tg.Flush(ctx); err == nil {
		t.Fatal("Flush hid the store's failure")
	}
	tg.clock.Advance(time.Minute)
	send("/api/helloworld/Helloworld.Call", 4)
	tg.usage.setFail(nil)
	if err := tg.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tg.Flush(ctx); err != nil { // nothing new: nothing added twice
		t.Fatal(err)
	}

	m0 := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
	m1 := m0.Add(time.Minute)
	got := tg.usage.Rows()
	// The fake clock stands still: every request is in the first latency bucket.
	want := []platform.RequestUsage{
		{Namespace: "acme", Service: "broken", Minute: m0, Requests: 2, Errors: 2, LatencyMicros: 0, LatencyBuckets: fastest(2)},
		{Namespace: "acme", Service: "helloworld", Minute: m0, Requests: 5, LatencyBuckets: fastest(5)},
		{Namespace: "acme", Service: "picky", Minute: m0, Requests: 3, ClientErrors: 3, LatencyBuckets: fastest(3)},
		{Namespace: "acme", Service: "helloworld", Minute: m1, Requests: 4, LatencyBuckets: fastest(4)},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("usage rows\n got %+v\nwant %+v", got, want)
	}

	// Prometheus sorts labels by name: code, namespace, service.
	wantCounts := map[string]float64{"200,acme,helloworld": 9, "503,acme,broken": 2, "400,acme,picky": 3, "401,,": 1}
	gotCounts := gather(t, tg, "platform_gateway_requests_total")
	wantDurations := map[string]float64{"acme,helloworld": 9, "acme,broken": 2, "acme,picky": 3, ",": 1}
	gotDurations := gather(t, tg, "platform_gateway_request_duration_seconds")
	if fmt.Sprint(gotCounts) != fmt.Sprint(wantCounts) || fmt.Sprint(gotDurations) != fmt.Sprint(wantDurations) {
		t.Errorf("requests_total %v, want %v; durations %v, want %v", gotCounts, wantCounts, gotDurations, wantDurations)
	}
}

func TestMeteringLatency(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, func(o *Options) {
		o.Mesh = &slowMesh{clock: o.Clock.(*fakeClock), d: []time.Duration{3 * time.Millisecond, 9 * time.Millisecond}}
	})
	tg.do(req{headers: acme()})
	tg.do(req{headers: acme()})
	if err := tg.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows := tg.usage.Rows()
	if len(rows) != 1 || rows[0].LatencyMicros != 12000 || rows[0].MaxLatencyMicros != 9000 {
		t.Fatalf("rows %+v, want latency 12000µs in total and 9000µs at most", rows)
	}
	// 3 ms is in the bucket up to 4 ms, 9 ms in the one up to 16 ms.
	wantBuckets := make([]int64, platform.LatencyBucketCount)
	wantBuckets[platform.LatencyBucket(4*time.Millisecond)]++
	wantBuckets[platform.LatencyBucket(16*time.Millisecond)]++
	if !slices.Equal(rows[0].LatencyBuckets, wantBuckets) {
		t.Fatalf("latency buckets %v, want %v", rows[0].LatencyBuckets, wantBuckets)
	}
	if p50, p99 := rows[0].Quantile(0.5), rows[0].Quantile(0.99); p50 != 4*time.Millisecond || p99 != 9*time.Millisecond {
		t.Fatalf("p50 %s, p99 %s; want 4ms and 9ms (the slowest)", p50, p99)
	}
}

// fastest returns latency buckets with n requests in the first one.
func fastest(n int64) []int64 {
	b := make([]int64, platform.LatencyBucketCount)
	b[0] = n
	return b
}

// slowMesh advances the clock by its next duration on each call.
type slowMesh struct {
	platform.Mesh
	clock *fakeClock
	d     []time.Duration
}

func (m *slowMesh) Services(_ context.Context, _, service string) ([]*platform.RegisteredService, error) {
	return registeredService(service), nil
}

func (m *slowMesh) Call(context.Context, platform.CallRequest) ([]byte, error) {
	m.clock.Advance(m.d[0])
	m.d = m.d[1:]
	return []byte("{}"), nil
}

func TestConcurrentRequestsAndFlushes(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, func(o *Options) { o.Clock = platform.SystemClock{} })
	tg.mesh.errs["broken"] = platform.Errorf(platform.EUNAVAILABLE, "no nodes")
	const workers, perWorker = 8, 200
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	flushes := make(chan error, 1)
	go func() {
		var err error
		for {
			select {
			case <-stop:
				flushes <- err
				return
			default:
				if e := tg.Flush(ctx); e != nil {
					err = e
				}
			}
		}
	}()
	for w := range workers {
		wg.Go(func() {
			svc := []string{"helloworld", "broken"}[w%2]
			for range perWorker {
				tg.do(req{path: "/api/" + svc + "/X.Call", headers: acme()})
			}
		})
	}
	wg.Wait()
	close(stop)
	if err := <-flushes; err != nil {
		t.Fatal(err)
	}
	if err := tg.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var requests, errs, bucketed int64
	for _, r := range tg.usage.Rows() {
		requests += r.Requests
		errs += r.Errors
		for _, c := range r.LatencyBuckets {
			bucketed += c
		}
	}
	if requests != workers*perWorker || errs != workers*perWorker/2 || bucketed != requests {
		t.Fatalf("metered %d requests (%d in latency buckets) with %d errors, want %d with %d", requests, bucketed, errs, workers*perWorker, workers*perWorker/2)
	}
}

func TestMaxSeries(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, func(o *Options) { o.MaxSeries = 2 })
	for _, svc := range []string{"one", "two", "three", "four", "one"} {
		tg.do(req{path: "/api/" + svc + "/X.Call", headers: acme()})
	}
	if err := tg.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"200,acme,one": 2, "200,acme,two": 1, "200,acme,_other": 2}
	if got := gather(t, tg, "platform_gateway_requests_total"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("requests_total %v, want %v", got, want)
	}
	if rows := tg.usage.Rows(); len(rows) != 4 {
		t.Fatalf("usage rows %+v, want one per service, beyond the metrics' limit too", rows)
	}
}

// keepingMesh keeps the body it is given without copying it, and times out the first
// call, as an RPC client still sending the body in the background would.
type keepingMesh struct {
	platform.Mesh
	mu     sync.Mutex
	bodies [][]byte
}

func (m *keepingMesh) Services(_ context.Context, _, service string) ([]*platform.RegisteredService, error) {
	return registeredService(service), nil
}

func (m *keepingMesh) Call(_ context.Context, req platform.CallRequest) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bodies = append(m.bodies, req.Body)
	if len(m.bodies) == 1 {
		return nil, platform.Errorf(platform.ETIMEOUT, "no answer within %v", req.Timeout)
	}
	return []byte("{}"), nil
}

func TestTimedOutBodyIsNotReused(t *testing.T) {
	t.Parallel()
	mesh := &keepingMesh{}
	tg := newTestGateway(t, func(o *Options) { o.Mesh = mesh })
	first, second := `{"name":"first caller"}`, `{"name":"2nd"}`
	if w := tg.do(req{body: first, headers: acme()}); w.Code != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504", w.Code)
	}
	for range 50 {
		if w := tg.do(req{body: second, headers: acme()}); w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
	}
	mesh.mu.Lock()
	defer mesh.mu.Unlock()
	if string(mesh.bodies[0]) != first {
		t.Fatalf("the timed-out call's body became %q: its buffer was reused", mesh.bodies[0])
	}
	if last := mesh.bodies[len(mesh.bodies)-1]; string(last) != second {
		t.Fatalf("last body %q, want %q", last, second)
	}
}

// TestUnknownServicesShareOneSeries: requests to names that are not registered are
// metered under their namespace's UnknownService, in metrics and usage, so a caller
// inventing names mints neither label values nor usage rows; registered services keep
// their own, even when their first request never reached them.
func TestUnknownServicesShareOneSeries(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, nil)
	for i := range 50 {
		tg.mesh.unregistered[fmt.Sprintf("nosuch%d", i)] = true
	}
	tg.mesh.errs["helloworld"] = platform.Errorf(platform.ENOTFOUND, "service %q has no endpoint %q", "helloworld", "X.Call")
	for i := range 50 {
		if w := tg.do(req{path: fmt.Sprintf("/api/nosuch%d/X.Call", i), headers: acme()}); w.Code != 404 {
			t.Fatalf("status %d, want 404", w.Code)
		}
	}
	tg.do(req{path: "/api/nosuch7/X.Call", body: `{"name":`, headers: acme()}) // refused before the call
	tg.do(req{path: "/api/greeter/X.Call", body: `{"name":`, headers: acme()}) // registered, refused before the call
	tg.do(req{path: "/api/greeter/X.Call", headers: acme()})
	tg.do(req{path: "/api/helloworld/X.Call", headers: acme()}) // registered, answers 404
	if err := tg.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	wantCounts := map[string]float64{"404,acme,_unknown": 50, "400,acme,_unknown": 1, "400,acme,greeter": 1, "200,acme,greeter": 1, "404,acme,helloworld": 1}
	if got := gather(t, tg, "platform_gateway_requests_total"); fmt.Sprint(got) != fmt.Sprint(wantCounts) {
		t.Errorf("requests_total %v, want %v", got, wantCounts)
	}
	wantDurations := map[string]float64{",": 0, "acme,_unknown": 51, "acme,greeter": 2, "acme,helloworld": 1}
	if got := gather(t, tg, "platform_gateway_request_duration_seconds"); fmt.Sprint(got) != fmt.Sprint(wantDurations) {
		t.Errorf("durations %v, want %v", got, wantDurations)
	}
	m0 := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
	want := []platform.RequestUsage{
		{Namespace: "acme", Service: UnknownService, Minute: m0, Requests: 51, ClientErrors: 51, LatencyBuckets: fastest(51)},
		{Namespace: "acme", Service: "greeter", Minute: m0, Requests: 2, ClientErrors: 1, LatencyBuckets: fastest(2)},
		{Namespace: "acme", Service: "helloworld", Minute: m0, Requests: 1, ClientErrors: 1, LatencyBuckets: fastest(1)},
	}
	if got := tg.usage.Rows(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("usage rows\n got %+v\nwant %+v", got, want)
	}
	// The mesh is asked once per name that has no series: each unknown one, and
	// greeter and helloworld before their first answers were metered.
	if n := tg.mesh.Lookups(); n != 51+2 {
		t.Errorf("mesh asked %d times whether a service is registered, want %d", n, 51+2)
	}
}
