package metering

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/micro/platform"
)

var (
	propertySeeds = flag.Int("metering.seeds", 6, "how many random scenarios TestProperty runs per store")
	propertySeed  = flag.Uint64("metering.seed", 0, "run TestProperty with this seed only (0: seeds 1..metering.seeds)")
)

// TestProperty: for random sequences of usage events with duplicates (re-published
// through a Publisher, re-emitted past JetStream's duplicate window, several in one
// message), redeliveries (the folder's commits fail before or after they are written,
// so it reads again what it had or had not committed) and restarts (of the folder, the
// publisher, the NATS server), the rollups equal the sum of the distinct events.
func TestProperty(t *testing.T) {
	t.Parallel()
	seeds := make([]uint64, 0, *propertySeeds)
	if *propertySeed != 0 {
		seeds = append(seeds, *propertySeed)
	} else {
		for i := range *propertySeeds {
			seeds = append(seeds, uint64(i+1))
		}
	}
	for _, engine := range engines() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			for _, seed := range seeds {
				t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
					runScenario(t, engine, seed)
				})
			}
		})
	}
}

// scenario is the state of one random run.
type scenario struct {
	t     *testing.T
	rng   *rand.Rand
	srv   *natsServer
	store platform.Store
	nc    *nats.Conn

	pool    []platform.UsageEvent // the distinct events of the run
	emitted map[string]bool       // IDs of the pool's events put on the stream
	pub     *Publisher
	pubRun  *running
	fold    *Folder
	foldRun *running
	faults  *faultyStore
	// faultRate is the share of commits that fail; before and after count them.
	faultRate     float64
	before, after counter
	restarts      map[string]int
}

func runScenario(t *testing.T, engine string, seed uint64) {
	sc := &scenario{
		t:        t,
		rng:      rand.New(rand.NewPCG(seed, 0x6d65746572)),
		srv:      startNATS(t, ""),
		store:    openStore(t, engine),
		emitted:  make(map[string]bool),
		restarts: make(map[string]int),
	}
	sc.nc = sc.srv.connect(t)
	sc.faultRate = sc.rng.Float64() * 0.3
	// Distinct events: a few orgs, namespaces, services and regions, every meter, the
	// last three hours and the next one.
	now := time.Now()
	orgs := []string{"o-1", "o-2"}
	services := []string{"", "api", "web"}
	regions := []string{"", "local", "eu"}
	for i := range 200 + sc.rng.IntN(800) {
		org := orgs[sc.rng.IntN(len(orgs))]
		sc.pool = append(sc.pool, platform.UsageEvent{
			ID:        fmt.Sprintf("s%d-e%d", seed, i),
			Org:       org,
			Namespace: org + "-ns" + fmt.Sprint(sc.rng.IntN(2)),
			Service:   services[sc.rng.IntN(len(services))],
			Region:    regions[sc.rng.IntN(len(regions))],
			Meter:     platform.Meters[sc.rng.IntN(len(platform.Meters))],
			Quantity:  sc.rng.Int64N(1000),
			Time:      now.Add(time.Duration(sc.rng.Int64N(int64(4*time.Hour))) - 3*time.Hour),
		})
	}
	sc.startPublisher()
	sc.startFolder()

	steps := 300 + sc.rng.IntN(700)
	for range steps {
		switch r := sc.rng.IntN(1000); {
		case r < 600: // publish an event, maybe again
			sc.publish(sc.pick())
		case r < 750: // re-emit one already emitted, past JetStream's duplicate window
			sc.publishRaw(sc.pickEmitted())
		case r < 850: // a message of several events, duplicates among them
			sc.publishRaw(sc.pick(), sc.pickEmitted(), sc.pick(), sc.pickEmitted())
		case r < 900:
			sc.restartFolder()
		case r < 940:
			sc.restartPublisher()
		case r < 945:
			sc.restartServer()
		default:
			time.Sleep(time.Duration(sc.rng.IntN(3)) * time.Millisecond) // let the folder commit
		}
	}
	mustFlush(t, sc.pub)
	sc.faults.off()
	waitFolded(t, sc.nc, sc.fold, DefaultStreamName)

	var distinct []*platform.UsageEvent
	for i := range sc.pool {
		if sc.emitted[sc.pool[i].ID] {
			distinct = append(distinct, &sc.pool[i])
		}
	}
	wantRollups(t, sc.store, distinct)
	if s := sc.pub.Stats(); s.Dropped() != 0 {
		t.Fatalf("publisher dropped events: %+v", s)
	}
	t.Logf("%d distinct events of a pool of %d after %d steps; restarts %v; %.0f%% of commits failed: %d before and %d after writing",
		len(distinct), len(sc.pool), steps, sc.restarts, 100*sc.faultRate, sc.before.Load(), sc.after.Load())
}

