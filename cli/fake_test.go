package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// adminSecret is the token the fake API accepts.
const adminSecret = "admin-secret"

var (
	t0 = time.Date(2026, 3, 4, 10, 20, 30, 0, time.UTC)
	t1 = t0.Add(90 * time.Second)
)

// fakeAPI is an in-memory server speaking the v1 wire format of docs/api.md, with
// canned data and scripted streams.
type fakeAPI struct {
	*httptest.Server

	mu        sync.Mutex
	requests  []string // "METHOD /path?query"
	bodies    map[string][]byte
	services  []*platform.ServiceView
	events    []*platform.Event
	tokens    []*platform.Token
	logs      []platform.LogEntry
	releases  map[string]*platform.Release
	deploys   []platform.DeployRequest
	buildLog  []string
	follow    []*platform.Event // events the follow stream sends after the deploy
	deployRel *platform.Release // what POST deploys answers
	regions   []platform.Region // registered with PUT /v1/regions/{name}
	// regionList is what GET /v1/regions answers.
	regionList []*platform.Region
	// whoamiRole is the role GET /v1/whoami answers (owner when empty); below admin,
	// GET /v1/alerts/channels is refused.
	whoamiRole platform.Role
}

// newFakeAPI starts a fake with fixtures for namespace "acme".
func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{bodies: map[string][]byte{}, releases: map[string]*platform.Release{}}
	exp := t0.Add(720 * time.Hour)
	rel := &platform.Release{ID: "r-1", Namespace: "acme", Service: "hello", Version: "v1", BuildID: "b-1", Replicas: 2, Size: platform.SizeSmall, Status: platform.ReleaseLive}
	f.services = []*platform.ServiceView{
		{
			Service: platform.Service{Namespace: "acme", Name: "hello", CurrentRelease: "r-1", DesiredRelease: "r-1", Status: platform.ServiceDegraded,
				Regions: []string{"lon1", "fra1"}, CreatedAt: t0, UpdatedAt: t1},
			Version: "v1", Release: rel,
			Instances: []*platform.Instance{
				{ID: "r-1-0a1b2c3d4e5f", Region: "lon1", Version: "v1", State: platform.InstanceRunning, Registered: true, StartedAt: t1},
				{ID: "r-1-6a7b8c9d0e1f", Region: "lon1", Version: "v1", State: platform.InstanceBackoff, Restarts: 3, Message: "exit status 2", StartedAt: t1},
				{ID: "r-1-1c2d3e4f5a6b", Region: "fra1", Version: "v1", State: platform.InstanceRunning, Registered: true, StartedAt: t1},
			},
			Endpoints: []platform.Endpoint{{Name: "Hello.Call"}, {Name: "Hello.Stream"}},
			PerRegion: []platform.ServiceRegion{
				{Region: "lon1", Status: platform.ServiceRunning, Version: "v1", Instances: 2, Running: 1},
				{Region: "fra1", Status: platform.ServiceDegraded, Version: "v1", Instances: 1, Running: 1, Reason: "region lost; instances as it last reported them"},
			},
		},
		{
			Service:   platform.Service{Namespace: "acme", Name: "worker-queue", DesiredRelease: "r-9", Status: platform.ServiceFailed, Reason: "build failed", CreatedAt: t0, UpdatedAt: t1},
			Instances: []*platform.Instance{},
		},
	}
	f.events = []*platform.Event{
		{ID: 1, Namespace: "acme", Type: platform.EventNamespaceCreated, Message: "namespace acme created", Time: t0},
		{ID: 2, Namespace: "acme", Service: "hello", Type: platform.EventBuildStarted, Message: "building hello v1", Data: map[string]string{"release": "r-1"}, Time: t0.Add(time.Second)},
		{ID: 3, Namespace: "acme", Service: "hello", Type: platform.EventReleaseRolledOut, Message: "hello v1 is live with 2 instances", Data: map[string]string{"release": "r-1"}, Time: t1},
	}
	f.tokens = []*platform.Token{
		{ID: "t-0a1b2c3d4e5f6a7b", Name: "admin", Admin: true, CreatedAt: t0},
		{ID: "t-1122334455667788", Name: "ci", Namespaces: []string{"acme", "globex"}, CreatedAt: t1, ExpiresAt: &exp},
		{ID: "t-a1b2c3d4e5f60718", Name: "agent", Role: platform.RoleDeveloper, Namespaces: []string{"acme"},
			Scopes: []string{"mail:read", "mail:send"}, Tools: []string{"mail.*", "billing.Billing.Quote"}, CreatedAt: t1},
	}
	f.logs = []platform.LogEntry{
		{Time: t1, Namespace: "acme", Service: "hello", Region: "lon1", InstanceID: "r-1-0a1b2c3d4e5f", Stream: platform.Stdout, Line: "Starting [service] hello"},
		{Time: t1, Namespace: "acme", Service: "hello", Region: "lon1", InstanceID: "r-1-6a7b8c9d0e1f", Stream: platform.Stderr, Line: "panic: boom"},
		{Time: t1, Namespace: "acme", Service: "hello", Region: "fra1", InstanceID: "r-1-1c2d3e4f5a6b", Stream: platform.Stdout, Line: "Starting [service] hello"},
	}
	f.regionList = []*platform.Region{
		{Name: "fra1", Provider: "local", Location: "frankfurt", Health: platform.RegionLost, LastSeen: &t1, AgentVersion: "v1.4.0", Services: 1,
			GatewayEndpoint: "https://fra1.example.dev", Isolation: "sandboxed", CreatedAt: t0, UpdatedAt: t1},
		{Name: "local", Provider: "local", Health: platform.RegionConnected, LastSeen: &t1, AgentVersion: "v1.4.0", Services: 0,
			GatewayEndpoint: "http://127.0.0.1:8080", Isolation: "partial: no cgroup v2", CreatedAt: t0, UpdatedAt: t1},
		{Name: "lon1", Provider: "digitalocean", Location: "lon1", Health: platform.RegionWaiting, Services: 1, CreatedAt: t0, UpdatedAt: t0},
	}
	f.releases["r-1"] = rel
	f.Server = httptest.NewServer(f.routes())
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAPI) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/namespaces", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"namespaces": []platform.Namespace{{Name: "acme", Regions: []string{"lon1", "fra1"}, CreatedAt: t0}, {Name: "globex", CreatedAt: t1}}})
	})
	mux.HandleFunc("POST /v1/namespaces", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Name    string
			Regions []string
		}
		_ = json.Unmarshal(f.body(r), &body)
		if body.Name == "acme" {
			writeError(w, 409, platform.ECONFLICT, `namespace "acme" already exists`, "")
			return
		}
		writeJSON(w, 201, platform.Namespace{Name: body.Name, Regions: body.Regions, CreatedAt: t0})
	})
	mux.HandleFunc("DELETE /v1/namespaces/{ns}", f.needNS(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	mux.HandleFunc("GET /v1/namespaces/{ns}/services", f.needNS(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"services": f.services})
	}))
	mux.HandleFunc("GET /v1/namespaces/{ns}/services/{svc}", f.needNS(func(w http.ResponseWriter, r *http.Request) {
		for _, s := range f.services {
			if s.Name == r.PathValue("svc") {
				writeJSON(w, 200, s)
				return
			}
		}
		writeError(w, 404, platform.ENOTFOUND, fmt.Sprintf("service %q not found in namespace %q", r.PathValue("svc"), "acme"), "list services with `platform services -n acme`")
	}))
	mux.HandleFunc("DELETE /v1/namespaces/{ns}/services/{svc}", f.needNS(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(202) }))
	mux.HandleFunc("POST /v1/namespaces/{ns}/services/{svc}/promote", f.needNS(func(w http.ResponseWriter, r *http.Request) {
		if svc := r.PathValue("svc"); svc != "hello" {
			writeError(w, 404, platform.ENOTFOUND, "no canary to promote: "+svc+" has none", "deploy one with `platform deploy DIR -n acme --canary 10%`")
			return
		}
		writeJSON(w, 200, platform.Release{ID: "r-2", Namespace: "acme", Service: "hello", Version: "v2", BuildID: "b-2", Replicas: 2,
			Status: platform.ReleaseLive, Canary: 10, CreatedAt: t0, UpdatedAt: t1})
	}))
	mux.HandleFunc("GET /v1/namespaces/{ns}/events", f.needNS(f.handleEvents))
	mux.HandleFunc("GET /v1/namespaces/{ns}/services/{svc}/logs", f.needNS(f.handleLogs))
	mux.HandleFunc("POST /v1/namespaces/{ns}/call", f.needNS(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Request json.RawMessage `json:"request"`
			Version string          `json:"version"`
		}
		_ = json.Unmarshal(f.body(r), &body)
		writeJSON(w, 200, map[string]any{"echo": body.Request, "version": body.Version})
	}))
	mux.HandleFunc("POST /v1/namespaces/{ns}/sources", f.needNS(func(w http.ResponseWriter, r *http.Request) {
		sum := sha256.Sum256(f.body(r))
		writeJSON(w, 201, map[string]string{"archive": hex.EncodeToString(sum[:])})
	}))
	mux.HandleFunc("POST /v1/namespaces/{ns}/deploys", f.needNS(func(w http.ResponseWriter, r *http.Request) {
		var req platform.DeployRequest
		_ = json.Unmarshal(f.body(r), &req)
		f.mu.Lock()
		f.deploys = append(f.deploys, req)
		rel := *f.deployRel
		f.mu.Unlock()
		writeJSON(w, 202, rel)
	}))
	mux.HandleFunc("GET /v1/namespaces/{ns}/releases/{id}", f.needNS(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		rel, ok := f.releases[r.PathValue("id")]
		f.mu.Unlock()
		if !ok {
			writeError(w, 404, platform.ENOTFOUND, "release not found", "")
			return
		}
		writeJSON(w, 200, rel)
	}))
	mux.HandleFunc("GET /v1/namespaces/{ns}/builds/{id}/log", f.needNS(func(w http.ResponseWriter, r *http.Request) {
		st := startSSE(w)
		for _, l := range f.buildLog {
			st.send("line", "", l)
		}
		st.send("end", "", map[string]string{"id": r.PathValue("id")})
	}))
	mux.HandleFunc("GET /v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"tokens": f.tokens})
	})
	mux.HandleFunc("POST /v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Name       string   `json:"name"`
			Admin      bool     `json:"admin"`
			Namespaces []string `json:"namespaces"`
			Scopes     []string `json:"scopes"`
			Tools      []string `json:"tools"`
			TTL        string   `json:"ttl"`
		}
		_ = json.Unmarshal(f.body(r), &body)
		tok := &platform.Token{ID: "t-99aabbccddeeff00", Name: body.Name, Admin: body.Admin, Namespaces: body.Namespaces,
			Scopes: body.Scopes, Tools: body.Tools, CreatedAt: t0}
		if body.TTL != "" {
			d, _ := time.ParseDuration(body.TTL)
			exp := t0.Add(d)
			tok.ExpiresAt = &exp
		}
		writeJSON(w, 201, map[string]any{"token": tok, "secret": "mp_s3cr3t"})
	})
	mux.HandleFunc("DELETE /v1/tokens/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, 404, platform.ENOTFOUND, fmt.Sprintf("token %q not found", r.PathValue("id")), "list tokens with `platform tokens list`")
	})
	mux.HandleFunc("PUT /v1/regions/{name}", func(w http.ResponseWriter, r *http.Request) {
		var reg platform.Region
		if err := json.NewDecoder(r.Body).Decode(&reg); err != nil {
			writeError(w, 400, platform.EINVALID, err.Error(), "")
			return
		}
		reg.Name, reg.CreatedAt, reg.UpdatedAt = r.PathValue("name"), t0, t0
		f.mu.Lock()
		f.regions = append(f.regions, reg)
		f.mu.Unlock()
		writeJSON(w, 200, reg)
	})
	mux.HandleFunc("DELETE /v1/regions/{name}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	mux.HandleFunc("GET /v1/regions", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"regions": f.regionList})
	})
	mux.HandleFunc("POST /v1/regions/{name}/token", func(w http.ResponseWriter, r *http.Request) {
		if name := r.PathValue("name"); name != "fra1" {
			writeError(w, 404, platform.ENOTFOUND, fmt.Sprintf("region %q not found", name), "list regions with `platform regions`")
			return
		}
		writeJSON(w, 201, map[string]string{"region": "fra1", "token": "mpr_r3g10n"})
	})
	f.gitopsRoutes(mux)
	f.alertRoutes(mux)
	f.billingRoutes(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
		f.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+adminSecret {
			writeError(w, 401, platform.EUNAUTHENTICATED, "no valid token", "log in with `platform login --token TOKEN` or set PLATFORM_TOKEN")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// addRegionEvent appends an event a region reported to f's events (after the fixtures,
// whose IDs the deploy tests' followed events continue).
func (f *fakeAPI) addRegionEvent() {
	f.events = append(f.events, &platform.Event{ID: 4, Namespace: "acme", Service: "hello", Region: "fra1",
		Type: platform.EventRegionLost, Message: "region fra1 stopped answering", Time: t1.Add(time.Minute)})
}

// needNS answers 404 for any namespace but acme.
func (f *fakeAPI) needNS(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ns := r.PathValue("ns"); ns != "acme" {
			writeError(w, 404, platform.ENOTFOUND, fmt.Sprintf("namespace %q not found", ns), "create it with `platform namespaces create "+ns+"`")
			return
		}
		h(w, r)
	}
}

// body reads and records a request body under "METHOD path".
func (f *fakeAPI) body(r *http.Request) []byte {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bodies[r.Method+" "+r.URL.Path] = b
	f.mu.Unlock()
	return b
}

func (f *fakeAPI) recorded(key string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies[key]
}

func (f *fakeAPI) handleEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, _ := strconv.ParseInt(q.Get("after"), 10, 64)
	limit, _ := strconv.Atoi(q.Get("limit"))
	match := func(e *platform.Event) bool {
		return e.ID > after && (q.Get("service") == "" || e.Service == q.Get("service")) && (q.Get("region") == "" || e.Region == q.Get("region")) &&
			(q.Get("type") == "" || e.Type == q.Get("type") || (strings.HasSuffix(q.Get("type"), ".") && strings.HasPrefix(e.Type, q.Get("type"))))
	}
	if q.Get("follow") != "true" {
		var out []*platform.Event
		for _, e := range f.events {
			if match(e) {
				out = append(out, e)
			}
		}
		if limit > 0 && len(out) > limit {
			out = out[len(out)-limit:]
		}
		writeJSON(w, 200, map[string]any{"events": out})
		return
	}
	st := startSSE(w)
	for _, e := range append(append([]*platform.Event{}, f.events...), f.follow...) {
		if match(e) {
			st.send("event", strconv.FormatInt(e.ID, 10), e)
		}
	}
	<-r.Context().Done() // a live stream: open until the client goes away
}

