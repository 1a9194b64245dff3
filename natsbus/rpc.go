package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/nats-io/nats.go"
	merrors "go-micro.dev/v5/errors"
	"go-micro.dev/v5/registry"
	"go-micro.dev/v5/transport"
	"go-micro.dev/v5/transport/headers"

	"github.com/micro/platform"
)

// maxAttempts bounds how many nodes one Call tries when nodes turn out to be gone.
const maxAttempts = 3

// request sends one go-micro RPC to node over the namespace's NATS connection, speaking
// the wire protocol of go-micro's NATS transport (a JSON transport.Message published to
// the node's subject) with "Connection: close", so the server releases its per-caller
// socket once it has answered. Unlike go-micro's client, which dials a connection and an
// inbox subscription per pooled socket, every call shares one connection and nats.go's
// multiplexed reply inbox. It returns the response body, or the handler's error as
// go-micro encodes it, or a NATS error (nats.ErrNoResponders when nothing listens on the
// node's subject any more).
//
// The request carries no "Timeout" header: go-micro v5.30.0's server cancels the
// handler's context as soon as it has read a "Connection: close" request when a timeout
// is set (its cancel is deferred inside the serving loop), which would break handlers
// that call other services. The deadline is enforced here, on the caller's side.
func (c *nsClient) request(ctx context.Context, node *registry.Node, service, endpoint string, body []byte) ([]byte, error) {
	data, err := json.Marshal(&transport.Message{
		Header: map[string]string{
			"Content-Type":   "application/json",
			"Accept":         "application/json",
			"Connection":     "close",
			headers.ID:       strconv.FormatUint(c.seq.Add(1), 10),
			headers.Request:  service,
			headers.Method:   endpoint,
			headers.Endpoint: endpoint,
		},
		Body: body,
	})
	if err != nil {
		return nil, err
	}
	msg, err := c.conn.RequestWithContext(ctx, node.Address, data)
	if err != nil {
		return nil, err
	}
	var rsp transport.Message
	if err := json.Unmarshal(msg.Data, &rsp); err != nil {
		return nil, merrors.InternalServerError("natsbus", "decode response of %s: %v", service, err)
	}
	if e := rsp.Header[headers.Error]; e != "" {
		return nil, merrors.Parse(e)
	}
	return rsp.Body, nil
}

// call picks nodes of req.Service round-robin from the watch-updated registry cache and
// makes the request, moving on to the next node when one is gone. Errors are platform
// errors.
func (c *nsClient) call(ctx context.Context, req platform.CallRequest) ([]byte, error) {
	nodes, err := c.nodes(req)
	if err != nil {
		return nil, err
	}
	start := int(c.rr.Add(1) % uint64(len(nodes)))
	attempts := min(maxAttempts, len(nodes))
	for i := 0; ; i++ {
		out, err := c.request(ctx, nodes[(start+i)%len(nodes)], req.Service, req.Endpoint, req.Body)
		if errors.Is(err, nats.ErrNoResponders) && i+1 < attempts {
			continue
		}
		if err != nil {
			return nil, c.callError(req, err)
		}
		return out, nil
	}
}

// nodes returns the nodes a call may go to: those of req.Version when set, never a
// drained one. ENOTFOUND when there is none.
func (c *nsClient) nodes(req platform.CallRequest) ([]*registry.Node, error) {
	svcs, err := c.cache.getService(req.Service)
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return nil, platform.Errorf(platform.EUNAVAILABLE, "look up service %q: %v", req.Service, err)
	}
	var nodes []*registry.Node
	for _, s := range svcs {
		if req.Version != "" && s.Version != req.Version {
			continue
		}
		for _, n := range s.Nodes {
			if !c.drain.has(n.Id) {
				nodes = append(nodes, n)
			}
		}
	}
	switch {
	case len(nodes) > 0:
		return nodes, nil
	case len(svcs) == 0:
		return nil, platform.Errorf(platform.ENOTFOUND, "service %q not found in namespace %q", req.Service, req.Namespace)
	case req.Version != "":
		return nil, platform.Errorf(platform.ENOTFOUND, "service %q has no node of version %q in namespace %q", req.Service, req.Version, req.Namespace)
	}
	return nil, platform.Errorf(platform.EUNAVAILABLE, "every node of service %q in namespace %q is draining", req.Service, req.Namespace)
}
