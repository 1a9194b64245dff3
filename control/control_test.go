package control_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/billing"
	"github.com/micro/platform/control"
	"github.com/micro/platform/internal/seal"
	"github.com/micro/platform/runtime"
	"github.com/micro/platform/runtime/fake"
	"github.com/micro/platform/runtimeapi/tunnel"
	"github.com/micro/platform/sqlstore"
)

// fakeMesh registers every running instance of the fake driver in its namespace, unless
// told that a service never registers, the way a go-micro service that skips
// service.Init() never shows up.
type fakeMesh struct {
	driver *fake.Driver

	mu       sync.Mutex
	silent   map[string]bool              // artifact → never registers
	meta     map[string]map[string]string // service → the metadata its endpoint registers
	removed  []string
	ensured  []string
	synced   [][]string // each SyncNamespaces call's list
	callResp []byte
}

func (m *fakeMesh) SyncNamespaces(_ context.Context, names []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.synced = append(m.synced, slices.Clone(names))
	return nil
}

func (m *fakeMesh) EnsureNamespace(_ context.Context, ns string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ensured = append(m.ensured, ns)
	return nil
}

func (m *fakeMesh) RemoveNamespace(_ context.Context, ns string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removed = append(m.removed, ns)
	return nil
}

func (m *fakeMesh) InstanceEnv(ns string) (map[string]string, error) {
	return map[string]string{"MICRO_REGISTRY": "nats", "MICRO_REGISTRY_ADDRESS": "nats://ns-" + ns + ":secret@127.0.0.1:1"}, nil
}

// helloworldRequest is the shape of the request of the fake mesh's one endpoint.
func helloworldRequest() *platform.Value {
	return &platform.Value{Name: "Request", Type: "Request", Values: []*platform.Value{
		{Name: "name", Type: "string"},
		{Name: "address", Type: "Address", Values: []*platform.Value{{Name: "city", Type: "string"}}},
	}}
}

func (m *fakeMesh) Services(ctx context.Context, ns, service string) ([]*platform.RegisteredService, error) {
	ws, err := m.driver.List(ctx)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	byName := map[string]*platform.RegisteredService{}
	for _, w := range ws {
		if w.Spec.Namespace != ns || (service != "" && w.Spec.Service != service) || m.silent[w.Spec.Artifact] {
			continue
		}
		s := byName[w.Spec.Service]
		if s == nil {
			s = &platform.RegisteredService{Name: w.Spec.Service, Endpoints: []platform.Endpoint{
				{Name: "Helloworld.Call", Metadata: m.meta[w.Spec.Service], Request: helloworldRequest()}}}
			byName[w.Spec.Service] = s
		}
		for _, i := range w.Instances {
			if i.State == platform.InstanceRunning {
				s.Nodes = append(s.Nodes, platform.RegistryNode{ID: w.Spec.Service + "-" + i.ID, Version: w.Spec.Version})
			}
		}
	}
	if service != "" && byName[service] == nil {
		return nil, platform.Errorf(platform.ENOTFOUND, "service %s not found", service)
	}
	var out []*platform.RegisteredService
	for _, s := range byName {
		out = append(out, s)
	}
	return out, nil
}

func (m *fakeMesh) Call(_ context.Context, req platform.CallRequest) ([]byte, error) {
	return m.callResp, nil
}

func (m *fakeMesh) Health(context.Context, string, platform.RegistryNode) error { return nil }

// fakeBuilder "compiles" instantly: the artifact is the archive digest, an archive
// digest starting with "bad" fails like a compile error, and one starting with "d0c" has
// the endpoint docs fakeDocs.
type fakeBuilder struct{}

// fakeDocs are the endpoint docs of a fakeBuilder build of a "d0c" archive.
var fakeDocs = map[string]platform.EndpointDoc{
	"Helloworld.Call":  {Description: "Call greets a person.", Example: `{"name": "Alice"}`},
	"Helloworld.Other": {Description: "Other is not registered."},
}

func (fakeBuilder) Build(_ context.Context, b *platform.Build, log platform.LogWriter) (string, string, error) {
	log.WriteLine("compiling " + b.Service)
	if strings.HasPrefix(b.Source.Archive, "bad") {
		log.WriteLine("./main.go:3:2: undefined: foo")
		return "", "", platform.Errorf(platform.EINVALID, "compile error:\n./main.go:3:2: undefined: foo")
	}
	if strings.HasPrefix(b.Source.Archive, "d0c") {
		b.Docs = fakeDocs
	}
	if b.Source.Kind == platform.SourceGit {
		return "bin-git", "0123456789abcdef0123456789abcdef01234567", nil
	}
	return "bin-" + b.Source.Archive[:8], "", nil
}

