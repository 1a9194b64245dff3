package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	platform "github.com/micro/platform"
	platformhttp "github.com/micro/platform/http"
)

// startServer runs a real Server on 127.0.0.1:0 until the returned cancel is called;
// wait returns Serve's result.
func startServer(t *testing.T, opts platformhttp.Options) (srv *platformhttp.Server, cancel context.CancelFunc, wait func() error) {
	t.Helper()
	opts.Addr = "127.0.0.1:0"
	srv = platformhttp.NewServer(opts)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(srv.Addr(), "127.0.0.1:") || strings.HasSuffix(srv.Addr(), ":0") {
		t.Fatalf("Addr() = %q, want the bound 127.0.0.1 port", srv.Addr())
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx) }()
	t.Cleanup(cancel)
	return srv, cancel, func() error {
		select {
		case err := <-errc:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Serve did not return after its context ended")
			return nil
		}
	}
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	cp := &fakeControlPlane{eventsCh: make(chan *platform.Event), callGate: gate, callResp: []byte(`{"ok":true}`)}
	srv, stop, wait := startServer(t, platformhttp.Options{ControlPlane: cp, Auth: fakeAuth{}})
	base := "http://" + srv.Addr()

	// An open event stream...
	req, _ := http.NewRequest("GET", base+"/v1/namespaces/acme/events?follow=true", nil)
	req.Header.Set("Authorization", "Bearer "+adminSecret)
	stream, err := http.DefaultClient.Do(req)
	if err != nil || stream.StatusCode != 200 {
		t.Fatalf("open stream: %v %v", stream, err)
	}
	defer stream.Body.Close()

	// ...and a request in flight.
	callDone := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest("POST", base+"/v1/namespaces/acme/call", strings.NewReader(`{"service":"s","endpoint":"S.E"}`))
		req.Header.Set("Authorization", "Bearer "+adminSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("in-flight call: %v", err)
		}
		callDone <- resp
	}()
	for !contains(cp.Calls(), "Call") {
		time.Sleep(5 * time.Millisecond)
	}

	stop()
	// The stream ends cleanly at once, without waiting for the in-flight request.
	r := newSSEReader(stream.Body)
	if m, err := r.Next(); err != io.EOF {
		t.Fatalf("open stream after shutdown: %+v, %v; want EOF", m, err)
	}
	waitDone(t, cp.StreamContexts()[0], "event subscription after shutdown")

	close(gate) // the in-flight request finishes and is answered
	resp := <-callDone
	if resp == nil {
		t.Fatal("in-flight request got no response")
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `{"ok":true}` {
		t.Fatalf("in-flight request: %d %s", resp.StatusCode, body)
	}
	if err := wait(); err != nil {
		t.Fatalf("Serve returned %v, want nil after a graceful shutdown", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("server still accepts connections after shutdown")
	}
}

func TestStartFailsOnBusyAddress(t *testing.T) {
	t.Parallel()
	first, _, _ := startServer(t, platformhttp.Options{ControlPlane: &fakeControlPlane{}, Auth: fakeAuth{}})
	second := platformhttp.NewServer(platformhttp.Options{Addr: first.Addr(), ControlPlane: &fakeControlPlane{}, Auth: fakeAuth{}})
	if err := second.Start(t.Context()); err == nil || !strings.Contains(err.Error(), first.Addr()) {
		t.Fatalf("Start on a busy address = %v, want an error naming %s", err, first.Addr())
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestProbes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		path       string
		ready      func() bool
		wantStatus int
		wantBody   string
	}{
		{"healthz", "/healthz", func() bool { return false }, 200, "ok\n"},
		{"readyz before ready", "/readyz", func() bool { return false }, 503, ""},
		{"readyz ready", "/readyz", func() bool { return true }, 200, "ok\n"},
		{"readyz without Ready func", "/readyz", nil, 200, "ok\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, &fakeControlPlane{}, func(o *platformhttp.Options) { o.Ready = tt.ready })
			resp, body := ts.do(t, "GET", tt.path, "", nil)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == 503 {
				if e := mustErrorBody(t, resp, body); e.Code != platform.EUNAVAILABLE {
					t.Fatalf("code = %q, want unavailable", e.Code)
				}
			} else if string(body) != tt.wantBody {
				t.Fatalf("body = %q, want %q", body, tt.wantBody)
			}
		})
	}
}

