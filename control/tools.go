package control

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
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
// the namespace's placement), with the docs of the build of the service's release where
// the registry has none. The MCP endpoint, which authorises every request itself, keeps
// them per namespace and asks again when a release of the namespace changes.
func (p *Plane) Tools(ctx context.Context, namespace string) ([]platform.Tool, error) {
	svcs, err := p.store.ListServices(ctx, namespace)
	if err != nil {
		return nil, err
	}
	registered := p.registryOf(ctx, namespace, svcs)
	var views []*platform.ServiceView
	for _, s := range svcs {
		if reg := registered[s.Name]; reg != nil && !s.Deleted {
			views = append(views, &platform.ServiceView{Service: *s, Endpoints: reg.Endpoints})
		}
	}
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

// errToolNotAllowed refuses a call to an endpoint outside the token's tool narrowing.
func errToolNotAllowed(service, endpoint string) error {
	return platform.Errorf(platform.EFORBIDDEN, "this token may not call %s", platform.ToolName(service, endpoint)).
		WithHint("its tools are narrowed (`platform tokens list` shows them); use a token that allows this tool")
}