// StoreArchive "stores" an archive whose content is its digest (a test uploads
// digest("aaaa") to deploy it).
func (fakeBuilder) StoreArchive(r io.Reader) (string, error) {
	b, err := io.ReadAll(r)
	if err != nil || len(b) != 64 {
		return "", errors.New("fakeBuilder: upload the digest itself")
	}
	return string(b), nil
}

type harness struct {
	t       testing.TB
	opts    harnessOptions
	store   platform.Store
	host    *fake.Host
	mesh    *fakeMesh
	plane   *control.Plane
	driver  *fake.Driver
	cancel  context.CancelFunc
	done    chan error
	admin   context.Context
	started time.Time // when the plane's Start was called
}

// harnessOptions tune a harness; newHarness's tests take the zero values but rollout.
type harnessOptions struct {
	// rollout is the in-process region's RolloutTimeout.
	rollout time.Duration
	// resync is the plane's and the regions' ResyncInterval (200ms).
	resync time.Duration
	// logger receives the plane's and the regions' logs (the test's log).
	logger *slog.Logger
	// gateways makes remote regions' agents report a gateway endpoint of their own, as
	// `platform agent` does.
	gateways bool
	// pings is the keepalive of remote regions' agents (200ms, 500ms).
	pings tunnel.Options
	// sample is the plane's SampleInterval (its default when 0).
	sample time.Duration
	// wrapStore, when set, wraps the store the plane is given.
	wrapStore func(platform.Store) platform.Store
	// plans turns billing on (control.Options.Plans).
	plans *billing.Plans
	// metering receives the plane's usage events (control.Options.Metering).
	metering control.UsagePublisher
	// spend is the plane's SpendInterval (its default when 0).
	spend time.Duration
}

func newHarness(t testing.TB, dir string, host *fake.Host, rollout time.Duration) *harness {
	t.Helper()
	h := openHarness(t, dir, host, harnessOptions{rollout: rollout})
	h.start()
	return h
}

// openHarness opens the store in dir and makes a plane on it with an in-process region
// on host; start starts it.
func openHarness(t testing.TB, dir string, host *fake.Host, opts harnessOptions) *harness {
	t.Helper()
	if opts.resync <= 0 {
		opts.resync = 200 * time.Millisecond
	}
	if opts.logger == nil {
		opts.logger = testLogger(t)
	}
	if opts.pings == (tunnel.Options{}) {
		opts.pings = tunnel.Options{PingInterval: 200 * time.Millisecond, PingTimeout: 500 * time.Millisecond}
	}
	st, err := sqlstore.Open(context.Background(), filepath.Join(dir, "platform.db"))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, opts: opts, store: st, host: host}
	var plane *control.Plane
	h.driver = fake.New(fake.Options{Host: host, OnEvent: func(e runtime.Event) {
		if plane != nil {
			plane.HandleRuntimeEvent(e)
		}
	}})
	h.mesh = &fakeMesh{driver: h.driver, silent: map[string]bool{}, meta: map[string]map[string]string{},
		callResp: []byte(`{"message":"Hello Alice"}`)}
	box, err := seal.New([]byte("test secret key, 32 bytes long!!"), "release-env")
	if err != nil {
		t.Fatal(err)
	}
	var planeStore platform.Store = st
	if opts.wrapStore != nil {
		planeStore = opts.wrapStore(st)
	}
	plane, err = control.New(control.Options{
		Store: planeStore, Mesh: h.mesh, Driver: h.driver, Builder: fakeBuilder{}, Sources: fakeBuilder{}, Secrets: box,
		BuildLogDir: filepath.Join(dir, "buildlogs"), RolloutTimeout: opts.rollout, StopGrace: 200 * time.Millisecond,
		ResyncInterval: opts.resync, Logger: opts.logger, ReviveAfter: 700 * time.Millisecond, SampleInterval: opts.sample,
		Plans: opts.plans, Metering: opts.metering, SpendInterval: opts.spend,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.plane = plane
	h.admin = platform.NewContextWithToken(context.Background(), &platform.Token{Name: "admin", Admin: true})
	return h
}

// start starts the plane and waits until it is ready.
func (h *harness) start() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	h.started = time.Now()
	go func() { h.done <- h.plane.Start(ctx) }()
	h.t.Cleanup(h.stop)
	h.eventually("plane ready", h.plane.Ready)
}

// stop ends the plane and leaves the simulated processes running, like kill -9.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Errorf("plane: %v", err)
	}
	h.driver.Close()
	h.store.Close()
	h.cancel = nil
}

