package runtimeapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	platform "github.com/micro/platform"
	"github.com/micro/platform/region"
	"github.com/micro/platform/runtime"
	"github.com/micro/platform/runtimeapi"
	pb "github.com/micro/platform/runtimeapi/runtimev1"
	"github.com/micro/platform/runtimeapi/runtimev1/runtimev1connect"
)

// TestDesiredRoundTrip: a desired state survives the protobuf encoding unchanged.
func TestDesiredRoundTrip(t *testing.T) {
	w := &runtime.WorkloadSpec{ID: "r1", Namespace: "acme", Service: "hello", Version: "v2", Artifact: "fetch:r1",
		Replicas: 3, Env: map[string]string{"K": "V"}, Resources: runtime.Resources{CPUMillis: 250, MemoryBytes: 256 << 20}}
	canary := *w
	canary.ID, canary.Version = "r2", "v3"
	d := region.Desired{
		Generation: 7, Namespaces: []string{"acme"}, NamespaceOrgs: map[string]string{"acme": "default"},
		Services: []region.ServiceSpec{{Namespace: "acme", Service: "hello", Next: w, Dev: true},
			{Namespace: "acme", Service: "canary", Current: w, Next: &canary, Canary: 10}},
		Routes:         []region.Route{{Namespace: "acme", Service: "hello", Regions: []string{"lon1", "fra1"}}},
		RegionGateways: map[string]string{"lon1": "http://lon1:8081"},
	}
	got := runtimeapi.DesiredFromProto(runtimeapi.DesiredToProto(d))
	if !reflect.DeepEqual(got, d) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, d)
	}
}

// TestObservedRoundTrip: instances come back with the region that reported them.
func TestObservedRoundTrip(t *testing.T) {
	started := time.Date(2026, 12, 6, 1, 2, 3, 4000, time.UTC)
	o := region.Observed{Generation: 3, Services: []region.ServiceStatus{{
		Namespace: "acme", Service: "hello", Serving: "r1",
		Rollout: &region.Rollout{Release: "r2", State: region.RolloutFailed, Reason: "crashed"},
		Instances: []*platform.Instance{{ID: "i1", Region: "fra1", Namespace: "acme", Service: "hello", ReleaseID: "r1", Version: "v1",
			State: platform.InstanceRunning, Restarts: 2, ExitCode: 1, Message: "m", StartedAt: started}},
	}}}
	got := runtimeapi.ObservedFromProto("fra1", runtimeapi.ObservedToProto(o))
	if !reflect.DeepEqual(got, o) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, o)
	}
}

// TestErrorsKeepTheirCode: a platform error crosses the API with its code, message and
// hint; a transport failure is unavailable.
func TestErrorsKeepTheirCode(t *testing.T) {
	err := platform.Errorf(platform.EQUOTA, "no room").WithHint("free some")
	got := runtimeapi.FromConnect(runtimeapi.ToConnect(err))
	if platform.ErrorCode(got) != platform.EQUOTA || platform.ErrorMessage(got) != "no room" || platform.ErrorHint(got) != "free some" {
		t.Errorf("got %v (hint %q)", got, platform.ErrorHint(got))
	}
	if c := platform.ErrorCode(runtimeapi.FromConnect(errors.New("connection refused"))); c != platform.EUNAVAILABLE {
		t.Errorf("transport failure: %s, want unavailable", c)
	}
	if c := platform.ErrorCode(runtimeapi.FromConnect(connect.NewError(connect.CodeNotFound, errors.New("x")))); c != platform.ENOTFOUND {
		t.Errorf("bare not found: %s", c)
	}
}

// controlServer is a ControlService that accepts one secret and serves one artifact.
type controlServer struct {
	runtimev1connect.UnimplementedControlServiceHandler
	auths atomic.Int64
}

func (s *controlServer) Authenticate(_ context.Context, req *connect.Request[pb.AuthenticateRequest]) (*connect.Response[pb.AuthenticateResponse], error) {
	s.auths.Add(1)
	if req.Header().Get("Authorization") != "Bearer region-token" || req.Header().Get("Micro-Region") != "fra1" {
		return nil, runtimeapi.ToConnect(platform.Errorf(platform.EUNAUTHENTICATED, "bad region token"))
	}
	if req.Msg.GetSecret() != "good" {
		return nil, runtimeapi.ToConnect(platform.Errorf(platform.EUNAUTHENTICATED, "invalid or revoked token"))
	}
	return connect.NewResponse(&pb.AuthenticateResponse{Token: &pb.Token{Id: "t1", Org: "default", Role: "developer"}}), nil
}

func (s *controlServer) FetchArtifact(_ context.Context, req *connect.Request[pb.FetchArtifactRequest], stream *connect.ServerStream[pb.FetchArtifactResponse]) error {
	if req.Msg.GetRelease() == "empty" {
		return nil
	}
	for _, c := range []string{"#!/bin/sh\n", "echo hi\n"} {
		if err := stream.Send(&pb.FetchArtifactResponse{Chunk: []byte(c)}); err != nil {
			return err
		}
	}
	return nil
}

// TestControlClient: tokens are cached for a second and, while the control plane is
// unreachable, a token it accepted keeps working; artifacts are written whole and
// executable, and an empty one is refused.
func TestControlClient(t *testing.T) {
	cs := &controlServer{}
	mux := http.NewServeMux()
	mux.Handle(runtimev1connect.NewControlServiceHandler(cs))
	srv := httptest.NewServer(mux)
	c := runtimeapi.NewControlClient(http.DefaultClient, srv.URL, "fra1", "region-token")
	ctx := context.Background()

	for range 3 {
		tok, err := c.Authenticate(ctx, "good")
		if err != nil || tok.ID != "t1" || tok.Role != platform.RoleDeveloper {
			t.Fatalf("authenticate: %+v %v", tok, err)
		}
	}
	if n := cs.auths.Load(); n != 1 {
		t.Errorf("%d lookups for 3 calls within a second, want 1", n)
	}
	if _, err := c.Authenticate(ctx, "bad"); platform.ErrorCode(err) != platform.EUNAUTHENTICATED {
		t.Errorf("bad secret: %v", err)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "r1", "hello")
	if err := c.FetchArtifact(ctx, "r1", path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if err != nil || string(b) != "#!/bin/sh\necho hi\n" || fi.Mode().Perm() != 0o755 {
		t.Errorf("artifact %q mode %v: %v", b, fi.Mode(), err)
	}
	if err := c.FetchArtifact(ctx, "empty", filepath.Join(dir, "empty", "x")); err == nil {
		t.Error("an empty artifact was accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, "empty", "x")); err == nil {
		t.Error("an empty artifact was written")
	}

	// The control plane goes away: the known caller still passes, an unknown one cannot.
	srv.Close()
	time.Sleep(1100 * time.Millisecond)
	if tok, err := c.Authenticate(ctx, "good"); err != nil || tok.ID != "t1" {
		t.Errorf("known token while the control plane is away: %v %v", tok, err)
	}
	if _, err := c.Authenticate(ctx, "other"); platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Errorf("unknown token while the control plane is away: %v, want unavailable", err)
	}
}
