package control

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"

	"connectrpc.com/connect"

	platform "github.com/micro/platform"
	"github.com/micro/platform/auth"
	"github.com/micro/platform/authz"
	"github.com/micro/platform/runtimeapi"
	pb "github.com/micro/platform/runtimeapi/runtimev1"
	"github.com/micro/platform/runtimeapi/runtimev1/runtimev1connect"
	"github.com/micro/platform/runtimeapi/tunnel"
)

// Region agents authenticate with a region token: a secret the control plane issues per
// region (IssueRegionToken), of which only the SHA-256 is stored. It opens the region's
// tunnel and calls ControlService, nothing else: it is not an API token.

// HeaderRegion names the region an agent speaks for.
const HeaderRegion = "Micro-Region"

// RegionHandler serves the agents of remote regions: the tunnel they open
// (tunnel.ConnectPath) and ControlService. Mount it beside the API.
func (p *Plane) RegionHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(tunnel.ConnectPath, tunnel.Handler(p.authorizeAgent, func(name string, c *tunnel.Conn) {
		ctx := p.runContext()
		if ctx == nil {
			c.Close()
			return
		}
		go func() {
			defer c.Close()
			p.links.attach(ctx, name, runtimeapi.NewAgentClient(name, c.Client(), tunnel.BaseURL), c.Done())
		}()
	}, tunnel.Options{}))
	path, h := runtimev1connect.NewControlServiceHandler(&controlService{p: p})
	mux.Handle(path, h)
	return mux
}

// runContext is the context Start runs under, nil before Start.
func (p *Plane) runContext() context.Context {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runCtx
}

// authorizeAgent checks a region token: EUNAUTHENTICATED for an unknown one, EFORBIDDEN
// for one of another region.
func (p *Plane) authorizeAgent(ctx context.Context, name, secret string) error {
	if secret == "" {
		return platform.Errorf(platform.EUNAUTHENTICATED, "a region token is required").
			WithHint("an operator issues one with `platform regions token %s`", name)
	}
	r, err := p.store.RegionByTokenHash(ctx, auth.Hash(secret))
	if platform.IsNotFound(err) {
		return platform.Errorf(platform.EUNAUTHENTICATED, "unknown or revoked region token").
			WithHint("an operator issues a new one with `platform regions token %s`", name)
	} else if err != nil {
		return err
	}
	if r.Name != name {
		return platform.Errorf(platform.EFORBIDDEN, "the token is region %s's, not %s's", r.Name, name)
	}
	return nil
}

// controlService implements ControlService for authenticated agents.
type controlService struct{ p *Plane }

var _ runtimev1connect.ControlServiceHandler = (*controlService)(nil)

// agent authenticates a call of ControlService and returns the caller's region.
func (s *controlService) agent(ctx context.Context, h http.Header) (string, error) {
	name := h.Get(HeaderRegion)
	secret, _ := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
	if err := s.p.authorizeAgent(ctx, name, secret); err != nil {
		return "", runtimeapi.ToConnect(err)
	}
	return name, nil
}

// Authenticate implements ControlService: a region's gateway resolves a bearer secret.
func (s *controlService) Authenticate(ctx context.Context, req *connect.Request[pb.AuthenticateRequest]) (*connect.Response[pb.AuthenticateResponse], error) {
	if _, err := s.agent(ctx, req.Header()); err != nil {
		return nil, err
	}
	a, ok := s.p.opts.Auth.(platform.Authenticator)
	if !ok {
		return nil, runtimeapi.ToConnect(platform.Errorf(platform.EUNAVAILABLE, "the control plane has no authenticator"))
	}
	tok, err := a.Authenticate(ctx, req.Msg.GetSecret())
	if err != nil {
		return nil, runtimeapi.ToConnect(err)
	}
	return connect.NewResponse(&pb.AuthenticateResponse{Token: runtimeapi.TokenToProto(tok)}), nil
}

// RecordUsage implements ControlService: a region's gateway reports its request counts,
// only for namespaces that exist.
func (s *controlService) RecordUsage(ctx context.Context, req *connect.Request[pb.RecordUsageRequest]) (*connect.Response[pb.RecordUsageResponse], error) {
	if _, err := s.agent(ctx, req.Header()); err != nil {
		return nil, err
	}
	records := runtimeapi.UsageFromProto(req.Msg)
	nss, err := s.p.store.ListNamespaces(ctx)
	if err != nil {
		return nil, runtimeapi.ToConnect(err)
	}
	records = slices.DeleteFunc(records, func(u *platform.RequestUsage) bool {
		return !slices.ContainsFunc(nss, func(n *platform.Namespace) bool { return n.Name == u.Namespace })
	})
	if err := s.p.store.AddRequestUsage(ctx, records); err != nil {
		return nil, runtimeapi.ToConnect(err)
	}
	return connect.NewResponse(&pb.RecordUsageResponse{}), nil
}