func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// upload uploads archive (a digest: see fakeBuilder) to namespace ns, so ns may deploy it.
func (h *harness) upload(ns, archive string) {
	h.t.Helper()
	if _, err := h.plane.UploadSource(h.admin, ns, strings.NewReader(archive)); err != nil {
		h.t.Fatalf("upload: %v", err)
	}
}

func (h *harness) deploy(ns, svc, archive string) *platform.Release {
	h.t.Helper()
	h.upload(ns, archive)
	r, err := h.plane.Deploy(h.admin, platform.DeployRequest{Namespace: ns, Service: svc, Source: platform.Source{Kind: platform.SourceArchive, Archive: archive}})
	if err != nil {
		h.t.Fatalf("deploy: %v", err)
	}
	return r
}

func (h *harness) waitRelease(id string, want platform.ReleaseStatus) *platform.Release {
	h.t.Helper()
	var r *platform.Release
	h.eventually(fmt.Sprintf("release %s %s", id, want), func() bool {
		var err error
		r, err = h.store.GetRelease(context.Background(), id)
		return err == nil && r.Status == want
	})
	return r
}

func (h *harness) eventTypes(ns, svc string) []string {
	h.t.Helper()
	evs, err := h.plane.Events(h.admin, platform.EventFilter{Namespace: ns, Service: svc, Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	return types
}

func (h *harness) runningWorkloads(ns, svc string) map[string][]string {
	h.t.Helper()
	ws, err := h.driver.List(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string][]string{}
	for _, w := range ws {
		if w.Spec.Namespace == ns && w.Spec.Service == svc {
			for _, i := range w.Instances {
				out[w.Spec.ID] = append(out[w.Spec.ID], i.ID)
			}
		}
	}
	return out
}

func digest(prefix string) string { return (prefix + strings.Repeat("0", 64))[:64] }

func TestDeployRollsOutAndReplaces(t *testing.T) {
	t.Parallel()
	h := newHarness(t, t.TempDir(), fake.NewHost(), 5*time.Second)
	if _, err := h.plane.CreateNamespace(h.admin, "acme"); err != nil {
		t.Fatal(err)
	}
	r1 := h.deploy("acme", "helloworld", digest("aaaa1111"))
	h.waitRelease(r1.ID, platform.ReleaseLive)

	v, err := h.plane.GetService(h.admin, "acme", "helloworld")
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != platform.ServiceRunning || v.Version != "v1" || v.CurrentRelease != r1.ID {
		t.Fatalf("service = %s %s %s, want running v1 %s", v.Status, v.Version, v.CurrentRelease, r1.ID)
	}
	// The endpoint comes from the region's registry with the shape of its request.
	if len(v.Endpoints) != 1 || v.Endpoints[0].Name != "Helloworld.Call" || !reflect.DeepEqual(v.Endpoints[0].Request, helloworldRequest()) {
		t.Errorf("endpoints = %+v", v.Endpoints)
	}

	r2 := h.deploy("acme", "helloworld", digest("bbbb2222"))
	h.waitRelease(r2.ID, platform.ReleaseLive)
	h.waitRelease(r1.ID, platform.ReleaseSuperseded)
	h.eventually("only v2 runs", func() bool {
		w := h.runningWorkloads("acme", "helloworld")
		return len(w) == 1 && len(w[r2.ID]) == 1
	})

	want := []string{"release.created", "build.started", "build.succeeded", "release.rolling_out", "instance.started", "release.rolled_out"}
	got := h.eventTypes("acme", "helloworld")
	if !isSubsequence(want, got) {
		t.Errorf("events = %v, want in order %v", got, want)
	}
}

// A service whose first release does not build is failed in every region of its
// placement too, with the reason, not "deploying" forever.
func TestFirstBuildFailureIsFailedPerRegion(t *testing.T) {
	t.Parallel()
	h := newHarness(t, t.TempDir(), fake.NewHost(), 5*time.Second)
	h.plane.CreateNamespace(h.admin, "acme")
	r := h.deploy("acme", "broken", digest("bad"))
	h.waitRelease(r.ID, platform.ReleaseFailed)
	h.eventually("broken failed in its region", func() bool {
		v, err := h.plane.GetService(h.admin, "acme", "broken")
		return err == nil && v.Status == platform.ServiceFailed && len(v.PerRegion) == 1 &&
			v.PerRegion[0].Status == platform.ServiceFailed && strings.Contains(v.PerRegion[0].Reason, "undefined: foo")
	})
}

func TestBuildFailureKeepsCurrentRelease(t *testing.T) {
	t.Parallel()
	h := newHarness(t, t.TempDir(), fake.NewHost(), 5*time.Second)
	h.plane.CreateNamespace(h.admin, "acme")
	r1 := h.deploy("acme", "helloworld", digest("aaaa1111"))
	h.waitRelease(r1.ID, platform.ReleaseLive)

	r2 := h.deploy("acme", "helloworld", digest("bad"))
	failed := h.waitRelease(r2.ID, platform.ReleaseFailed)
	if !strings.Contains(failed.Reason, "undefined: foo") {
		t.Errorf("reason = %q, want the compiler error", failed.Reason)
	}
	evs, _ := h.plane.Events(h.admin, platform.EventFilter{Namespace: "acme", Type: "build.failed"})
	if len(evs) != 1 || !strings.Contains(evs[0].Message, "undefined: foo") {
		t.Errorf("build.failed events = %+v", evs)
	}
	h.eventually("service running "+r1.ID, func() bool {
		v, err := h.plane.GetService(h.admin, "acme", "helloworld")
		return err == nil && v.CurrentRelease == r1.ID && v.Status == platform.ServiceRunning
	})
	if w := h.runningWorkloads("acme", "helloworld"); len(w[r1.ID]) != 1 || len(w) != 1 {
		t.Errorf("workloads = %v, want only %s", w, r1.ID)
	}
	lines := collect(t, h.plane, "acme", failed.BuildID)
	if !slices.Contains(lines, "./main.go:3:2: undefined: foo") {
		t.Errorf("build log = %q", lines)
	}
}

func collect(t *testing.T, p *control.Plane, ns, build string) []string {
	t.Helper()
	ctx := platform.NewContextWithToken(context.Background(), &platform.Token{Admin: true})
	ch, err := p.BuildLog(ctx, ns, build, false)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for l := range ch {
		lines = append(lines, l)
	}
	return lines
}

func TestFailedRolloutKeepsOldServing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		setup      func(h *harness, artifact string)
		wantReason string
		wantEvent  string
	}{
		{
			name: "exits at once",
			setup: func(h *harness, artifact string) {
				h.host.SetScript(artifact, fake.Script{Exit: true, ExitCode: 2, Output: []fake.Line{{Stream: platform.Stderr, Text: "panic: boom"}}})
			},
			wantReason: "did not stay up",
			wantEvent:  "instance.crashed",
		},
		{
			name: "never registers",
			setup: func(h *harness, artifact string) {
				h.mesh.mu.Lock()
				h.mesh.silent[artifact] = true
				h.mesh.mu.Unlock()
			},
			wantReason: "service.Init()",
			wantEvent:  "instance.unregistered",
		},
		{
			// A cluster namespace someone else owns: tried until the rollout timeout.
			name: "the runtime refuses the workload",
			setup: func(h *harness, artifact string) {
				h.host.SetScript(artifact, fake.Script{StartErr: platform.Errorf(platform.ECONFLICT, "kubernetes: Namespace mp-acme exists and is not the platform's")})
			},
			wantReason: "Namespace mp-acme exists and is not the platform's",
			wantEvent:  "release.rolling_out",
		},
		{
			// A runtime that stays away: tried until the rollout timeout, then failed.
			name: "the runtime does not answer",
			setup: func(h *harness, artifact string) {
				h.host.SetScript(artifact, fake.Script{StartErr: platform.Errorf(platform.EUNAVAILABLE, "kubernetes: the API server does not answer")})
			},
			wantReason: "the API server does not answer",
			wantEvent:  "release.rolling_out",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, t.TempDir(), fake.NewHost(), 1500*time.Millisecond)
			h.plane.CreateNamespace(h.admin, "acme")
			r1 := h.deploy("acme", "helloworld", digest("aaaa1111"))
			h.waitRelease(r1.ID, platform.ReleaseLive)

			tt.setup(h, "bin-bbbb2222")
			r2 := h.deploy("acme", "helloworld", digest("bbbb2222"))
			failed := h.waitRelease(r2.ID, platform.ReleaseFailed)
			if !strings.Contains(failed.Reason, tt.wantReason) {
				t.Errorf("reason = %q, want it to mention %q", failed.Reason, tt.wantReason)
			}
			h.eventually(tt.wantEvent+" and release.failed events", func() bool {
				types := h.eventTypes("acme", "helloworld")
				return slices.Contains(types, tt.wantEvent) && slices.Contains(types, "release.failed")
			})
			h.eventually("only v1 runs", func() bool {
				w := h.runningWorkloads("acme", "helloworld")
				return len(w) == 1 && len(w[r1.ID]) == 1
			})
			v, _ := h.plane.GetService(h.admin, "acme", "helloworld")
			if v.CurrentRelease != r1.ID {
				t.Errorf("current = %s, want %s", v.CurrentRelease, r1.ID)
			}
		})
	}
}

