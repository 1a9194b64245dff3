package metering

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/micro/platform"
	"github.com/micro/platform/sqlstore"
)

// crashChildEnv makes the test binary the crash test's child: a process with an
// embedded NATS server, a SQLite store, a publisher and a folder, on the directory
// the variable names (see crashChild).
const crashChildEnv = "METERING_CRASH_CHILD"

// crashEvents is how many events the crash test's child publishes.
const crashEvents = 100_000

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	os.Exit(m.Run())
}

// crashEvent is event i of the crash test: deterministic, as emitters' events are, so
// that a child started again emits the same events with the same IDs. hour is the hour
// of the run (the parent's), so that no event is late.
func crashEvent(i int, hour time.Time) platform.UsageEvent {
	return platform.UsageEvent{
		ID:        "crash/" + strconv.Itoa(i),
		Org:       "o-" + strconv.Itoa(i%3),
		Namespace: "ns-" + strconv.Itoa(i%5),
		Service:   "svc-" + strconv.Itoa(i%7),
		Region:    "local",
		Meter:     platform.Meters[i%len(platform.Meters)],
		Quantity:  int64(i%1000 + 1),
		Time:      hour.Add(time.Duration(i%3600) * time.Second),
	}
}

// crashChild runs one life of the crash test's child on dir: it starts NATS on
// dir/nats, opens the store dir/store.db, starts a folder, and publishes all
// crashEvents events (an emitter that cannot tell which of its events reached the
// stream before it died emits them all again, with the same IDs). It reports its
// progress on stdout ("published N", "folded POSITION COUNTED DUPLICATES PERMILLE", the
// last the share of the total the store holds, in thousandths) until the store holds
// every event, then prints "done" and exits 0. The parent kills it with SIGKILL
// whenever it likes.
func crashChild(dir string) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 1
	}
	hourUnix, err := strconv.ParseInt(os.Getenv("METERING_CRASH_HOUR"), 10, 64)
	if err != nil {
		return fail(err)
	}
	hour := time.Unix(hourUnix, 0).UTC()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: filepath.Join(dir, "nats"), NoSigs: true, NoLog: true})
	if err != nil {
		return fail(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		return fail(fmt.Errorf("nats not ready"))
	}
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, filepath.Join(dir, "store.db"))
	if err != nil {
		return fail(err)
	}
	connect := func() (*nats.Conn, error) { return nats.Connect(srv.ClientURL()) }
	pnc, err := connect()
	if err != nil {
		return fail(err)
	}
	fnc, err := connect()
	if err != nil {
		return fail(err)
	}
	// A duplicate window shorter than a restart: the events published again after a
	// kill reach the stream again, and only the store tells them apart.
	stream := StreamOptions{DuplicateWindow: 100 * time.Millisecond}
	p, err := NewPublisher(pnc, PublisherOptions{Stream: stream})
	if err != nil {
		return fail(err)
	}
	f, err := NewFolder(fnc, store, FolderOptions{Stream: stream, Batch: 2000, BatchWait: 5 * time.Millisecond})
	if err != nil {
		return fail(err)
	}
	go p.Start(ctx)
	go f.Start(ctx)

	var want int64
	for i := range crashEvents {
		want += crashEvent(i, hour).Quantity
	}
	go func() {
		for i := range crashEvents {
			if err := p.PublishWait(ctx, crashEvent(i, hour)); err != nil {
				fmt.Fprintln(os.Stderr, "crash child:", err)
				os.Exit(1)
			}
			if (i+1)%5000 == 0 {
				fmt.Println("published", i+1)
			}
		}
	}()
	for {
		time.Sleep(5 * time.Millisecond)
		s := f.Stats()
		rollups, err := store.ListUsageRollups(ctx, platform.UsageRollupFilter{})
		if err != nil {
			return fail(err)
		}
		var got int64
		for _, r := range rollups {
			got += r.Quantity
		}
		fmt.Println("folded", s.Position, s.Counted, s.Duplicates, got*1000/want)
		if got > want {
			return fail(fmt.Errorf("the store counts %d, more than the %d of every event", got, want))
		}
		if got == want {
			fmt.Println("done")
			return 0
		}
	}
}