// RecordUsageEvents implements ControlService: a region's usage events go into the
// control plane's metering pipeline, answered once published. Each is the region's (its
// Region is set to the caller's) and billed to the organisation of its namespace; events
// of namespaces that do not exist are dropped, invalid ones refused (EINVALID, nothing
// published).
func (s *controlService) RecordUsageEvents(ctx context.Context, req *connect.Request[pb.RecordUsageEventsRequest]) (*connect.Response[pb.RecordUsageEventsResponse], error) {
	region, err := s.agent(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	pub := s.p.opts.Metering
	if pub == nil {
		return connect.NewResponse(&pb.RecordUsageEventsResponse{}), nil
	}
	events := runtimeapi.UsageEventsFromProto(req.Msg)
	nss, err := s.p.store.ListNamespaces(ctx)
	if err != nil {
		return nil, runtimeapi.ToConnect(err)
	}
	orgs := make(map[string]string, len(nss))
	for _, n := range nss {
		orgs[n.Name] = cmp.Or(n.Org, platform.DefaultOrg)
	}
	keep := events[:0]
	for _, e := range events {
		org, ok := orgs[e.Namespace]
		if !ok {
			continue
		}
		e.Org, e.Region = org, region
		if err := e.Validate(); err != nil {
			return nil, runtimeapi.ToConnect(err)
		}
		keep = append(keep, e)
	}
	for _, e := range keep {
		if err := pub.PublishWait(ctx, e); err != nil {
			return nil, runtimeapi.ToConnect(err)
		}
	}
	if err := pub.Flush(ctx); err != nil {
		return nil, runtimeapi.ToConnect(err)
	}
	return connect.NewResponse(&pb.RecordUsageEventsResponse{}), nil
}

// artifactChunk is the size of one message of an artifact's stream.
const artifactChunk = 256 << 10

// FetchArtifact implements ControlService: the binary of a release placed in the
// caller's region.
func (s *controlService) FetchArtifact(ctx context.Context, req *connect.Request[pb.FetchArtifactRequest], stream *connect.ServerStream[pb.FetchArtifactResponse]) error {
	name, err := s.agent(ctx, req.Header())
	if err != nil {
		return err
	}
	r, err := s.p.store.GetRelease(ctx, req.Msg.GetRelease())
	if err != nil {
		return runtimeapi.ToConnect(err)
	}
	svc, err := s.p.store.GetService(ctx, r.Namespace, r.Service)
	if err != nil {
		return runtimeapi.ToConnect(err)
	}
	if !slices.Contains(s.p.placementOf(ctx, svc), name) {
		return runtimeapi.ToConnect(platform.Errorf(platform.EFORBIDDEN, "release %s is not placed in region %s", r.ID, name))
	}
	if !strings.HasPrefix(r.Artifact, "/") {
		return runtimeapi.ToConnect(platform.Errorf(platform.EINVALID, "release %s has no binary to fetch (artifact %q)", r.ID, r.Artifact))
	}
	f, err := os.Open(r.Artifact)
	if err != nil {
		return runtimeapi.ToConnect(platform.Errorf(platform.ENOTFOUND, "artifact of release %s is gone: deploy again", r.ID))
	}
	defer f.Close()
	buf := make([]byte, artifactChunk)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if serr := stream.Send(&pb.FetchArtifactResponse{Chunk: buf[:n]}); serr != nil {
				return serr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return runtimeapi.ToConnect(fmt.Errorf("read artifact of %s: %w", r.ID, err))
		}
	}
}

// MeshConfig implements ControlService: the secret of the regions' NATS gateways and
// the gateways of the regions in the mesh now, as seeds.
func (s *controlService) MeshConfig(ctx context.Context, req *connect.Request[pb.MeshConfigRequest]) (*connect.Response[pb.MeshConfigResponse], error) {
	name, err := s.agent(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	p := s.p
	if len(p.opts.MeshSecret) == 0 {
		return nil, runtimeapi.ToConnect(platform.Errorf(platform.EUNAVAILABLE, "this control plane runs no region mesh").
			WithHint("start the server with --mesh-gateway HOST:PORT, or the agent without it"))
	}
	seeds := map[string]string{}
	if p.opts.LocalMeshGateway != nil && p.local != nil {
		if gw := p.opts.LocalMeshGateway(); gw != "" {
			seeds[p.opts.LocalRegion] = gw
		}
	}
	for _, r := range p.links.names() {
		if info := p.links.status(r, "").info; r != name && info != nil && info.GetMeshGateway() != "" {
			seeds[r] = info.GetMeshGateway()
		}
	}
	return connect.NewResponse(&pb.MeshConfigResponse{Secret: p.opts.MeshSecret, Seeds: seeds}), nil
}

// IssueRegionToken implements platform.ControlPlane: a new token for region name's
// agent, replacing (revoking) the previous one; the secret is returned once.
func (p *Plane) IssueRegionToken(ctx context.Context, name string) (string, error) {
	if err := p.authorize(ctx, authz.RegionManage); err != nil {
		return "", err
	}
	secret, hash := auth.NewSecret()
	if err := p.store.SetRegionToken(ctx, name, hash); err != nil {
		return "", err
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditRegionToken, Target: "region/" + name})
	// An agent connected with the old token keeps its tunnel until it reconnects; close
	// it now, so only the new token works from here on.
	if p.local == nil || name != p.opts.LocalRegion {
		p.links.disconnect(name)
	}
	return secret, nil
}
