package control

import (
	"context"
	"fmt"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
	"github.com/micro/platform/runtimeapi"
)

// ListTools implements platform.ControlPlane.
func (p *Plane) ListTools(ctx context.Context, namespace string) ([]platform.Tool, error) {
	if err := p.authorizeNamespace(ctx, authz.ServiceRead, namespace); err != nil {
		return nil, err
	}
	tools, err := p.Tools(ctx, namespace)
	if err != nil {
		return nil, err
	}
	tok := platform.TokenFromContext(ctx)
	out := tools[:0:0]
	for _, t := range tools {
		if tok.AllowsTool(t.Service, t.Endpoint) {
			out = append(out, t)
		}
	}
	return out, nil
}

// Tools returns the MCP tools of a namespace without authorising the caller: one per
// endpoint of each of its services that is registered (in the first connected region of
// the service's own placement: services of one namespace may run in different regions),
// with the docs of the build of the service's release where the registry has none. The
// MCP endpoint, which authorises every request itself, keeps them per namespace and asks
// again when a release of the namespace changes.
func (p *Plane) Tools(ctx context.Context, namespace string) ([]platform.Tool, error) {
	svcs, err := p.store.ListServices(ctx, namespace)
	if err != nil {
		return nil, err
	}
	views := make([]*platform.ServiceView, len(svcs))
	qctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var lookups errgroup.Group
	lookups.SetLimit(16)
	for i, s := range svcs {
		if s.Deleted {
			continue
		}
		lookups.Go(func() error {
			c := p.firstConnected(p.placementOf(qctx, s))
			if c == nil {
				return nil
			}
			list, err := c.Services(qctx, namespace, s.Name)
			if err != nil || len(list) == 0 {
				return nil // not registered (or the region did not answer): no tools
			}
			views[i] = &platform.ServiceView{Service: *s, Endpoints: list[0].Endpoints}
			return nil
		})
	}
	_ = lookups.Wait()
	views = slices.DeleteFunc(views, func(v *platform.ServiceView) bool { return v == nil })
	// The release tells which build's docs fill the endpoints the registry leaves bare.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, v := range views {
		if v.CurrentRelease == "" {
			continue
		}
		g.Go(func() error {
			r, err := p.store.GetRelease(gctx, v.CurrentRelease)
			if err != nil {
				if platform.IsNotFound(err) {
					return nil
				}
				return fmt.Errorf("read release %s of %s: %w", v.CurrentRelease, v.Name, err)
			}
			v.Release = r
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	p.addBuildDocs(ctx, views)
	services := make([]*platform.RegisteredService, 0, len(views))
	for _, v := range views {
		services = append(services, &platform.RegisteredService{Name: v.Name, Endpoints: v.Endpoints})
	}
	return platform.ToolsOf(services), nil
}

// firstConnected returns the client of the first connected region of names, nil when
// none is.
func (p *Plane) firstConnected(names []string) *runtimeapi.AgentClient {
	for _, name := range names {
		if c := p.links.client(name); c != nil {
			return c
		}
	}
	return nil
}

// errToolNotAllowed refuses a call to an endpoint outside the token's tool narrowing.
func errToolNotAllowed(service, endpoint string) error {
	return platform.Errorf(platform.EFORBIDDEN, "this token may not call %s", platform.ToolName(service, endpoint)).
		WithHint("its tools are narrowed (`platform tokens list` shows them); use a token that allows this tool")
}
