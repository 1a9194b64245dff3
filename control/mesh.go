package control

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
)

// errNoDeveloperMesh is the answer of the developer-connection methods on a platform
// whose own region's mesh does not admit developers.
func errNoDeveloperMesh() error {
	return platform.Errorf(platform.EUNAVAILABLE, "this platform's mesh does not admit developer connections").
		WithHint("developer connections need the platform's embedded mesh (no --nats-url)")
}

// Connect implements platform.ControlPlane: a TokenMesh token of the caller's, for one
// namespace, with the role developer, living req.TTL.
func (p *Plane) Connect(ctx context.Context, req platform.ConnectRequest) (*platform.MeshGrant, error) {
	if _, err := p.namespaceFor(ctx, authz.MeshConnect, req.Namespace); err != nil {
		return nil, err
	}
	dm := p.opts.DeveloperMesh
	if dm == nil {
		return nil, errNoDeveloperMesh()
	}
	switch {
	case req.TTL < 0 || req.TTL > platform.MaxConnectTTL:
		return nil, platform.Errorf(platform.EINVALID, "ttl %s: want up to %s", req.TTL, platform.MaxConnectTTL)
	case req.TTL == 0:
		req.TTL = platform.DefaultConnectTTL
	}
	name := req.Name
	if name == "" {
		name = "connect"
	}
	if len(name) > 64 {
		return nil, platform.Errorf(platform.EINVALID, "name: 1 to 64 characters")
	}
	caller := platform.TokenFromContext(ctx)
	t := &platform.Token{Name: name, Kind: platform.TokenMesh, UserID: caller.UserID, User: caller.User,
		Org: caller.OrgName(), Role: platform.RoleDeveloper, Namespaces: []string{req.Namespace}}
	secret, err := p.storeToken(ctx, t, req.TTL)
	if err != nil {
		return nil, err
	}
	user := platform.MeshUser(t.ID)
	env, url, err := dm.DeveloperEnv(req.Namespace, user, secret)
	if err != nil {
		// The credential is of no use without its environment: take it back.
		if derr := p.store.DeleteToken(ctx, t.ID); derr != nil {
			p.opts.Logger.Warn("mesh credential left after a failed connect", "token", t.ID, "err", derr)
		}
		return nil, fmt.Errorf("connect to namespace %q: %w", req.Namespace, err)
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditMeshConnect, Target: "namespace/" + req.Namespace,
		Detail: fmt.Sprintf("mesh credential %s %q, expires %s", t.ID, t.Name, t.ExpiresAt.UTC().Format(time.RFC3339))})
	return &platform.MeshGrant{Token: t, Secret: secret, User: user, Env: env, MeshURL: url}, nil
}

// ListConnections implements platform.ControlPlane: the namespace's mesh credentials
// that have not expired and that the caller may see (visibleToken: their own, or every
// one with authz.TokenManage), newest first, with their live clients.
func (p *Plane) ListConnections(ctx context.Context, ns string) ([]*platform.MeshConnection, error) {
	if _, err := p.namespaceFor(ctx, authz.MeshConnect, ns); err != nil {
		return nil, err
	}
	caller := platform.TokenFromContext(ctx)
	all, err := p.store.ListTokens(ctx)
	if err != nil {
		return nil, err
	}
	var live map[string][]platform.MeshClient
	if dm := p.opts.DeveloperMesh; dm != nil {
		if live, err = dm.DeveloperClients(ns); err != nil {
			return nil, err
		}
	}
	manage := authz.Check(caller, authz.TokenManage, "", "") == nil
	now := p.opts.Clock.Now()
	var out []*platform.MeshConnection
	for _, t := range all {
		if t.Kind != platform.TokenMesh || !slices.Equal(t.Namespaces, []string{ns}) || t.Expired(now) ||
			!visibleToken(caller, t, manage) {
			continue
		}
		out = append(out, &platform.MeshConnection{Token: t, Clients: nonNilClients(live[t.ID])})
	}
	slices.SortFunc(out, func(a, b *platform.MeshConnection) int { return b.Token.CreatedAt.Compare(a.Token.CreatedAt) })
	return out, nil
}

func nonNilClients(c []platform.MeshClient) []platform.MeshClient {
	if c == nil {
		return []platform.MeshClient{}
	}
	return c
}

// DialMesh implements platform.ControlPlane.
func (p *Plane) DialMesh(ctx context.Context, ns string) (net.Conn, error) {
	if _, err := p.namespaceFor(ctx, authz.MeshConnect, ns); err != nil {
		return nil, err
	}
	dm := p.opts.DeveloperMesh
	if dm == nil {
		return nil, errNoDeveloperMesh()
	}
	addr, err := dm.DeveloperAddr(ns)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, platform.Errorf(platform.EUNAVAILABLE, "the mesh server does not answer: %v", err)
	}
	return c, nil
}
