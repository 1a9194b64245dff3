package runtimeapi

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"

	platform "github.com/micro/platform"
	"github.com/micro/platform/region"
	"github.com/micro/platform/runtime"
	pb "github.com/micro/platform/runtimeapi/runtimev1"
	"github.com/micro/platform/runtimeapi/runtimev1/runtimev1connect"
)

// DefaultEventBacklog is how many events an agent keeps while no control plane watches;
// older ones are dropped (and counted in the log).
const DefaultEventBacklog = 4096

// AgentOptions configure the AgentService of one region.
type AgentOptions struct {
	// Info describes the region (name, version, runtime, isolation, gateway, capacity).
	Info       *pb.InfoResponse
	Reconciler *region.Reconciler
	Driver     runtime.Driver
	Mesh       platform.Mesh
	// Applied, if set, is told every desired state applied (e.g. to keep the namespaces'
	// organisations for the region's gateway).
	Applied func(region.Desired)
	// EventBacklog bounds the events kept while nobody watches; 0 means
	// DefaultEventBacklog.
	EventBacklog int
	Logger       *slog.Logger
}

// Agent serves the runtime API of one region: it applies desired states to its
// Reconciler, streams what the region observes and the region's events, and answers the
// control plane's questions (logs, calls, registry, stats) from its driver and mesh.
// Pass Notify and Event as the Reconciler's Options.Notify and Options.Event.
type Agent struct {
	opts AgentOptions
	log  *slog.Logger

	mu       sync.Mutex
	watchers map[*watcher]struct{}
	backlog  []*platform.Event
	dropped  int
}

type watcher struct {
	notify chan struct{}
	events chan *platform.Event
}

var _ runtimev1connect.AgentServiceHandler = (*Agent)(nil)

// NewAgent returns the AgentService of a region.
func NewAgent(opts AgentOptions) *Agent {
	if opts.EventBacklog <= 0 {
		opts.EventBacklog = DefaultEventBacklog
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Agent{opts: opts, log: opts.Logger, watchers: map[*watcher]struct{}{}}
}

// Handler returns the path and handler to mount.
func (a *Agent) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return runtimev1connect.NewAgentServiceHandler(a, opts...)
}

// Notify tells the watchers that the observed state changed.
func (a *Agent) Notify() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for w := range a.watchers {
		select {
		case w.notify <- struct{}{}:
		default:
		}
	}
}

// Event sends e to the watchers, or keeps it until one watches.
func (a *Agent) Event(e *platform.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.watchers) == 0 {
		a.keepLocked(e)
		return
	}
	for w := range a.watchers {
		select {
		case w.events <- e:
		default:
			a.dropped++
		}
	}
}

func (a *Agent) keepLocked(e *platform.Event) {
	if len(a.backlog) >= a.opts.EventBacklog {
		a.backlog = a.backlog[1:]
		a.dropped++
	}
	a.backlog = append(a.backlog, e)
}

func (a *Agent) subscribe() *watcher {
	w := &watcher{notify: make(chan struct{}, 1), events: make(chan *platform.Event, a.opts.EventBacklog)}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range a.backlog {
		w.events <- e
	}
	a.backlog = nil
	if a.dropped > 0 {
		a.log.Warn("events dropped while the control plane was away", "count", a.dropped)
		a.dropped = 0
	}
	a.watchers[w] = struct{}{}
	return w
}

func (a *Agent) unsubscribe(w *watcher) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.watchers, w)
	// Events not yet sent go back to the backlog for the next watcher.
	for {
		select {
		case e := <-w.events:
			a.keepLocked(e)
		default:
			return
		}
	}
}

// Info implements AgentService.
func (a *Agent) Info(context.Context, *connect.Request[pb.InfoRequest]) (*connect.Response[pb.InfoResponse], error) {
	return connect.NewResponse(a.opts.Info), nil
}

// Apply implements AgentService.
func (a *Agent) Apply(ctx context.Context, req *connect.Request[pb.ApplyRequest]) (*connect.Response[pb.ApplyResponse], error) {
	d := DesiredFromProto(req.Msg)
	if err := a.opts.Reconciler.Apply(ctx, d); err != nil {
		return nil, ToConnect(err)
	}
	if a.opts.Applied != nil {
		a.opts.Applied(d)
	}
	return connect.NewResponse(&pb.ApplyResponse{}), nil
}

// watchResend is how often Watch sends the complete observed state even without a
// change, so a control plane that missed one converges.
const watchResend = 30 * time.Second

