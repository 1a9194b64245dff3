package control

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	platform "github.com/micro/platform"
	"github.com/micro/platform/region"
	"github.com/micro/platform/runtimeapi"
	pb "github.com/micro/platform/runtimeapi/runtimev1"
)

// link is one region as the control plane sees it: its agent's client while connected,
// and what it last reported (kept while it is away, so its services show what it ran).
type link struct {
	name string

	// Set while connected; session identifies the connection.
	client  *runtimeapi.AgentClient
	session int64
	cancel  context.CancelFunc
	info    *pb.InfoResponse

	observed     map[string]region.ServiceStatus // service key → last reported
	haveObserved bool
	everSeen     bool      // connected at least once since this process started
	lostAt       time.Time // when it disconnected (zero while connected)
	lostReported bool

	sent    [sha256.Size]byte // digest of the last desired state it acknowledged
	hasSent bool
	applies int64 // desired states sent, for benchmarks and tests
	kick    chan struct{}
}

// links is the set of regions the control plane talks to.
type links struct {
	p *Plane

	mu       sync.Mutex
	byName   map[string]*link
	sessions int64
	gen      int64
}

func newLinks(p *Plane) *links {
	return &links{p: p, byName: map[string]*link{}}
}

// get returns the link of a region, creating an unconnected one.
func (l *links) get(name string) *link {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.getLocked(name)
}

func (l *links) getLocked(name string) *link {
	lk, ok := l.byName[name]
	if !ok {
		lk = &link{name: name, observed: map[string]region.ServiceStatus{}, kick: make(chan struct{}, 1)}
		l.byName[name] = lk
	}
	return lk
}

// client returns the client of a connected region, or nil.
func (l *links) client(name string) *runtimeapi.AgentClient {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lk, ok := l.byName[name]; ok {
		return lk.client
	}
	return nil
}

// connected reports whether region name's agent is connected.
func (l *links) connected(name string) bool { return l.client(name) != nil }

// status is a region's state as the control plane knows it.
type linkStatus struct {
	health   platform.RegionHealth
	info     *pb.InfoResponse
	observed *region.ServiceStatus // of the service asked about, nil if none reported
	reported bool                  // the region reported its state since it connected
}

// status returns region name's health and, for key != "", what it reported of a service.
func (l *links) status(name, key string) linkStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	lk, ok := l.byName[name]
	if !ok {
		return linkStatus{health: platform.RegionWaiting}
	}
	st := linkStatus{info: lk.info, reported: lk.haveObserved}
	switch {
	case lk.client != nil:
		st.health = platform.RegionConnected
	case lk.everSeen:
		st.health = platform.RegionLost
	default:
		st.health = platform.RegionWaiting
	}
	if key != "" {
		if s, ok := lk.observed[key]; ok {
			st.observed = &s
		}
	}
	return st
}

// attach makes client the connection of region name, replacing an earlier one, and runs
// the session until the connection ends (done) or ctx does.
func (l *links) attach(ctx context.Context, name string, client *runtimeapi.AgentClient, done <-chan struct{}) {
	ictx, cancel := runtimeapi.WithTimeout(ctx)
	info, err := client.Info(ictx)
	cancel()
	if err != nil {
		l.p.logger.Warn("region connected but did not say who it is", "region", name, "err", err)
		return
	}
	if info.GetRegion() != name {
		l.p.logger.Warn("region's agent names another region; closing", "region", name, "agent_says", info.GetRegion())
		return
	}
	sctx, scancel := context.WithCancel(ctx)
	l.mu.Lock()
	lk := l.getLocked(name)
	if lk.cancel != nil {
		lk.cancel() // a newer connection wins
	}
	l.sessions++
	session := l.sessions
	returned := lk.lostReported
	lk.client, lk.session, lk.cancel, lk.info = client, session, scancel, info
	lk.everSeen, lk.lostAt, lk.lostReported, lk.hasSent, lk.haveObserved = true, time.Time{}, false, false, false
	l.mu.Unlock()

	l.p.logger.Info("region connected", "region", name, "agent", info.GetAgentVersion(), "runtime", info.GetRuntime())
	if err := l.p.store.TouchRegion(ctx, name, l.p.opts.Clock.Now().UTC(), info.GetAgentVersion()); err != nil && !platform.IsNotFound(err) {
		l.p.logger.Warn("record region seen", "region", name, "err", err)
	}
	if returned {
		l.p.regionEvent(ctx, name, platform.EventRegionReturned, fmt.Sprintf("region %s is connected again; its services are reconciled to the desired state", name))
	}
	go func() {
		select {
		case <-done:
		case <-sctx.Done():
		}
		scancel()
	}()
	go l.send(sctx, lk)
	l.kick() // the other regions learn its gateway
	err = client.Watch(sctx,
		func(o region.Observed) { l.observe(lk, session, o) },
		func(e *platform.Event) { l.p.events.Publish(context.Background(), e) })
	scancel()
	l.detach(lk, session, err)
}