func TestRestartReadoptsWithoutDuplicates(t *testing.T) {
	t.Parallel()
	dir, host := t.TempDir(), fake.NewHost()
	h := newHarness(t, dir, host, 5*time.Second)
	h.plane.CreateNamespace(h.admin, "acme")
	r1 := h.deploy("acme", "helloworld", digest("aaaa1111"))
	h.waitRelease(r1.ID, platform.ReleaseLive)
	before := h.runningWorkloads("acme", "helloworld")

	// Crash mid-rollout: v2 is deployed and the plane dies before it is promoted.
	host.SetScript("bin-bbbb2222", fake.Script{})
	h.mesh.mu.Lock()
	h.mesh.silent["bin-bbbb2222"] = true
	h.mesh.mu.Unlock()
	r2 := h.deploy("acme", "helloworld", digest("bbbb2222"))
	h.waitRelease(r2.ID, platform.ReleaseRollingOut)
	h.stop()

	h2 := newHarness(t, dir, host, 5*time.Second)
	h2.waitRelease(r2.ID, platform.ReleaseLive)
	h2.eventually("only v2 runs, once", func() bool {
		w := h2.runningWorkloads("acme", "helloworld")
		return len(w) == 1 && len(w[r2.ID]) == 1
	})
	if w := h2.runningWorkloads("acme", "helloworld"); slices.Equal(w[r2.ID], before[r1.ID]) {
		t.Errorf("v2 instances %v reuse v1's ids %v", w[r2.ID], before[r1.ID])
	}
}