// pick returns a random event of the pool.
func (sc *scenario) pick() platform.UsageEvent { return sc.pool[sc.rng.IntN(len(sc.pool))] }

// pickEmitted returns a random event already emitted, or any when none is.
func (sc *scenario) pickEmitted() platform.UsageEvent {
	for range 20 {
		if e := sc.pick(); sc.emitted[e.ID] {
			return e
		}
	}
	return sc.pick()
}

func (sc *scenario) publish(e platform.UsageEvent) {
	if err := sc.pub.PublishWait(sc.t.Context(), e); err != nil {
		sc.t.Fatal(err)
	}
	sc.emitted[e.ID] = true
}

// publishRaw puts events on the stream as one message with a message ID of its own:
// what a re-emission past JetStream's duplicate window looks like.
func (sc *scenario) publishRaw(events ...platform.UsageEvent) {
	var data []byte
	for i := range events {
		if i > 0 {
			data = append(data, '\n')
		}
		data = appendEvent(data, &events[i])
	}
	js, err := jetstream.New(sc.nc)
	if err != nil {
		sc.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(sc.t.Context(), 30*time.Second)
	defer cancel()
	for {
		_, err = js.Publish(ctx, DefaultSubject+".events", data, jetstream.WithMsgID(fmt.Sprintf("raw-%d", sc.rng.Uint64())))
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(10 * time.Millisecond) // the server restarting
	}
	if err != nil {
		sc.t.Fatal(err)
	}
	for _, e := range events {
		sc.emitted[e.ID] = true
	}
}

func (sc *scenario) startPublisher() {
	sc.pub, sc.pubRun = newPublisher(sc.t, sc.nc, PublisherOptions{MaxBatch: 1 + sc.rng.IntN(16)})
}

func (sc *scenario) restartPublisher() {
	mustFlush(sc.t, sc.pub) // its events were accepted: they must reach the stream first
	sc.pubRun.stop(sc.t)
	sc.startPublisher()
	sc.restarts["publisher"]++
}

func (sc *scenario) startFolder() {
	sc.faults = &faultyStore{MeteringStore: sc.store, rng: rand.New(rand.NewPCG(sc.rng.Uint64(), 1)),
		rate: sc.faultRate, before: &sc.before, after: &sc.after}
	sc.fold, sc.foldRun = newFolder(sc.t, sc.nc, sc.faults, FolderOptions{
		Batch:     1 + sc.rng.IntN(64),
		BatchWait: time.Duration(1+sc.rng.IntN(5)) * time.Millisecond,
		// Pruning all the time, but with a window that keeps every event of the run
		// (the oldest are 3h old): none is late.
		DedupeWindow: 5 * time.Hour,
		PruneEvery:   time.Millisecond,
	})
}

// restartFolder stops the folder at once, whatever it was doing, and starts another.
func (sc *scenario) restartFolder() {
	sc.foldRun.stop(sc.t)
	sc.startFolder()
	sc.restarts["folder"]++
}

// restartServer restarts NATS on the same data; publishers and folders reconnect.
func (sc *scenario) restartServer() {
	mustFlush(sc.t, sc.pub)
	sc.srv.restart(sc.t)
	sc.restarts["nats"]++
}

// faultyStore fails a share of CommitUsage calls: before writing (the commit is lost)
// or after (the commit is written but the folder thinks it failed), as a crash or a
// lost connection would.
type faultyStore struct {
	platform.MeteringStore
	mu            sync.Mutex
	rng           *rand.Rand
	rate          float64
	disabled      bool
	before, after *counter
}

type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) add()      { c.mu.Lock(); c.n++; c.mu.Unlock() }
func (c *counter) Load() int { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

var errInjected = errors.New("injected store failure")

func (s *faultyStore) off() {
	s.mu.Lock()
	s.disabled = true
	s.mu.Unlock()
}

func (s *faultyStore) CommitUsage(ctx context.Context, c *platform.UsageCommit) (platform.UsageCommitResult, error) {
	s.mu.Lock()
	fail := !s.disabled && s.rng.Float64() < s.rate
	afterwards := s.rng.IntN(2) == 0
	s.mu.Unlock()
	if fail && !afterwards {
		s.before.add()
		return platform.UsageCommitResult{}, errInjected
	}
	res, err := s.MeteringStore.CommitUsage(ctx, c)
	if fail && err == nil {
		s.after.add()
		return platform.UsageCommitResult{}, errInjected
	}
	return res, err
}
