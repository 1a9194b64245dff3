package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

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

// call picks nodes of req.Service round-robin from the watch-updated registry cache (by
// the service's split first, for a call that names no version: see Bus.SplitCalls) and
// makes the request, moving on to the next node when one is gone. A node that is gone,
// or lets the call time out, is suspect for SuspectTTL (calls try it only after every
// other node) and makes the cache ask the registry again: a node that deregistered, or
// whose region can no longer be reached, does not answer the registry and is dropped.
// Errors are platform errors.
func (c *nsClient) call(ctx context.Context, req platform.CallRequest) ([]byte, error) {
	var sp *split
	var versionOf map[*registry.Node]string
	if req.Version == "" {
		if sp = c.splits.get(req.Service); sp != nil {
			versionOf = make(map[*registry.Node]string)
		}
	}
	live, suspect, err := c.nodes(req, versionOf)
	if err != nil {
		return nil, err
	}
	var order []*registry.Node
	if sp != nil && len(live) > 0 {
		order = sp.order(live, versionOf)
	} else if len(live) > 0 {
		start := int(c.rr.Add(1) % uint64(len(live)))
		order = append(live[start:len(live):len(live)], live[:start]...)
	}
	order = append(order, suspect...)
	attempts := min(maxAttempts, len(order))
	for i := 0; ; i++ {
		node := order[i]
		out, err := c.request(ctx, node, req.Service, req.Endpoint, req.Body)
		if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
			c.suspect.add(node.Id, time.Now().Add(SuspectTTL))
			c.cache.expire(req.Service)
		}
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
// drained one; the suspect ones apart, to be tried last. ENOTFOUND when there is none.
// With versionOf set, the version of each live node is recorded in it.
func (c *nsClient) nodes(req platform.CallRequest, versionOf map[*registry.Node]string) (live, suspect []*registry.Node, err error) {
	svcs, err := c.cache.getService(req.Service)
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return nil, nil, platform.Errorf(platform.EUNAVAILABLE, "look up service %q: %v", req.Service, err)
	}
	if req.Scoped {
		if err := checkScopes(req, svcs); err != nil {
			return nil, nil, err
		}
	}
	for _, s := range svcs {
		if req.Version != "" && s.Version != req.Version {
			continue
		}
		for _, n := range s.Nodes {
			switch {
			case c.drain.has(n.Id):
			case c.suspect.has(n.Id):
				suspect = append(suspect, n)
			default:
				live = append(live, n)
				if versionOf != nil {
					versionOf[n] = s.Version
				}
			}
		}
	}
	switch {
	case len(live)+len(suspect) > 0:
		return live, suspect, nil
	case len(svcs) == 0:
		return nil, nil, platform.Errorf(platform.ENOTFOUND, "service %q not found in namespace %q", req.Service, req.Namespace)
	case req.Version != "":
		return nil, nil, platform.Errorf(platform.ENOTFOUND, "service %q has no node of version %q in namespace %q", req.Service, req.Version, req.Namespace)
	}
	return nil, nil, platform.Errorf(platform.EUNAVAILABLE, "every node of service %q in namespace %q is draining", req.Service, req.Namespace)
}

// checkScopes refuses a call whose caller holds none of the scopes its endpoint declares
// (go-micro's server.WithEndpointScopes) in any version of the service the call may go
// to.
func checkScopes(req platform.CallRequest, svcs []*registry.Service) error {
	for _, s := range svcs {
		if req.Version != "" && s.Version != req.Version {
			continue
		}
		for _, e := range s.Endpoints {
			if e == nil || e.Name != req.Endpoint {
				continue
			}
			if required := platform.EndpointScopesOf(e.Metadata); !platform.ScopesAllow(req.Scopes, required) {
				return platform.Errorf(platform.EFORBIDDEN, "%s requires scope %s", platform.ToolName(req.Service, req.Endpoint), strings.Join(required, " or ")).
					WithHint("create a token that holds it: `platform tokens create NAME --scopes %s`", required[0])
			}
		}
	}
	return nil
}