func TestRestartKeepsRunningInstances(t *testing.T) {
	t.Parallel()
	dir, host := t.TempDir(), fake.NewHost()
	h := newHarness(t, dir, host, 5*time.Second)
	h.plane.CreateNamespace(h.admin, "acme")
	r1 := h.deploy("acme", "helloworld", digest("aaaa1111"))
	h.waitRelease(r1.ID, platform.ReleaseLive)
	before := h.runningWorkloads("acme", "helloworld")[r1.ID]
	pid, ok := h.driver.PID(r1.ID, before[0])
	if !ok {
		t.Fatal("no pid")
	}
	h.stop()

	h2 := newHarness(t, dir, host, 5*time.Second)
	time.Sleep(500 * time.Millisecond) // a few reconcile rounds
	after := h2.runningWorkloads("acme", "helloworld")
	if len(after) != 1 || !slices.Equal(after[r1.ID], before) {
		t.Fatalf("after restart workloads = %v, want %s: %v", after, r1.ID, before)
	}
	if pid2, _ := h2.driver.PID(r1.ID, before[0]); pid2 != pid {
		t.Errorf("pid after restart = %d, want the same process %d", pid2, pid)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, t.TempDir(), fake.NewHost(), 5*time.Second)
	h.plane.CreateNamespace(h.admin, "acme")
	h.plane.CreateNamespace(h.admin, "globex")
	acme := platform.NewContextWithToken(context.Background(), &platform.Token{Name: "acme-dev", Namespaces: []string{"acme"}})
	good := platform.Source{Kind: platform.SourceArchive, Archive: digest("aaaa")}

	tests := []struct {
		name string
		ctx  context.Context
		req  platform.DeployRequest
		code string
	}{
		{"no token", context.Background(), platform.DeployRequest{Namespace: "acme", Service: "hello", Source: good}, platform.EUNAUTHENTICATED},
		{"other namespace", acme, platform.DeployRequest{Namespace: "globex", Service: "hello", Source: good}, platform.EFORBIDDEN},
		{"unknown namespace", h.admin, platform.DeployRequest{Namespace: "nope", Service: "hello", Source: good}, platform.ENOTFOUND},
		{"bad service name", acme, platform.DeployRequest{Namespace: "acme", Service: "Hello_World", Source: good}, platform.EINVALID},
		{"bad source kind", acme, platform.DeployRequest{Namespace: "acme", Service: "hello", Source: platform.Source{Kind: "ftp"}}, platform.EINVALID},
		{"git without url", acme, platform.DeployRequest{Namespace: "acme", Service: "hello", Source: platform.Source{Kind: platform.SourceGit}}, platform.EINVALID},
		{"reserved env", acme, platform.DeployRequest{Namespace: "acme", Service: "hello", Source: good, Env: map[string]string{"MICRO_REGISTRY": "mdns"}}, platform.EINVALID},
		{"too many replicas", acme, platform.DeployRequest{Namespace: "acme", Service: "hello", Source: good, Replicas: 1000}, platform.EINVALID},
		{"unknown size", acme, platform.DeployRequest{Namespace: "acme", Service: "hello", Source: good, Size: "huge"}, platform.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.plane.Deploy(tt.ctx, tt.req)
			if got := platform.ErrorCode(err); got != tt.code {
				t.Fatalf("code = %q (%v), want %q", got, err, tt.code)
			}
		})
	}
	for _, ns := range []string{"acme", "globex"} {
		svcs, err := h.plane.ListServices(h.admin, ns)
		if err != nil || len(svcs) != 0 {
			t.Errorf("services in %s = %v, %v; want none", ns, svcs, err)
		}
	}
	if _, err := h.plane.CreateNamespace(h.admin, "Bad Name"); platform.ErrorCode(err) != platform.EINVALID {
		t.Errorf("bad namespace name: %v", err)
	}
	if _, err := h.plane.CreateNamespace(acme, "third"); platform.ErrorCode(err) != platform.EFORBIDDEN {
		t.Errorf("non-admin create namespace: %v", err)
	}
	nss, _ := h.plane.ListNamespaces(acme)
	if len(nss) != 1 || nss[0].Name != "acme" {
		t.Errorf("acme token sees namespaces %v, want only acme", nss)
	}
}

