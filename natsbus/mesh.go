package natsbus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	merrors "go-micro.dev/v5/errors"
	"go-micro.dev/v5/registry"

	"github.com/micro/platform"
)

// HealthEndpoint is the endpoint Health calls on a node that registered it. A node
// without it counts as healthy while it is registered.
const HealthEndpoint = "Debug.Health"

// HealthTimeout bounds a health check whose context has no deadline.
const HealthTimeout = 5 * time.Second

// Services lists what is registered in ns; with service set, only that service, and
// ENOTFOUND when no node of it is registered. A full listing waits for the registry's
// broadcast query (RegistryTimeout) twice; a single service comes from a cache kept
// current by the registry's watch.
func (b *Bus) Services(ctx context.Context, ns, service string) ([]*platform.RegisteredService, error) {
	nc, err := b.nsClient(ns)
	if err != nil {
		return nil, err
	}
	if service != "" {
		rs, err := nc.lookup(service)
		if err != nil {
			return nil, err
		}
		if rs == nil {
			return nil, platform.Errorf(platform.ENOTFOUND, "service %q not found in namespace %q", service, ns)
		}
		return []*platform.RegisteredService{rs}, nil
	}
	list, err := nc.reg.ListServices()
	if err != nil {
		return nil, platform.Errorf(platform.EUNAVAILABLE, "list services of namespace %q: %v", ns, err)
	}
	names := make([]string, 0, len(list))
	for _, s := range list {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	names = slices.Compact(names)

	found := make([]*platform.RegisteredService, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { found[i], errs[i] = nc.lookup(name) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := make([]*platform.RegisteredService, 0, len(found))
	for _, rs := range found {
		if rs != nil {
			out = append(out, rs)
		}
	}
	return out, nil
}

// lookup returns service as registered, nil if it has no node.
func (c *nsClient) lookup(service string) (*platform.RegisteredService, error) {
	svcs, err := c.cache.getService(service)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, platform.Errorf(platform.EUNAVAILABLE, "look up service %q: %v", service, err)
	}
	return toRegistered(service, svcs), nil
}

// toRegistered merges the versions of a go-micro service into one RegisteredService,
// nil when there is no node.
func toRegistered(name string, svcs []*registry.Service) *platform.RegisteredService {
	rs := &platform.RegisteredService{Name: name, Nodes: []platform.RegistryNode{}, Endpoints: []platform.Endpoint{}}
	seen := make(map[string]bool)
	for _, s := range svcs {
		for _, n := range s.Nodes {
			rs.Nodes = append(rs.Nodes, platform.RegistryNode{
				ID: n.Id, Version: s.Version, Address: n.Address, Metadata: n.Metadata,
			})
		}
		for _, e := range s.Endpoints {
			if e != nil && !seen[e.Name] {
				seen[e.Name] = true
				rs.Endpoints = append(rs.Endpoints, toEndpoint(e))
			}
		}
	}
	if len(rs.Nodes) == 0 {
		return nil
	}
	slices.SortFunc(rs.Nodes, func(a, b platform.RegistryNode) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(rs.Endpoints, func(a, b platform.Endpoint) int { return strings.Compare(a.Name, b.Name) })
	return rs
}

// toEndpoint converts an endpoint a service registered, with the shapes of its request
// and response cut to platform.ConvertValue's bounds: the service registered them, and
// they are shown to others.
func toEndpoint(e *registry.Endpoint) platform.Endpoint {
	return platform.Endpoint{
		Name: e.Name, Metadata: e.Metadata,
		Request:  platform.ConvertValue(e.Request, registryValueFields),
		Response: platform.ConvertValue(e.Response, registryValueFields),
	}
}

func registryValueFields(v *registry.Value) (name, typ string, values []*registry.Value) {
	return v.Name, v.Type, v.Values
}

// Call makes one RPC into req.Namespace, passing the JSON body through undecoded, to
// the service's nodes in round-robin (only those of req.Version when set, never a
// drained one). A call that finds its node gone (NATS "no responders", e.g. during a
// rolling update, or the node's region is no longer connected) is retried on another
// node; such a node, or one that let a call time out, is tried after every other node
// for SuspectTTL. Errors are mapped from go-micro's codes (see callError).
func (b *Bus) Call(ctx context.Context, req platform.CallRequest) ([]byte, error) {
	nc, err := b.nsClient(req.Namespace)
	if err != nil {
		return nil, err
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = b.opts.CallTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return nc.call(ctx, req)
}

// callError maps the error of a request to a platform error, keeping the handler's
// detail as the message:
//
//	400 EINVALID, 401 EUNAUTHENTICATED, 403 EFORBIDDEN, 404 ENOTFOUND, 408 ETIMEOUT,
//	409 ECONFLICT, 429 EQUOTA, 502/503 EUNAVAILABLE, anything else EINTERNAL.
//
// A go-micro server reports an unknown endpoint as a bare "rpc: can't find ..." text;
// as a handler may relay such an error from its own calls, it becomes ENOTFOUND only if
// the service did not register the endpoint. Likewise a body its server cannot decode
// into the endpoint's request type (`{"name":123}` for a string field) is a bare
// "json: cannot unmarshal ..." text, EINVALID when it names the request type the
// endpoint registered. A deadline is ETIMEOUT, and a node that went away (after
// retries) or a lost connection EUNAVAILABLE.
func (c *nsClient) callError(req platform.CallRequest, err error) error {
	var e *merrors.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
		return platform.Errorf(platform.ETIMEOUT, "call to %s %s timed out", req.Service, req.Endpoint)
	case errors.Is(err, context.Canceled):
		return platform.Errorf(platform.EUNAVAILABLE, "call to %s %s canceled", req.Service, req.Endpoint)
	case errors.Is(err, nats.ErrNoResponders):
		return platform.Errorf(platform.EUNAVAILABLE, "service %q unreachable: its nodes are gone", req.Service)
	case errors.Is(err, nats.ErrMaxPayload):
		return platform.Errorf(platform.EINVALID, "request body of %d bytes is too large (at most about %d)", len(req.Body), MaxPayload*3/4)
	case !errors.As(err, &e):
		return platform.Errorf(platform.EUNAVAILABLE, "service %q unreachable: %v", req.Service, err)
	}
	msg := e.Detail
	if msg == "" {
		msg = e.Status
	}
	switch e.Code {
	case 400:
		return platform.Errorf(platform.EINVALID, "%s", msg)
	case 401:
		return platform.Errorf(platform.EUNAUTHENTICATED, "%s", msg)
	case 403:
		return platform.Errorf(platform.EFORBIDDEN, "%s", msg)
	case 404:
		return platform.Errorf(platform.ENOTFOUND, "%s", msg)
	case 408:
		return platform.Errorf(platform.ETIMEOUT, "%s", msg)
	case 409:
		return platform.Errorf(platform.ECONFLICT, "%s", msg)
	case 429:
		return platform.Errorf(platform.EQUOTA, "%s", msg)
	case 502, 503:
		return platform.Errorf(platform.EUNAVAILABLE, "%s", msg)
	}
	if e.Code == 0 && strings.HasPrefix(msg, "json: cannot unmarshal ") && c.isRequestDecodeError(req, msg) {
		return platform.Errorf(platform.EINVALID, "request body does not fit %s: %s", req.Endpoint, strings.TrimPrefix(msg, "json: ")).
			WithHint("send the fields of %s's request with the JSON types it takes; `platform services` lists the endpoints", req.Endpoint)
	}
	if (strings.HasPrefix(msg, "rpc: can't find service") || strings.HasPrefix(msg, "rpc: can't find method")) &&
		!c.hasEndpoint(req.Service, req.Endpoint) {
		return platform.Errorf(platform.ENOTFOUND, "service %q has no endpoint %q", req.Service, req.Endpoint)
	}
	return platform.Errorf(platform.EINTERNAL, "%s", msg)
}

// isRequestDecodeError reports whether msg, a JSON decoding error, is about the request
// type req.Endpoint registered: go-micro's server failed to decode the body into it.
func (c *nsClient) isRequestDecodeError(req platform.CallRequest, msg string) bool {
	svcs, err := c.cache.getService(req.Service)
	if err != nil {
		return false
	}
	for _, s := range svcs {
		for _, e := range s.Endpoints {
			if e.Name != req.Endpoint || e.Request == nil || e.Request.Name == "" {
				continue
			}
			// "... into Go struct field HelloRequest.name of type string" or
			// "... into Go value of type pkg.HelloRequest".
			t := e.Request.Name
			if strings.Contains(msg, "Go struct field "+t+".") || strings.HasSuffix(msg, "."+t) || strings.HasSuffix(msg, " "+t) {
				return true
			}
		}
	}
	return false
}

// hasEndpoint reports whether service registered endpoint.
func (c *nsClient) hasEndpoint(service, endpoint string) bool {
	rs, err := c.lookup(service)
	if err != nil || rs == nil {
		return false
	}
	return slices.ContainsFunc(rs.Endpoints, func(e platform.Endpoint) bool { return e.Name == endpoint })
}

// Health asks the node itself, through the namespace's transport: it calls the node's
// Debug.Health endpoint, and a node whose service registered none counts as healthy as
// long as it answers (with go-micro's "unknown endpoint" error). node.Address is used
// when set (as Services returns it); otherwise the node is looked up by ID, and
// ENOTFOUND returned if it is not registered. EUNAVAILABLE when the check fails, the
// node does not answer within HealthTimeout (or ctx's deadline), or it is gone.
func (b *Bus) Health(ctx context.Context, ns string, node platform.RegistryNode) error {
	nc, err := b.nsClient(ns)
	if err != nil {
		return err
	}
	if node.Address == "" {
		rs, err := nc.findNode(node.ID)
		if err != nil {
			return err
		}
		if rs == nil {
			return platform.Errorf(platform.ENOTFOUND, "node %q is not registered in namespace %q", node.ID, ns)
		}
		for _, n := range rs.Nodes {
			if n.ID == node.ID {
				node.Address = n.Address
			}
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, HealthTimeout)
		defer cancel()
	}
	// A go-micro server routes by endpoint alone, so the service name is not needed.
	_, err = nc.request(ctx, &registry.Node{Id: node.ID, Address: node.Address}, "", HealthEndpoint, []byte("{}"))
	var e *merrors.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e) && strings.HasPrefix(e.Detail, "rpc: can't find service Debug"):
		return nil
	case errors.Is(err, nats.ErrNoResponders):
		return platform.Errorf(platform.EUNAVAILABLE, "node %q is gone", node.ID)
	case errors.Is(err, context.DeadlineExceeded):
		return platform.Errorf(platform.EUNAVAILABLE, "node %q did not answer its health check in time", node.ID)
	case e != nil && e.Detail != "":
		return platform.Errorf(platform.EUNAVAILABLE, "node %q is unhealthy: %s", node.ID, e.Detail)
	}
	return platform.Errorf(platform.EUNAVAILABLE, "node %q is unhealthy: %v", node.ID, err)
}

// findNode returns the service holding the node with the given ID, nil if none. go-micro
// node IDs are "<service>-<uuid>", so the service is looked up in the cache by that
// name first; otherwise every registered service is searched.
func (c *nsClient) findNode(id string) (*platform.RegisteredService, error) {
	has := func(rs *platform.RegisteredService) bool {
		return rs != nil && slices.ContainsFunc(rs.Nodes, func(n platform.RegistryNode) bool { return n.ID == id })
	}
	if i := len(id) - 37; i > 0 && id[i] == '-' {
		rs, err := c.lookup(id[:i])
		if err != nil {
			return nil, err
		}
		if has(rs) {
			return rs, nil
		}
	}
	list, err := c.reg.ListServices()
	if err != nil {
		return nil, platform.Errorf(platform.EUNAVAILABLE, "list services: %v", err)
	}
	for _, s := range list {
		rs, err := c.lookup(s.Name)
		if err != nil {
			return nil, err
		}
		if has(rs) {
			return rs, nil
		}
	}
	return nil, nil
}

// String describes the bus without credentials.
func (b *Bus) String() string { return fmt.Sprintf("natsbus(%s)", b.ClientURL()) }
