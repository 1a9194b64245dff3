package runtimeapi

import (
	"errors"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	platform "github.com/micro/platform"
	"github.com/micro/platform/region"
	"github.com/micro/platform/runtime"
	pb "github.com/micro/platform/runtimeapi/runtimev1"
)

// Error metadata: the platform's own code and hint travel beside connect's code, so an
// error keeps both across the API.
const (
	headerCode = "Micro-Error-Code"
	headerHint = "Micro-Error-Hint"
)

var connectCodes = map[string]connect.Code{
	platform.EINVALID:         connect.CodeInvalidArgument,
	platform.ENOTFOUND:        connect.CodeNotFound,
	platform.ECONFLICT:        connect.CodeAlreadyExists,
	platform.EUNAUTHENTICATED: connect.CodeUnauthenticated,
	platform.EFORBIDDEN:       connect.CodePermissionDenied,
	platform.EQUOTA:           connect.CodeResourceExhausted,
	platform.EUNAVAILABLE:     connect.CodeUnavailable,
	platform.ETIMEOUT:         connect.CodeDeadlineExceeded,
	platform.EINTERNAL:        connect.CodeInternal,
}

// ToConnect turns an error into a connect error carrying the platform's code and hint.
func ToConnect(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return err
	}
	code := platform.ErrorCode(err)
	cc, ok := connectCodes[code]
	if !ok {
		cc = connect.CodeUnknown
	}
	out := connect.NewError(cc, errors.New(platform.ErrorMessage(err)))
	out.Meta().Set(headerCode, code)
	if h := platform.ErrorHint(err); h != "" {
		out.Meta().Set(headerHint, h)
	}
	return out
}

// FromConnect turns an error of a call over the API back into a platform error: the
// code and hint the other side sent, or one mapped from connect's code (a transport
// failure is EUNAVAILABLE).
func FromConnect(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return platform.Errorf(platform.EUNAVAILABLE, "region unreachable: %v", err)
	}
	code := ce.Meta().Get(headerCode)
	if code == "" {
		code = platform.EUNAVAILABLE
		for c, cc := range connectCodes {
			if cc == ce.Code() && c != platform.EINTERNAL {
				code = c
			}
		}
		if ce.Code() == connect.CodeInternal || ce.Code() == connect.CodeUnknown {
			code = platform.EINTERNAL
		}
	}
	out := platform.Errorf(code, "%s", ce.Message())
	if h := ce.Meta().Get(headerHint); h != "" {
		out = out.WithHint("%s", h)
	}
	return out
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func fromTS(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime().UTC()
}

// DesiredToProto encodes a region's desired state.
func DesiredToProto(d region.Desired) *pb.ApplyRequest {
	out := &pb.ApplyRequest{Generation: d.Generation, Namespaces: d.Namespaces, NamespaceOrgs: d.NamespaceOrgs, RegionGateways: d.RegionGateways}
	for _, r := range d.Routes {
		out.Routes = append(out.Routes, &pb.Route{Namespace: r.Namespace, Service: r.Service, Regions: r.Regions})
	}
	for _, s := range d.Services {
		out.Services = append(out.Services, &pb.ServiceSpec{
			Namespace: s.Namespace, Service: s.Service,
			Current: workloadToProto(s.Current), Next: workloadToProto(s.Next), Canary: int32(s.Canary), Dev: s.Dev,
		})
	}
	return out
}

// DesiredFromProto decodes a region's desired state.
func DesiredFromProto(in *pb.ApplyRequest) region.Desired {
	d := region.Desired{Generation: in.GetGeneration(), Namespaces: in.GetNamespaces(), NamespaceOrgs: in.GetNamespaceOrgs(), RegionGateways: in.GetRegionGateways()}
	for _, r := range in.GetRoutes() {
		d.Routes = append(d.Routes, region.Route{Namespace: r.GetNamespace(), Service: r.GetService(), Regions: r.GetRegions()})
	}
	for _, s := range in.GetServices() {
		d.Services = append(d.Services, region.ServiceSpec{
			Namespace: s.GetNamespace(), Service: s.GetService(),
			Current: workloadFromProto(s.GetCurrent()), Next: workloadFromProto(s.GetNext()), Canary: int(s.GetCanary()), Dev: s.GetDev(),
		})
	}
	return d
}

func workloadToProto(w *runtime.WorkloadSpec) *pb.Workload {
	if w == nil {
		return nil
	}
	return &pb.Workload{
		Id: w.ID, Namespace: w.Namespace, Service: w.Service, Version: w.Version,
		Artifact: w.Artifact, Replicas: int32(w.Replicas), Env: w.Env,
		CpuMillis: w.Resources.CPUMillis, MemoryBytes: w.Resources.MemoryBytes,
	}
}