func TestDeleteServiceStopsEverything(t *testing.T) {
	t.Parallel()
	h := newHarness(t, t.TempDir(), fake.NewHost(), 5*time.Second)
	h.plane.CreateNamespace(h.admin, "acme")
	r1 := h.deploy("acme", "helloworld", digest("aaaa1111"))
	h.waitRelease(r1.ID, platform.ReleaseLive)
	if err := h.plane.DeleteService(h.admin, "acme", "helloworld"); err != nil {
		t.Fatal(err)
	}
	h.eventually("service gone and service.deleted", func() bool {
		_, err := h.store.GetService(context.Background(), "acme", "helloworld")
		evs, _ := h.plane.Events(h.admin, platform.EventFilter{Namespace: "acme", Type: platform.EventServiceDeleted})
		return platform.IsNotFound(err) && len(evs) == 1
	})
	if w := h.runningWorkloads("acme", "helloworld"); len(w) != 0 {
		t.Errorf("workloads after delete = %v", w)
	}
}

// isSubsequence reports whether want appears in got in order (other items may interleave).
func isSubsequence(want, got []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestUnregisteredInstanceIsRestarted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, t.TempDir(), fake.NewHost(), 5*time.Second)
	h.plane.CreateNamespace(h.admin, "acme")
	r1 := h.deploy("acme", "helloworld", digest("aaaa1111"))
	h.waitRelease(r1.ID, platform.ReleaseLive)

	// The instance runs on but vanishes from the registry, as one whose NATS
	// connection gave up would.
	h.mesh.mu.Lock()
	h.mesh.silent["bin-aaaa1111"] = true
	h.mesh.mu.Unlock()
	h.eventually("instance.restarted", func() bool {
		return slices.Contains(h.eventTypes("acme", "helloworld"), platform.EventInstanceRestarted)
	})
	// Restart is asynchronous in the driver: the event says it was asked for.
	h.eventually("the instance restarted in place", func() bool {
		st, err := h.driver.Inspect(context.Background(), r1.ID)
		return err == nil && len(st.Instances) == 1 && st.Instances[0].Restarts >= 1
	})
	if !slices.ContainsFunc(h.driver.Calls(), func(c fake.Call) bool { return c.Method == "Restart" && c.WorkloadID == r1.ID }) {
		t.Error("no Restart call reached the driver")
	}
}

