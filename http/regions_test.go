package http_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
	platformhttp "github.com/micro/platform/http"
	"github.com/micro/platform/runtimeapi/tunnel"
)

// agentHandler stands in for the control plane's RegionHandler: it records what reached
// it and answers 418, so that a test tells its answers from the API's.
type agentHandler struct {
	mu   sync.Mutex
	seen []agentRequest
}

type agentRequest struct {
	method, path, auth string
	apiToken           *platform.Token // the API's token in the request context; must stay nil
	// The writer is asserted, not reached through http.ResponseController, by
	// connect-go's streaming RPCs (Flusher) and by some upgrade handlers (Hijacker).
	flusher, hijacker bool
}

func (h *agentHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, flusher := w.(http.Flusher)
	_, hijacker := w.(http.Hijacker)
	h.mu.Lock()
	h.seen = append(h.seen, agentRequest{r.Method, r.URL.Path, r.Header.Get("Authorization"), platform.TokenFromContext(r.Context()), flusher, hijacker})
	h.mu.Unlock()
	w.WriteHeader(http.StatusTeapot)
	w.(http.Flusher).Flush()
}

func (h *agentHandler) requests() []agentRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]agentRequest(nil), h.seen...)
}

// TestAgentRoutes checks that the agents' routes reach Options.Regions untouched by the
// API's authentication, whatever bearer they carry, and that the region routes of the
// API beside them still reach the ControlPlane.
func TestAgentRoutes(t *testing.T) {
	t.Parallel()
	const control = "/platform.runtime.v1.ControlService/"
	tests := []struct {
		name, method, path, secret, body string
		wantAgent                        bool // reaches Options.Regions
		wantStatus                       int
		wantCall                         string // reaches the ControlPlane
	}{
		{name: "tunnel with a region token", method: "GET", path: tunnel.ConnectPath, secret: "region-secret",
			wantAgent: true, wantStatus: http.StatusTeapot},
		{name: "tunnel with an API token", method: "GET", path: tunnel.ConnectPath, secret: adminSecret,
			wantAgent: true, wantStatus: http.StatusTeapot},
		{name: "tunnel without a token", method: "GET", path: tunnel.ConnectPath,
			wantAgent: true, wantStatus: http.StatusTeapot},
		{name: "control service with a region token", method: "POST", path: control + "Authenticate", secret: "region-secret", body: "{}",
			wantAgent: true, wantStatus: http.StatusTeapot},
		{name: "control service with an API token", method: "POST", path: control + "FetchArtifact", secret: adminSecret, body: "{}",
			wantAgent: true, wantStatus: http.StatusTeapot},
		{name: "control service takes POST only", method: "GET", path: control + "Authenticate", secret: "region-secret",
			wantStatus: http.StatusMethodNotAllowed},
		{name: "a region named connect is registered", method: "PUT", path: "/v1/regions/connect", secret: adminSecret, body: `{"provider":"local"}`,
			wantStatus: http.StatusOK, wantCall: "RegisterRegion"},
		{name: "a region named connect is deleted", method: "DELETE", path: "/v1/regions/connect", secret: adminSecret,
			wantStatus: http.StatusNoContent, wantCall: "DeleteRegion"},
		{name: "a region named connect gets a token", method: "POST", path: "/v1/regions/connect/token", secret: adminSecret,
			wantStatus: http.StatusCreated, wantCall: "IssueRegionToken"},
		{name: "region token routes need an API token", method: "POST", path: "/v1/regions/lon1/token", secret: "region-secret",
			wantStatus: http.StatusUnauthorized},
		{name: "region token routes need an admin", method: "POST", path: "/v1/regions/lon1/token", secret: scopedSecret,
			wantStatus: http.StatusForbidden, wantCall: "IssueRegionToken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			agents := &agentHandler{}
			cp := &fakeControlPlane{tokenSec: "region-secret"}
			ts := newTestServer(t, cp, func(o *platformhttp.Options) { o.Regions = agents })
			resp, body := ts.do(t, tt.method, tt.path, tt.secret, strings.NewReader(tt.body))
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tt.wantStatus)
			}
			seen := agents.requests()
			if !tt.wantAgent {
				if len(seen) != 0 {
					t.Fatalf("Options.Regions got %+v, want nothing", seen)
				}
			} else {
				want := agentRequest{method: tt.method, path: tt.path, flusher: true, hijacker: true}
				if tt.secret != "" {
					want.auth = "Bearer " + tt.secret
				}
				if len(seen) != 1 || seen[0] != want {
					t.Fatalf("Options.Regions got %+v, want %+v: no API token in the context, a writer that flushes and hijacks", seen, want)
				}
			}
			calls := cp.Calls()
			if tt.wantCall == "" && len(calls) != 0 || tt.wantCall != "" && (len(calls) != 1 || calls[0] != tt.wantCall) {
				t.Fatalf("ControlPlane calls %v, want %q", calls, tt.wantCall)
			}
		})
	}
}

// TestAgentRoutesWithoutRegions checks that a server without Options.Regions serves no
// agent route.
func TestAgentRoutesWithoutRegions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &fakeControlPlane{}, nil)
	for _, r := range []struct{ method, path string }{
		{"GET", tunnel.ConnectPath},
		{"POST", "/platform.runtime.v1.ControlService/Authenticate"},
	} {
		resp, body := ts.do(t, r.method, r.path, "region-secret", strings.NewReader("{}"))
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: status %d (%s), want it refused", r.method, r.path, resp.StatusCode, body)
		}
	}
}

// TestAgentTunnelHijacks runs the real server (its http.Server and every middleware)
// with a handler that takes over the connection, as the tunnel does: the upgrade is
// answered, and the connection stays usable both ways after the handler has returned.
func TestAgentTunnelHijacks(t *testing.T) {
	t.Parallel()
	handlerDone := make(chan struct{})
	regions := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(handlerDone)
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack through the API's middleware: %v", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + tunnel.Protocol + "\r\n\r\n")
		if err := brw.Flush(); err != nil {
			t.Errorf("answer the upgrade: %v", err)
			nc.Close()
			return
		}
		go func() { // the tunnel outlives its request
			defer nc.Close()
			for {
				line, err := brw.ReadString('\n')
				if err != nil {
					return
				}
				if _, err := io.WriteString(nc, "echo "+line); err != nil {
					return
				}
			}
		}()
	})
	srv, _, _ := startServer(t, platformhttp.Options{ControlPlane: &fakeControlPlane{}, Auth: fakeAuth{}, Regions: regions})

	nc, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	req, err := http.NewRequest(http.MethodGet, "http://"+srv.Addr()+tunnel.ConnectPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", tunnel.Protocol)
	req.Header.Set("Authorization", "Bearer region-secret")
	if err := req.Write(nc); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	<-handlerDone
	for _, msg := range []string{"ping", "pong"} {
		time.Sleep(50 * time.Millisecond) // idle between calls, as a tunnel is
		if _, err := io.WriteString(nc, msg+"\n"); err != nil {
			t.Fatal(err)
		}
		got, err := br.ReadString('\n')
		if err != nil || got != "echo "+msg+"\n" {
			t.Fatalf("read %q, %v; want the echo of %q", got, err, msg)
		}
	}
}
