package control

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"

	platform "github.com/micro/platform"
	"github.com/micro/platform/region"
	"github.com/micro/platform/runtime"
	"github.com/micro/platform/runtimeapi"
	pb "github.com/micro/platform/runtimeapi/runtimev1"
	"github.com/micro/platform/runtimeapi/tunnel"
)

// localRegion is the region `platform server` runs in its own process: a region
// Reconciler and its AgentService, reached over the same runtime API as a remote agent,
// through an in-memory connection instead of a dialed one.
type localRegion struct {
	p      *Plane
	rec    *region.Reconciler
	agent  *runtimeapi.Agent
	router *region.Router
}

func (p *Plane) newLocalRegion() (*localRegion, error) {
	l := &localRegion{p: p, router: region.NewRouter(p.opts.LocalRegion)}
	rec, err := region.New(region.Options{
		Name:           p.opts.LocalRegion,
		Driver:         p.opts.Driver,
		Mesh:           p.opts.Mesh,
		Artifacts:      p.localArtifact,
		Notify:         func() { l.agent.Notify() },
		Event:          func(e *platform.Event) { l.agent.Event(e) },
		Logger:         p.logger.With("region", p.opts.LocalRegion),
		Clock:          p.opts.Clock,
		RolloutTimeout: p.opts.RolloutTimeout,
		DrainDelay:     p.opts.DrainDelay,
		ReviveAfter:    p.opts.ReviveAfter,
		MinReady:       p.opts.MinReady,
		StopGrace:      p.opts.StopGrace,
		ResyncInterval: p.opts.ResyncInterval,
		Workers:        p.opts.Workers,
		InstanceEnv:    p.opts.InstanceEnv,
	})
	if err != nil {
		return nil, err
	}
	l.rec = rec
	l.agent = runtimeapi.NewAgent(runtimeapi.AgentOptions{
		Info: &pb.InfoResponse{
			Region: p.opts.LocalRegion, AgentVersion: platform.Version(), Runtime: p.opts.Driver.Name(),
			Isolation: p.opts.Isolation,
		},
		Reconciler: rec,
		Applied:    func(d region.Desired) { l.router.Update(d.Routes, d.RegionGateways) },
		Driver:     p.opts.Driver,
		Mesh:       p.opts.Mesh,
		Logger:     p.logger.With("region", p.opts.LocalRegion),
	})
	return l, nil
}

// Router returns where the in-process region's gateway forwards calls for services that
// run only in other regions; nil without an in-process region.
func (p *Plane) Router() *region.Router {
	if p.local == nil {
		return nil
	}
	return p.local.router
}

// run runs the region and its connection to the plane until ctx ends.
func (l *localRegion) run(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.Handle(l.agent.Handler())
	agentEnd, planeEnd := net.Pipe()
	ta := &tunnel.Agent{Region: l.p.opts.LocalRegion, Handler: mux, Logger: l.p.logger}
	go func() {
		if err := ta.ServeConn(ctx, agentEnd); err != nil && ctx.Err() == nil {
			l.p.logger.Error("in-process region: tunnel ended", "err", err)
		}
	}()
	conn, err := tunnel.NewConn(planeEnd, tunnel.Options{})
	if err != nil {
		return fmt.Errorf("in-process region: %w", err)
	}
	defer conn.Close()
	go l.p.links.attach(ctx, l.p.opts.LocalRegion, runtimeapi.NewAgentClient(l.p.opts.LocalRegion, conn.Client(), tunnel.BaseURL), conn.Done())
	return l.rec.Start(ctx)
}

// localArtifact resolves the artifact reference of a workload of the in-process region:
// it shares the control plane's disk, so a binary is run where the builder left it
// rather than fetched as a copy (remote agents fetch it, see ControlService).
func (p *Plane) localArtifact(ctx context.Context, w *runtime.WorkloadSpec) (string, error) {
	id, ok := strings.CutPrefix(w.Artifact, ArtifactPrefix)
	if !ok {
		return w.Artifact, nil
	}
	r, err := p.store.GetRelease(ctx, id)
	if err != nil {
		return "", fmt.Errorf("artifact of release %s: %w", id, err)
	}
	return r.Artifact, nil
}