func TestDeleteNamespace(t *testing.T) {
	t.Parallel()
	h := newHarness(t, t.TempDir(), fake.NewHost(), 5*time.Second)
	h.plane.CreateNamespace(h.admin, "acme")
	h.plane.CreateNamespace(h.admin, "globex")
	r := h.deploy("acme", "helloworld", digest("aaaa1111"))
	g := h.deploy("globex", "helloworld", digest("aaaa1111"))
	h.waitRelease(r.ID, platform.ReleaseLive)
	h.waitRelease(g.ID, platform.ReleaseLive)

	acme := platform.NewContextWithToken(context.Background(), &platform.Token{Name: "acme-dev", Namespaces: []string{"acme"}})
	if err := h.plane.DeleteNamespace(acme, "acme"); platform.ErrorCode(err) != platform.EFORBIDDEN {
		t.Fatalf("non-admin delete = %v, want forbidden", err)
	}
	if err := h.plane.DeleteNamespace(h.admin, "nope"); platform.ErrorCode(err) != platform.ENOTFOUND {
		t.Fatalf("delete unknown = %v, want not_found", err)
	}
	if err := h.plane.DeleteNamespace(h.admin, "acme"); err != nil {
		t.Fatal(err)
	}
	// A reconcile that read acme's service just before the delete may start it once
	// more; the next round stops it.
	h.eventually("acme's workloads stopped", func() bool { return len(h.runningWorkloads("acme", "helloworld")) == 0 })
	if w := h.runningWorkloads("globex", "helloworld"); len(w[g.ID]) != 1 {
		t.Errorf("globex workloads after deleting acme: %v", w)
	}
	if _, err := h.store.GetNamespace(context.Background(), "acme"); !platform.IsNotFound(err) {
		t.Errorf("acme still stored: %v", err)
	}
	// The region removes the namespace's account once its desired state no longer has it.
	h.eventually("acme's mesh account removed", func() bool {
		h.mesh.mu.Lock()
		defer h.mesh.mu.Unlock()
		return slices.Equal(h.mesh.removed, []string{"acme"})
	})
}

func TestEnvIsSealedAtRestAndNeverShown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, t.TempDir(), fake.NewHost(), 5*time.Second)
	h.plane.CreateNamespace(h.admin, "acme")
	h.upload("acme", digest("aaaa1111"))
	r, err := h.plane.Deploy(h.admin, platform.DeployRequest{
		Namespace: "acme", Service: "helloworld", Env: map[string]string{"DB_PASSWORD": "hunter2"},
		Source: platform.Source{Kind: platform.SourceArchive, Archive: digest("aaaa1111")},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.waitRelease(r.ID, platform.ReleaseLive)

	stored, err := h.store.GetRelease(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v := stored.Env["DB_PASSWORD"]; v == "" || strings.Contains(v, "hunter2") {
		t.Errorf("stored env value %q: want it sealed", v)
	}
	shown, err := h.plane.GetRelease(h.admin, "acme", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	view, err := h.plane.GetService(h.admin, "acme", "helloworld")
	if err != nil {
		t.Fatal(err)
	}
	for name, env := range map[string]map[string]string{"deploy": r.Env, "release": shown.Env, "service": view.Release.Env} {
		if env["DB_PASSWORD"] != "(sealed)" {
			t.Errorf("%s shows DB_PASSWORD=%q, want (sealed)", name, env["DB_PASSWORD"])
		}
	}
	st, err := h.driver.Inspect(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Spec.Env["DB_PASSWORD"] != "hunter2" {
		t.Errorf("instances get DB_PASSWORD=%q, want the value", st.Spec.Env["DB_PASSWORD"])
	}
}

// TestSizeBecomesResources deploys with a size and checks what each instance gets; a
// redeploy without one keeps it, and one with another changes it.
func TestSizeBecomesResources(t *testing.T) {
	t.Parallel()
	h := newHarness(t, t.TempDir(), fake.NewHost(), 5*time.Second)
	h.plane.CreateNamespace(h.admin, "acme")
	deploy := func(archive string, size platform.Size) *platform.Release {
		t.Helper()
		h.upload("acme", digest(archive))
		r, err := h.plane.Deploy(h.admin, platform.DeployRequest{Namespace: "acme", Service: "helloworld", Size: size,
			Source: platform.Source{Kind: platform.SourceArchive, Archive: digest(archive)}})
		if err != nil {
			t.Fatal(err)
		}
		h.waitRelease(r.ID, platform.ReleaseLive)
		return r
	}
	steps := []struct {
		name      string
		archive   string
		size      platform.Size
		wantSize  platform.Size
		cpuMillis int64
		memory    int64
	}{
		{"new service without a size gets the default", "aaaa1111", "", platform.SizeNano, 100, 128 << 20},
		{"a size is the instance's resources", "bbbb2222", platform.SizeLarge, platform.SizeLarge, 1000, 1 << 30},
		{"a redeploy without a size keeps it", "cccc3333", "", platform.SizeLarge, 1000, 1 << 30},
		{"a redeploy with a size changes it", "dddd4444", platform.SizeSmall, platform.SizeSmall, 250, 256 << 20},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			r := deploy(st.archive, st.size)
			if r.Size != st.wantSize {
				t.Fatalf("release size = %q, want %q", r.Size, st.wantSize)
			}
			w, err := h.driver.Inspect(context.Background(), r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got := w.Spec.Resources; got.CPUMillis != st.cpuMillis || got.MemoryBytes != st.memory {
				t.Fatalf("instance resources = %+v, want %dm CPU, %d bytes", got, st.cpuMillis, st.memory)
			}
			view, err := h.plane.GetService(h.admin, "acme", "helloworld")
			if err != nil {
				t.Fatal(err)
			}
			if view.Release == nil || view.Release.Size != st.wantSize {
				t.Fatalf("service view release = %+v, want size %q", view.Release, st.wantSize)
			}
		})
	}
}

func TestRegionsNeedAdmin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, t.TempDir(), fake.NewHost(), 5*time.Second)
	dev := platform.NewContextWithToken(context.Background(), &platform.Token{Name: "dev", Namespaces: []string{"acme"}})
	lon := &platform.Region{Name: "lon1", Provider: "digitalocean", Location: "lon1", GatewayEndpoint: "https://lon1.example.dev"}
	if _, err := h.plane.RegisterRegion(dev, lon); platform.ErrorCode(err) != platform.EFORBIDDEN {
		t.Fatalf("non-admin register = %v, want forbidden", err)
	}
	if _, err := h.plane.RegisterRegion(h.admin, &platform.Region{Name: "lon1", Provider: "nimbus"}); platform.ErrorCode(err) != platform.EINVALID {
		t.Fatalf("bad provider = %v, want invalid", err)
	}
	got, err := h.plane.RegisterRegion(h.admin, lon)
	if err != nil || got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
		t.Fatalf("register = %+v, %v", got, err)
	}
	if _, err := h.plane.ListRegions(context.Background()); platform.ErrorCode(err) != platform.EUNAUTHENTICATED {
		t.Errorf("anonymous list = %v, want unauthenticated", err)
	}
	list, err := h.plane.ListRegions(dev)
	if err != nil || len(list) != 1 || list[0].Name != "lon1" {
		t.Errorf("list = %v, %v", list, err)
	}
	if err := h.plane.DeleteRegion(dev, "lon1"); platform.ErrorCode(err) != platform.EFORBIDDEN {
		t.Errorf("non-admin delete = %v, want forbidden", err)
	}
	if err := h.plane.DeleteRegion(h.admin, "lon1"); err != nil {
		t.Errorf("delete: %v", err)
	}
}