// Watch implements AgentService.
func (a *Agent) Watch(ctx context.Context, _ *connect.Request[pb.WatchRequest], stream *connect.ServerStream[pb.WatchResponse]) error {
	w := a.subscribe()
	defer a.unsubscribe(w)
	sendObserved := func() error {
		o := ObservedToProto(a.opts.Reconciler.Observed())
		return stream.Send(&pb.WatchResponse{Kind: &pb.WatchResponse_Observed{Observed: o}})
	}
	if err := sendObserved(); err != nil {
		return err
	}
	t := time.NewTicker(watchResend)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.notify:
			if err := sendObserved(); err != nil {
				return err
			}
		case <-t.C:
			if err := sendObserved(); err != nil {
				return err
			}
		case e := <-w.events:
			if err := stream.Send(&pb.WatchResponse{Kind: &pb.WatchResponse_Event{Event: EventToProto(e)}}); err != nil {
				// Not sent: keep it for the next watcher.
				a.mu.Lock()
				a.keepLocked(e)
				a.mu.Unlock()
				return err
			}
		}
	}
}

// logBatch bounds the lines sent in one message of a log stream.
const logBatch = 256

// Logs implements AgentService.
func (a *Agent) Logs(ctx context.Context, req *connect.Request[pb.LogsRequest], stream *connect.ServerStream[pb.LogsResponse]) error {
	q := platform.LogQuery{Namespace: req.Msg.GetNamespace(), Service: req.Msg.GetService(), Tail: int(req.Msg.GetTail()), Follow: req.Msg.GetFollow()}
	ch, err := a.opts.Driver.Logs(ctx, q)
	if err != nil {
		return ToConnect(err)
	}
	for {
		var batch []*pb.LogEntry
		e, ok := <-ch
		if !ok {
			return nil
		}
		batch = append(batch, logToProto(e))
		// Send what is already there in one message.
	more:
		for len(batch) < logBatch {
			select {
			case e, ok := <-ch:
				if !ok {
					break more
				}
				batch = append(batch, logToProto(e))
			default:
				break more
			}
		}
		if err := stream.Send(&pb.LogsResponse{Entries: batch}); err != nil {
			return err
		}
	}
}

func logToProto(e platform.LogEntry) *pb.LogEntry {
	return &pb.LogEntry{Time: ts(e.Time), Instance: e.InstanceID, Stream: string(e.Stream), Line: e.Line}
}

// Call implements AgentService.
func (a *Agent) Call(ctx context.Context, req *connect.Request[pb.CallRequest]) (*connect.Response[pb.CallResponse], error) {
	m := req.Msg
	body, err := a.opts.Mesh.Call(ctx, platform.CallRequest{
		Namespace: m.GetNamespace(), Service: m.GetService(), Endpoint: m.GetEndpoint(), Body: m.GetBody(),
		Version: m.GetVersion(), Timeout: time.Duration(m.GetTimeoutMillis()) * time.Millisecond,
		Scoped: m.GetScoped(), Scopes: m.GetScopes(),
	})
	if err != nil {
		return nil, ToConnect(err)
	}
	return connect.NewResponse(&pb.CallResponse{Body: body}), nil
}

// Services implements AgentService.
func (a *Agent) Services(ctx context.Context, req *connect.Request[pb.ServicesRequest]) (*connect.Response[pb.ServicesResponse], error) {
	list, err := a.opts.Mesh.Services(ctx, req.Msg.GetNamespace(), req.Msg.GetService())
	if err != nil {
		return nil, ToConnect(err)
	}
	return connect.NewResponse(&pb.ServicesResponse{Services: servicesToProto(list)}), nil
}

// Stats implements AgentService.
func (a *Agent) Stats(ctx context.Context, req *connect.Request[pb.StatsRequest]) (*connect.Response[pb.StatsResponse], error) {
	stats, err := a.opts.Driver.Stats(ctx, req.Msg.GetRelease())
	if err != nil {
		return nil, ToConnect(err)
	}
	out := &pb.StatsResponse{}
	for _, s := range stats {
		out.Instances = append(out.Instances, &pb.InstanceStats{Instance: s.InstanceID, CpuPercent: s.CPUPercent, MemoryBytes: s.MemoryBytes, Time: ts(s.Time)})
	}
	return connect.NewResponse(out), nil
}

// namespacePreparer is a mesh that can tell whether it can take a new namespace
// (natsbus.Bus: room for its JetStream data on the disk).
type namespacePreparer interface {
	PrepareNamespace(ctx context.Context, ns string) error
}

// PrepareNamespace implements AgentService.
func (a *Agent) PrepareNamespace(ctx context.Context, req *connect.Request[pb.PrepareNamespaceRequest]) (*connect.Response[pb.PrepareNamespaceResponse], error) {
	if m, ok := a.opts.Mesh.(namespacePreparer); ok {
		if err := m.PrepareNamespace(ctx, req.Msg.GetNamespace()); err != nil {
			return nil, ToConnect(err)
		}
	}
	return connect.NewResponse(&pb.PrepareNamespaceResponse{}), nil
}