// detach marks the region disconnected, unless a newer session replaced this one.
func (l *links) detach(lk *link, session int64, err error) {
	l.mu.Lock()
	if lk.session != session {
		l.mu.Unlock()
		return
	}
	lk.client, lk.cancel = nil, nil
	lk.lostAt = l.p.opts.Clock.Now()
	lostAt, version := lk.lostAt, lk.info.GetAgentVersion()
	keys := make([]string, 0, len(lk.observed))
	for k := range lk.observed {
		keys = append(keys, k)
	}
	l.mu.Unlock()
	if ctx := l.p.runContext(); ctx == nil || ctx.Err() != nil {
		return // the control plane is stopping: its store may be closed already
	}
	l.p.logger.Warn("region disconnected", "region", lk.name, "err", err)
	if err := l.p.store.TouchRegion(context.Background(), lk.name, lostAt.UTC(), version); err != nil && !platform.IsNotFound(err) {
		l.p.logger.Warn("record region seen", "region", lk.name, "err", err)
	}
	l.kick() // the other regions' gateways stop preferring it
	// Its services show degraded at once; region.lost is recorded by the lost check.
	for _, k := range keys {
		l.p.queue.Add(k)
	}
}

// lostAfter is how long a region may be away before it is reported lost.
const lostAfter = 3 * time.Second

// checkLost records region.lost for regions away longer than lostAfter.
func (l *links) checkLost(ctx context.Context) {
	now := l.p.opts.Clock.Now()
	var lost []string
	l.mu.Lock()
	for _, lk := range l.byName {
		if lk.client == nil && lk.everSeen && !lk.lostReported && now.Sub(lk.lostAt) >= lostAfter {
			lk.lostReported = true
			lost = append(lost, lk.name)
		}
	}
	l.mu.Unlock()
	for _, name := range lost {
		l.p.regionEvent(ctx, name, platform.EventRegionLost, fmt.Sprintf("region %s is lost: its agent has not been connected for %s; its services there show degraded and calls go to their other regions", name, lostAfter))
	}
}

// observe keeps a region's complete observed state and queues the services that changed.
func (l *links) observe(lk *link, session int64, o region.Observed) {
	next := make(map[string]region.ServiceStatus, len(o.Services))
	for _, s := range o.Services {
		next[key(s.Namespace, s.Service)] = s
	}
	l.mu.Lock()
	if lk.session != session {
		l.mu.Unlock()
		return
	}
	prev := lk.observed
	first := !lk.haveObserved
	lk.observed, lk.haveObserved = next, true
	l.mu.Unlock()
	for k, s := range next {
		if p, ok := prev[k]; first || !ok || !sameReport(p, s) {
			l.p.queue.Add(k)
		}
	}
	for k := range prev {
		if _, ok := next[k]; !ok {
			l.p.queue.Add(k)
		}
	}
}

func sameReport(a, b region.ServiceStatus) bool {
	if a.Serving != b.Serving || (a.Rollout == nil) != (b.Rollout == nil) || (a.Rollout != nil && *a.Rollout != *b.Rollout) {
		return false
	}
	return region.SameInstances(a.Instances, b.Instances)
}

// kick tells every region's sender that the desired state may have changed.
func (l *links) kick() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, lk := range l.byName {
		select {
		case lk.kick <- struct{}{}:
		default:
		}
	}
}

// desiredResend is how often a connected region's desired state is recomputed even
// without a change known to this process (another control plane process may have
// written the store).
const desiredResend = 5 * time.Second

// send keeps the region's desired state applied: at once, on every kick and every
// desiredResend, sending it only when it differs from what the region acknowledged.
func (l *links) send(ctx context.Context, lk *link) {
	t := time.NewTicker(desiredResend)
	defer t.Stop()
	for {
		if err := l.sendOnce(ctx, lk); err != nil && ctx.Err() == nil {
			l.p.logger.Warn("send desired state to region", "region", lk.name, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-lk.kick:
		case <-t.C:
		}
	}
}

func (l *links) sendOnce(ctx context.Context, lk *link) error {
	d, err := l.p.desiredFor(ctx, lk.name)
	if err != nil {
		return err
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(runtimeapi.DesiredToProto(d))
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	l.mu.Lock()
	client := lk.client
	same := lk.hasSent && lk.sent == sum
	l.gen++
	d.Generation = l.gen
	l.mu.Unlock()
	if same || client == nil {
		return nil
	}
	actx, cancel := runtimeapi.WithTimeout(ctx)
	defer cancel()
	if err := client.Apply(actx, d); err != nil {
		return err
	}
	l.mu.Lock()
	lk.sent, lk.hasSent = sum, true
	lk.applies++
	l.mu.Unlock()
	return nil
}

// sent returns how many desired states were sent to regions since the start.
func (l *links) sent() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, lk := range l.byName {
		n += lk.applies
	}
	return n
}

// disconnect ends region name's session, if connected; its agent connects again.
func (l *links) disconnect(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lk, ok := l.byName[name]; ok && lk.cancel != nil {
		lk.cancel()
	}
}

// names returns every region the control plane has a link to.
func (l *links) names() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.byName))
	for n := range l.byName {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// reported returns the regions that report service k, with what they report.
func (l *links) reported(k string) map[string]region.ServiceStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]region.ServiceStatus{}
	for name, lk := range l.byName {
		if s, ok := lk.observed[k]; ok {
			out[name] = s
		}
	}
	return out
}