func (f *fakeAPI) handleLogs(w http.ResponseWriter, r *http.Request) {
	var logs []platform.LogEntry
	for _, e := range f.logs {
		if region := r.URL.Query().Get("region"); region == "" || e.Region == region {
			logs = append(logs, e)
		}
	}
	if r.URL.Query().Get("follow") != "true" {
		writeJSON(w, 200, map[string]any{"logs": logs})
		return
	}
	st := startSSE(w)
	for _, e := range logs {
		st.send("log", "", e)
	}
	<-r.Context().Done()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg, hint string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg, "hint": hint, "request_id": "req-1"}})
}

type sseWriter struct{ w http.ResponseWriter }

func startSSE(w http.ResponseWriter) sseWriter {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	w.(http.Flusher).Flush()
	return sseWriter{w}
}

func (s sseWriter) send(event, id string, v any) {
	b, _ := json.Marshal(v)
	if id != "" {
		fmt.Fprintf(s.w, "id: %s\n", id)
	}
	fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", event, b)
	s.w.(http.Flusher).Flush()
}

// result is what one run of the CLI printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs the CLI in process with env (plus HOME in a temp dir and TZ=UTC unless
// given) and stdin.
func runCLI(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	base := []string{"HOME=" + t.TempDir(), "TZ=UTC"}
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code := Run(ctx, args, strings.NewReader(stdin), &out, &errb, append(base, env...))
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// run runs the CLI against f with the admin token from the environment.
func (f *fakeAPI) run(t *testing.T, args ...string) result {
	t.Helper()
	return runCLI(t, []string{"PLATFORM_SERVER=" + f.URL, "PLATFORM_TOKEN=" + adminSecret}, "", args...)
}

// checkGolden compares got with testdata/name.golden, rewriting it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n--- got ---\n%s--- want ---\n%s", p, got, want)
	}
}