// TestCrash: a process publishing and folding 100,000 events is killed with SIGKILL at
// random points (while it publishes, while it folds, right after it started), started
// again each time (publishing every event again), and the totals are exact: every
// rollup is the sum of the distinct events, nothing lost, nothing twice.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("runs NATS and SQLite in child processes")
	}
	t.Parallel()
	dir := t.TempDir()
	hour := testHour()
	seed := *propertySeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d (-metering.seed to run it again)", seed)

	// Kill points: after a number of events published, once the store holds a share
	// of the total (in thousandths), a delay after the first progress line; then a
	// life that runs to the end.
	type killAt struct {
		what string
		n    int
	}
	kills := []killAt{
		{"published", 10_000 + rng.IntN(60_000)},
		{"stored", 50 + rng.IntN(300)},
		{"after", rng.IntN(150)},
		{"published", 5_000 + rng.IntN(90_000)},
		{"stored", 400 + rng.IntN(500)},
		{"after", rng.IntN(150)},
	}
	for i, k := range kills {
		done, last := runCrashChild(t, dir, hour, func(line string) bool {
			f := strings.Fields(line)
			switch {
			case k.what == "published" && f[0] == "published":
				n, _ := strconv.Atoi(f[1])
				return n >= k.n
			case k.what == "stored" && f[0] == "folded":
				n, _ := strconv.Atoi(f[4])
				return n >= k.n
			}
			return false
		}, time.Duration(k.n)*time.Millisecond, k.what == "after")
		t.Logf("life %d: killed at %s %d (finished: %v); its last report: %s", i+1, k.what, k.n, done, last)
	}
	done, last := runCrashChild(t, dir, hour, nil, 0, false)
	if !done {
		t.Fatal("the last life did not finish")
	}
	t.Logf("life %d ran to the end; its last report: %s", len(kills)+1, last)

	store, err := sqlstore.Open(t.Context(), filepath.Join(dir, "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	events := make([]*platform.UsageEvent, crashEvents)
	for i := range events {
		e := crashEvent(i, hour)
		events[i] = &e
	}
	wantRollups(t, store, events)
}

// runCrashChild runs a child on dir until it prints "done" (true) or until kill
// returns true for a line of its output, or, with afterFirst, delay after its first
// line: then it kills the child with SIGKILL (false). It returns the last progress
// reports the child printed.
func runCrashChild(t *testing.T, dir string, hour time.Time, kill func(line string) bool, delay time.Duration, afterFirst bool) (bool, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, "METERING_CRASH_HOUR="+strconv.FormatInt(hour.Unix(), 10))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var killed atomic.Bool
	killNow := func() {
		if killed.CompareAndSwap(false, true) {
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	timeout := time.AfterFunc(5*time.Minute, func() {
		t.Errorf("child still running after 5 minutes: killed")
		killNow()
	})
	defer timeout.Stop()
	var timer *time.Timer
	done := false
	sc := bufio.NewScanner(out)
	var lastPublished, lastFolded string
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "published") {
			lastPublished = line
		} else if strings.HasPrefix(line, "folded") {
			lastFolded = line
		}
		switch {
		case line == "done":
			done = true
		case killed.Load():
		case afterFirst && timer == nil:
			timer = time.AfterFunc(delay, killNow)
		case kill != nil && kill(line):
			killNow()
		}
	}
	err = cmd.Wait()
	if timer != nil {
		timer.Stop()
	}
	last := fmt.Sprintf("%q, %q", lastPublished, lastFolded)
	switch {
	case done && err == nil:
		return true, last
	case killed.Load():
		return false, last
	default:
		t.Fatalf("child exited: %v", err)
		return false, last
	}
}