func TestGatewayMounted(t *testing.T) {
	t.Parallel()
	gw := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "gateway saw "+r.URL.Path)
	})
	ts := newTestServer(t, &fakeControlPlane{}, func(o *platformhttp.Options) { o.Gateway = gw })
	resp, body := ts.do(t, "POST", "/api/helloworld/Helloworld.Call", "", nil)
	if resp.StatusCode != 200 || string(body) != "gateway saw /api/helloworld/Helloworld.Call" {
		t.Fatalf("gateway: %d %q", resp.StatusCode, body)
	}

	noGW := newTestServer(t, &fakeControlPlane{}, nil)
	if resp, _ := noGW.do(t, "GET", "/api/x", "", nil); resp.StatusCode != 404 {
		t.Fatalf("without a gateway /api/x = %d, want 404", resp.StatusCode)
	}
}

func TestPanicBecomesInternalError(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &fakeControlPlane{panicWith: "nil map write"}, nil)
	resp, body := ts.do(t, "GET", "/v1/namespaces", adminSecret, nil)
	if resp.StatusCode != 500 {
		t.Fatalf("status = %d, want 500", resp.StatusCode)
	}
	e := mustErrorBody(t, resp, body)
	if e.Code != platform.EINTERNAL || e.Message != "internal error" {
		t.Fatalf("error = %+v", e)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "nil map write") || !strings.Contains(logs, e.RequestID) {
		t.Fatalf("panic not logged with request id %s:\n%s", e.RequestID, logs)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	ts := newTestServer(t, &fakeControlPlane{}, func(o *platformhttp.Options) { o.Metrics = reg })
	// A second server on the same registry shares the collectors instead of panicking.
	ts2 := newTestServer(t, &fakeControlPlane{}, func(o *platformhttp.Options) { o.Metrics = reg })

	ts.do(t, "GET", "/v1/namespaces/acme/services/hello", adminSecret, nil)
	ts2.do(t, "GET", "/v1/namespaces/other/services/x", adminSecret, nil)
	ts.do(t, "GET", "/v1/namespaces/acme/services/hello", "wrong", nil)
	ts.do(t, "GET", "/no/such/path/12345", "", nil)
	_, body := ts.do(t, "GET", "/metrics", "", nil)

	for _, want := range []string{
		`platform_http_requests_total{method="GET",route="/v1/namespaces/{ns}/services/{svc}",status="200"} 2`,
		`platform_http_requests_total{method="GET",route="/v1/namespaces/{ns}/services/{svc}",status="401"} 1`,
		`platform_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`platform_http_request_duration_seconds_count{method="GET",route="/v1/namespaces/{ns}/services/{svc}",status="200"} 2`,
		`platform_http_requests_in_flight 1`, // the scrape itself
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(string(body), "12345") {
		t.Error("metrics label an unmatched request by its path")
	}
}

func TestLogsNeverHoldSecrets(t *testing.T) {
	t.Parallel()
	const tokenSecret = "tok-secret-NEVER-LOG-ME"
	ts := newTestServer(t, &fakeControlPlane{tokenSec: tokenSecret}, nil)

	resp, body := ts.do(t, "POST", "/v1/tokens", adminSecret, strings.NewReader(`{"name":"ci","namespaces":["acme"],"ttl":"24h"}`))
	var created struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(body, &created); err != nil || resp.StatusCode != 201 || created.Secret != tokenSecret {
		t.Fatalf("create token: %d %s", resp.StatusCode, body)
	}
	ts.do(t, "GET", "/v1/tokens", tokenSecret+"-wrong", nil) // a rejected secret is not logged either
	ts.do(t, "POST", "/v1/namespaces", adminSecret, strings.NewReader(`{"name":"`+tokenSecret+`",`))

	logs := ts.logs.String()
	for _, secret := range []string{adminSecret, tokenSecret} {
		if strings.Contains(logs, secret) {
			t.Fatalf("log holds secret %q:\n%s", secret, logs)
		}
	}
	// The access log still says what happened.
	var sawCreate bool
	for _, line := range bytes.Split([]byte(logs), []byte("\n")) {
		var rec map[string]any
		if json.Unmarshal(line, &rec) != nil || rec["msg"] != "http request" {
			continue
		}
		if rec["route"] == "/v1/tokens" && rec["method"] == "POST" && rec["status"] == float64(201) &&
			rec["request_id"] != "" && rec["duration"] != nil {
			sawCreate = true
		}
	}
	if !sawCreate {
		t.Fatalf("no access log line for POST /v1/tokens 201:\n%s", logs)
	}
}
