package runtimeapi

import (
	"context"
	"time"

	"connectrpc.com/connect"

	platform "github.com/micro/platform"
	"github.com/micro/platform/region"
	"github.com/micro/platform/runtime"
	pb "github.com/micro/platform/runtimeapi/runtimev1"
	"github.com/micro/platform/runtimeapi/runtimev1/runtimev1connect"
)

// AgentClient is the control plane's client of one region's AgentService, in the
// platform's own types; every error carries a platform code.
type AgentClient struct {
	region string
	c      runtimev1connect.AgentServiceClient
}

// NewAgentClient returns a client of region's agent at baseURL over hc (a tunnel's
// client, see package tunnel).
func NewAgentClient(region string, hc connect.HTTPClient, baseURL string, opts ...connect.ClientOption) *AgentClient {
	return &AgentClient{region: region, c: runtimev1connect.NewAgentServiceClient(hc, baseURL, opts...)}
}

// Info asks the agent who it is.
func (c *AgentClient) Info(ctx context.Context) (*pb.InfoResponse, error) {
	res, err := c.c.Info(ctx, connect.NewRequest(&pb.InfoRequest{}))
	if err != nil {
		return nil, FromConnect(err)
	}
	return res.Msg, nil
}

// Apply sends the region's complete desired state.
func (c *AgentClient) Apply(ctx context.Context, d region.Desired) error {
	_, err := c.c.Apply(ctx, connect.NewRequest(DesiredToProto(d)))
	return FromConnect(err)
}

// Watch calls observed with the region's complete observed state, first at once and
// then at every change, and event with every event, until the stream or ctx ends.
func (c *AgentClient) Watch(ctx context.Context, observed func(region.Observed), event func(*platform.Event)) error {
	stream, err := c.c.Watch(ctx, connect.NewRequest(&pb.WatchRequest{}))
	if err != nil {
		return FromConnect(err)
	}
	defer stream.Close()
	for stream.Receive() {
		switch k := stream.Msg().GetKind().(type) {
		case *pb.WatchResponse_Observed:
			observed(ObservedFromProto(c.region, k.Observed))
		case *pb.WatchResponse_Event:
			event(EventFromProto(c.region, k.Event))
		}
	}
	if err := stream.Err(); err != nil {
		return FromConnect(err)
	}
	return platform.Errorf(platform.EUNAVAILABLE, "region %s ended its watch", c.region)
}

// Logs streams a service's output in the region; the channel closes at the end of the
// stream (or of ctx). Entries carry the region.
func (c *AgentClient) Logs(ctx context.Context, q platform.LogQuery) (<-chan platform.LogEntry, error) {
	stream, err := c.c.Logs(ctx, connect.NewRequest(&pb.LogsRequest{Namespace: q.Namespace, Service: q.Service, Tail: int32(q.Tail), Follow: q.Follow}))
	if err != nil {
		return nil, FromConnect(err)
	}
	out := make(chan platform.LogEntry, logBatch)
	go func() {
		defer close(out)
		defer stream.Close()
		for stream.Receive() {
			for _, e := range stream.Msg().GetEntries() {
				select {
				case out <- platform.LogEntry{
					Time: fromTS(e.GetTime()), Namespace: q.Namespace, Service: q.Service, Region: c.region,
					InstanceID: e.GetInstance(), Stream: platform.LogStream(e.GetStream()), Line: e.GetLine(),
				}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// Call makes one RPC into a namespace from the region.
func (c *AgentClient) Call(ctx context.Context, req platform.CallRequest) ([]byte, error) {
	res, err := c.c.Call(ctx, connect.NewRequest(&pb.CallRequest{
		Namespace: req.Namespace, Service: req.Service, Endpoint: req.Endpoint, Body: req.Body,
		Version: req.Version, TimeoutMillis: req.Timeout.Milliseconds(), Scoped: req.Scoped, Scopes: req.Scopes,
	}))
	if err != nil {
		return nil, FromConnect(err)
	}
	return res.Msg.GetBody(), nil
}

// Services lists what the region sees registered in ns (ENOTFOUND as the mesh says).
func (c *AgentClient) Services(ctx context.Context, ns, service string) ([]*platform.RegisteredService, error) {
	res, err := c.c.Services(ctx, connect.NewRequest(&pb.ServicesRequest{Namespace: ns, Service: service}))
	if err != nil {
		return nil, FromConnect(err)
	}
	return servicesFromProto(res.Msg.GetServices()), nil
}

// Stats samples a release's instances in the region.
func (c *AgentClient) Stats(ctx context.Context, release string) ([]runtime.InstanceStats, error) {
	res, err := c.c.Stats(ctx, connect.NewRequest(&pb.StatsRequest{Release: release}))
	if err != nil {
		return nil, FromConnect(err)
	}
	out := make([]runtime.InstanceStats, 0, len(res.Msg.GetInstances()))
	for _, s := range res.Msg.GetInstances() {
		out = append(out, runtime.InstanceStats{InstanceID: s.GetInstance(), CPUPercent: s.GetCpuPercent(), MemoryBytes: s.GetMemoryBytes(), Time: fromTS(s.GetTime())})
	}
	return out, nil
}

// PrepareNamespace asks whether the region can take namespace ns.
func (c *AgentClient) PrepareNamespace(ctx context.Context, ns string) error {
	_, err := c.c.PrepareNamespace(ctx, connect.NewRequest(&pb.PrepareNamespaceRequest{Namespace: ns}))
	return FromConnect(err)
}

// callTimeout bounds the control plane's short questions to a region.
const callTimeout = 10 * time.Second

// WithTimeout bounds ctx by the timeout of a short question to a region.
func WithTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, callTimeout)
}
