package natsbus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"go-micro.dev/v5/client"
	"go-micro.dev/v5/codec/bytes"
	merrors "go-micro.dev/v5/errors"
	"go-micro.dev/v5/registry"
	"go-micro.dev/v5/selector"

	"github.com/micro/platform"
)

// HealthEndpoint is the endpoint Health calls on a node that registered it. A node
// without it counts as healthy while it is registered.
const HealthEndpoint = "Debug.Health"

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
	svcs, err := c.cache.GetService(service)
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
			if !seen[e.Name] {
				seen[e.Name] = true
				rs.Endpoints = append(rs.Endpoints, platform.Endpoint{Name: e.Name, Metadata: e.Metadata})
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

// Call makes one RPC into req.Namespace, passing the JSON body through undecoded, to
// the service's nodes in round-robin (only those of req.Version when set). A call that
// finds its node gone (NATS "no responders", e.g. during a rolling update) is retried on
// another node. Errors are mapped from go-micro's codes (see callError).
func (b *Bus) Call(ctx context.Context, req platform.CallRequest) ([]byte, error) {
	nc, err := b.nsClient(req.Namespace)
	if err != nil {
		return nil, err
	}
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	r := nc.client.NewRequest(req.Service, req.Endpoint, &bytes.Frame{Data: req.Body},
		client.WithContentType("application/json"))
	var opts []client.CallOption
	if req.Timeout > 0 {
		opts = append(opts, client.WithConnectionTimeout(req.Timeout))
	}
	if req.Version != "" {
		opts = append(opts, client.WithSelectOption(selector.WithFilter(selector.FilterVersion(req.Version))))
	}
	if f := nc.drain.filter(); f != nil {
		opts = append(opts, client.WithSelectOption(selector.WithFilter(f)))
	}
	var rsp bytes.Frame
	if err := nc.client.Call(ctx, r, &rsp, opts...); err != nil {
		return nil, nc.callError(req, err)
	}
	return rsp.Data, nil
}

// retryOnTransportError retries a call only when it never reached a handler: the node's
// subject had no subscriber (the node went away) or no connection could be made.
func retryOnTransportError(_ context.Context, _ client.Request, _ int, err error) (bool, error) {
	return isTransportError(merrors.FromError(err)), nil
}

func isTransportError(e *merrors.Error) bool {
	switch {
	case e == nil:
		return false
	case e.Id == "go.micro.client.transport":
		return strings.Contains(e.Detail, nats.ErrNoResponders.Error())
	case e.Id == "go.micro.client":
		return strings.HasPrefix(e.Detail, "connection error")
	}
	return false
}

// callError maps a go-micro call error to a platform error, keeping the handler's
// detail as the message:
//
//	400 EINVALID, 401 EUNAUTHENTICATED, 403 EFORBIDDEN, 404 ENOTFOUND, 408 ETIMEOUT,
//	409 ECONFLICT, 429 EQUOTA, 502/503 EUNAVAILABLE, anything else EINTERNAL.
//
// go-micro reports an unknown service, an unknown endpoint and an unreachable node as
// 500s, told apart by their text, which become ENOTFOUND, ENOTFOUND and EUNAVAILABLE.
func (c *nsClient) callError(req platform.CallRequest, err error) error {
	e := merrors.FromError(err)
	if e == nil {
		return platform.Errorf(platform.EINTERNAL, "call %s %s: %v", req.Service, req.Endpoint, err)
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
		if strings.HasPrefix(e.Id, "go.micro.client") {
			return platform.Errorf(platform.ETIMEOUT, "call to %s %s timed out", req.Service, req.Endpoint)
		}
		return platform.Errorf(platform.ETIMEOUT, "%s", msg)
	case 409:
		return platform.Errorf(platform.ECONFLICT, "%s", msg)
	case 429:
		return platform.Errorf(platform.EQUOTA, "%s", msg)
	case 502, 503:
		return platform.Errorf(platform.EUNAVAILABLE, "%s", msg)
	}
	switch {
	case strings.HasPrefix(msg, "rpc: can't find service"), strings.HasPrefix(msg, "rpc: can't find method"):
		return platform.Errorf(platform.ENOTFOUND, "service %q has no endpoint %q", req.Service, req.Endpoint)
	case e.Id == "go.micro.client" && (strings.Contains(msg, selector.ErrNotFound.Error()) ||
		strings.Contains(msg, selector.ErrNoneAvailable.Error())):
		if req.Version != "" {
			return platform.Errorf(platform.ENOTFOUND, "service %q has no node of version %q in namespace %q", req.Service, req.Version, req.Namespace)
		}
		return platform.Errorf(platform.ENOTFOUND, "service %q not found in namespace %q", req.Service, req.Namespace)
	case isTransportError(e) || e.Id == "go.micro.client.transport":
		return platform.Errorf(platform.EUNAVAILABLE, "service %q unreachable: %s", req.Service, msg)
	}
	return platform.Errorf(platform.EINTERNAL, "%s", msg)
}

// Health calls the node's Debug.Health endpoint through the namespace's transport when
// its service registered one; otherwise a node that is registered counts as healthy.
// ENOTFOUND when the node is not registered, EUNAVAILABLE when its check fails.
func (b *Bus) Health(ctx context.Context, ns string, node platform.RegistryNode) error {
	nc, err := b.nsClient(ns)
	if err != nil {
		return err
	}
	rs, err := nc.findNode(node.ID)
	if err != nil {
		return err
	}
	if rs == nil {
		return platform.Errorf(platform.ENOTFOUND, "node %q is not registered in namespace %q", node.ID, ns)
	}
	if !slices.ContainsFunc(rs.Endpoints, func(e platform.Endpoint) bool { return e.Name == HealthEndpoint }) {
		return nil
	}
	addr := node.Address
	for _, n := range rs.Nodes {
		if n.ID == node.ID {
			addr = n.Address
		}
	}
	r := nc.client.NewRequest(rs.Name, HealthEndpoint, &bytes.Frame{Data: []byte("{}")},
		client.WithContentType("application/json"))
	var rsp bytes.Frame
	if err := nc.client.Call(ctx, r, &rsp, client.WithAddress(addr), client.WithRetries(0)); err != nil {
		e := merrors.FromError(err)
		detail := err.Error()
		if e != nil && e.Detail != "" {
			detail = e.Detail
		}
		return platform.Errorf(platform.EUNAVAILABLE, "node %q of service %q is unhealthy: %s", node.ID, rs.Name, detail)
	}
	return nil
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