func workloadFromProto(w *pb.Workload) *runtime.WorkloadSpec {
	if w == nil {
		return nil
	}
	env := w.GetEnv()
	if env == nil {
		env = map[string]string{}
	}
	return &runtime.WorkloadSpec{
		ID: w.GetId(), Namespace: w.GetNamespace(), Service: w.GetService(), Version: w.GetVersion(),
		Artifact: w.GetArtifact(), Replicas: int(w.GetReplicas()), Env: env,
		Resources: runtime.Resources{CPUMillis: w.GetCpuMillis(), MemoryBytes: w.GetMemoryBytes()},
	}
}

// ObservedToProto encodes a region's observed state.
func ObservedToProto(o region.Observed) *pb.Observed {
	out := &pb.Observed{Generation: o.Generation}
	for _, s := range o.Services {
		ps := &pb.ServiceStatus{Namespace: s.Namespace, Service: s.Service, Serving: s.Serving}
		if s.Rollout != nil {
			ps.Rollout = &pb.Rollout{Release: s.Rollout.Release, State: string(s.Rollout.State), Reason: s.Rollout.Reason}
		}
		for _, i := range s.Instances {
			ps.Instances = append(ps.Instances, &pb.Instance{
				Id: i.ID, Release: i.ReleaseID, Version: i.Version, State: string(i.State),
				Restarts: int32(i.Restarts), ExitCode: int32(i.ExitCode), Message: i.Message, StartedAt: ts(i.StartedAt),
			})
		}
		out.Services = append(out.Services, ps)
	}
	return out
}

// ObservedFromProto decodes the observed state of region name.
func ObservedFromProto(name string, in *pb.Observed) region.Observed {
	o := region.Observed{Generation: in.GetGeneration()}
	for _, s := range in.GetServices() {
		st := region.ServiceStatus{Namespace: s.GetNamespace(), Service: s.GetService(), Serving: s.GetServing()}
		if r := s.GetRollout(); r != nil {
			st.Rollout = &region.Rollout{Release: r.GetRelease(), State: region.RolloutState(r.GetState()), Reason: r.GetReason()}
		}
		for _, i := range s.GetInstances() {
			st.Instances = append(st.Instances, &platform.Instance{
				ID: i.GetId(), Region: name, Namespace: st.Namespace, Service: st.Service,
				ReleaseID: i.GetRelease(), Version: i.GetVersion(), State: platform.InstanceState(i.GetState()),
				Restarts: int(i.GetRestarts()), ExitCode: int(i.GetExitCode()), Message: i.GetMessage(),
				StartedAt: fromTS(i.GetStartedAt()),
			})
		}
		o.Services = append(o.Services, st)
	}
	return o
}

// EventToProto encodes an event of a region.
func EventToProto(e *platform.Event) *pb.Event {
	return &pb.Event{Namespace: e.Namespace, Service: e.Service, Type: e.Type, Message: e.Message, Data: e.Data, Time: ts(e.Time)}
}

// EventFromProto decodes an event of region name.
func EventFromProto(name string, e *pb.Event) *platform.Event {
	return &platform.Event{
		Namespace: e.GetNamespace(), Service: e.GetService(), Region: name, Type: e.GetType(),
		Message: e.GetMessage(), Data: e.GetData(), Time: fromTS(e.GetTime()),
	}
}

func servicesToProto(list []*platform.RegisteredService) []*pb.RegisteredService {
	out := make([]*pb.RegisteredService, 0, len(list))
	for _, s := range list {
		ps := &pb.RegisteredService{Name: s.Name}
		for _, n := range s.Nodes {
			ps.Nodes = append(ps.Nodes, &pb.RegistryNode{Id: n.ID, Version: n.Version, Address: n.Address, Metadata: n.Metadata})
		}
		for _, e := range s.Endpoints {
			ps.Endpoints = append(ps.Endpoints, &pb.Endpoint{
				Name: e.Name, Metadata: e.Metadata, Request: valueToProto(e.Request), Response: valueToProto(e.Response),
			})
		}
		out = append(out, ps)
	}
	return out
}

func servicesFromProto(list []*pb.RegisteredService) []*platform.RegisteredService {
	out := make([]*platform.RegisteredService, 0, len(list))
	for _, s := range list {
		rs := &platform.RegisteredService{Name: s.GetName(), Nodes: []platform.RegistryNode{}, Endpoints: []platform.Endpoint{}}
		for _, n := range s.GetNodes() {
			rs.Nodes = append(rs.Nodes, platform.RegistryNode{ID: n.GetId(), Version: n.GetVersion(), Address: n.GetAddress(), Metadata: n.GetMetadata()})
		}
		for _, e := range s.GetEndpoints() {
			rs.Endpoints = append(rs.Endpoints, platform.Endpoint{
				Name: e.GetName(), Metadata: e.GetMetadata(),
				Request:  platform.ConvertValue(e.GetRequest(), protoValueFields),
				Response: platform.ConvertValue(e.GetResponse(), protoValueFields),
			})
		}
		out = append(out, rs)
	}
	return out
}