// TestStartSendsTheNamespaceList: at start the mesh is told the complete list of stored
// namespaces, so a mesh node that outlived the platform drops namespaces deleted while it
// was away.
func TestStartSendsTheNamespaceList(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, dir, fake.NewHost(), 5*time.Second)
	for _, ns := range []string{"acme", "globex", "initech"} {
		if _, err := h.plane.CreateNamespace(h.admin, ns); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.plane.DeleteNamespace(h.admin, "globex"); err != nil {
		t.Fatal(err)
	}
	h.stop()
	h = newHarness(t, dir, fake.NewHost(), 5*time.Second)
	h.mesh.mu.Lock()
	defer h.mesh.mu.Unlock()
	if len(h.mesh.synced) != 1 || !slices.Equal(h.mesh.synced[0], []string{"acme", "initech"}) {
		t.Errorf("SyncNamespaces calls = %v, want one with [acme initech]", h.mesh.synced)
	}
}

// TestRedeployKeepsReplicas: a redeploy without a replica count keeps the service's
// current count; one with a count changes it; a new service gets one.
func TestRedeployKeepsReplicas(t *testing.T) {
	t.Parallel()
	h := newHarness(t, t.TempDir(), fake.NewHost(), 5*time.Second)
	h.plane.CreateNamespace(h.admin, "acme")
	for _, st := range []struct {
		name     string
		archive  string
		replicas int
		want     int
	}{
		{"new service gets one", "aaaa1111", 0, 1},
		{"a count is the instances", "bbbb2222", 3, 3},
		{"a redeploy without a count keeps it", "cccc3333", 0, 3},
		{"a redeploy with a count changes it", "dddd4444", 2, 2},
	} {
		t.Run(st.name, func(t *testing.T) {
			h.upload("acme", digest(st.archive))
			r, err := h.plane.Deploy(h.admin, platform.DeployRequest{Namespace: "acme", Service: "helloworld", Replicas: st.replicas,
				Source: platform.Source{Kind: platform.SourceArchive, Archive: digest(st.archive)}})
			if err != nil {
				t.Fatal(err)
			}
			h.waitRelease(r.ID, platform.ReleaseLive)
			w, err := h.driver.Inspect(context.Background(), r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if r.Replicas != st.want || w.Spec.Replicas != st.want {
				t.Fatalf("release replicas %d, workload %d; want %d", r.Replicas, w.Spec.Replicas, st.want)
			}
		})
	}
}