// valueToProto encodes the shape of an endpoint's message; nil stays nil.
func valueToProto(v *platform.Value) *pb.Value {
	if v == nil {
		return nil
	}
	out := &pb.Value{Name: v.Name, Type: v.Type}
	for _, c := range v.Values {
		if c != nil {
			out.Values = append(out.Values, valueToProto(c))
		}
	}
	return out
}

// protoValueFields lets platform.ConvertValue decode a shape, cutting it to the
// platform's bounds again: the agent did, but its answer is not trusted to have.
func protoValueFields(v *pb.Value) (name, typ string, values []*pb.Value) {
	return v.GetName(), v.GetType(), v.GetValues()
}

// TokenToProto encodes what a region's gateway needs of a token.
func TokenToProto(t *platform.Token) *pb.Token {
	out := &pb.Token{
		Id: t.ID, Org: t.Org, Role: string(t.Role), Admin: t.Admin, Namespaces: t.Namespaces,
		MemberRole: string(t.MemberRole), User: t.User, Kind: string(t.Kind),
		Scopes: t.Scopes, Tools: t.Tools,
	}
	if t.ExpiresAt != nil {
		out.ExpiresAt = timestamppb.New(*t.ExpiresAt)
	}
	return out
}

// TokenFromProto decodes a token sent to a region.
func TokenFromProto(t *pb.Token) *platform.Token {
	out := &platform.Token{
		ID: t.GetId(), Org: t.GetOrg(), Role: platform.Role(t.GetRole()), Admin: t.GetAdmin(),
		Namespaces: t.GetNamespaces(), MemberRole: platform.Role(t.GetMemberRole()), User: t.GetUser(),
		Kind: platform.TokenKind(t.GetKind()), Scopes: t.GetScopes(), Tools: t.GetTools(),
	}
	if t.GetExpiresAt() != nil {
		e := t.GetExpiresAt().AsTime()
		out.ExpiresAt = &e
	}
	return out
}

// UsageToProto encodes usage records.
func UsageToProto(records []*platform.RequestUsage) *pb.RecordUsageRequest {
	out := &pb.RecordUsageRequest{}
	for _, u := range records {
		out.Usage = append(out.Usage, &pb.RequestUsage{
			Namespace: u.Namespace, Service: u.Service, Minute: ts(u.Minute), Requests: u.Requests,
			Errors: u.Errors, ClientErrors: u.ClientErrors, LatencyMicros: u.LatencyMicros, MaxLatencyMicros: u.MaxLatencyMicros,
			LatencyBuckets: u.LatencyBuckets,
		})
	}
	return out
}

// UsageFromProto decodes usage records.
func UsageFromProto(in *pb.RecordUsageRequest) []*platform.RequestUsage {
	out := make([]*platform.RequestUsage, 0, len(in.GetUsage()))
	for _, u := range in.GetUsage() {
		out = append(out, &platform.RequestUsage{
			Namespace: u.GetNamespace(), Service: u.GetService(), Minute: fromTS(u.GetMinute()), Requests: u.GetRequests(),
			Errors: u.GetErrors(), ClientErrors: u.GetClientErrors(), LatencyMicros: u.GetLatencyMicros(), MaxLatencyMicros: u.GetMaxLatencyMicros(),
			LatencyBuckets: u.GetLatencyBuckets(),
		})
	}
	return out
}

// UsageEventsToProto encodes usage events.
func UsageEventsToProto(events []platform.UsageEvent) *pb.RecordUsageEventsRequest {
	out := &pb.RecordUsageEventsRequest{Events: make([]*pb.UsageEvent, 0, len(events))}
	for _, e := range events {
		out.Events = append(out.Events, &pb.UsageEvent{
			Id: e.ID, Org: e.Org, Namespace: e.Namespace, Service: e.Service, Region: e.Region,
			Meter: string(e.Meter), Quantity: e.Quantity, Time: ts(e.Time),
		})
	}
	return out
}

// UsageEventsFromProto decodes usage events.
func UsageEventsFromProto(in *pb.RecordUsageEventsRequest) []platform.UsageEvent {
	out := make([]platform.UsageEvent, 0, len(in.GetEvents()))
	for _, e := range in.GetEvents() {
		out = append(out, platform.UsageEvent{
			ID: e.GetId(), Org: e.GetOrg(), Namespace: e.GetNamespace(), Service: e.GetService(), Region: e.GetRegion(),
			Meter: platform.Meter(e.GetMeter()), Quantity: e.GetQuantity(), Time: fromTS(e.GetTime()),
		})
	}
	return out
}
