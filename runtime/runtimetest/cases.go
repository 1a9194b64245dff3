package runtimetest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime"
)

func testReplicas(t *testing.T, s *suite) {
	d := s.driver(t)
	spec := s.spec(t, Serve, "replicas", 3)
	if err := d.Start(t.Context(), spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	st := s.waitRunning(t, d, spec.ID, 3)
	first := ids(st)
	if len(slices.Compact(slices.Clone(first))) != 3 {
		t.Fatalf("instance ids not distinct: %v", first)
	}
	pids := s.pids(t, d, st)

	t.Run("start again changes nothing", func(t *testing.T) {
		if err := d.Start(t.Context(), spec); err != nil {
			t.Fatalf("Start again: %v", err)
		}
		st := s.waitRunning(t, d, spec.ID, 3)
		if got := ids(st); !slices.Equal(got, first) {
			t.Fatalf("instances after repeated Start = %v, want %v", got, first)
		}
		if got := s.pids(t, d, st); !mapsEqual(got, pids) {
			t.Fatalf("pids after repeated Start = %v, want %v", got, pids)
		}
	})
	t.Run("scale up keeps instances", func(t *testing.T) {
		spec.Replicas = 5
		if err := d.Start(t.Context(), spec); err != nil {
			t.Fatalf("Start: %v", err)
		}
		got := ids(s.waitRunning(t, d, spec.ID, 5))
		for _, id := range first {
			if !slices.Contains(got, id) {
				t.Fatalf("instance %s replaced on scale up: %v", id, got)
			}
		}
	})
	t.Run("scale down stops processes", func(t *testing.T) {
		before := s.pids(t, d, s.waitRunning(t, d, spec.ID, 5))
		spec.Replicas = 1
		if err := d.Start(t.Context(), spec); err != nil {
			t.Fatalf("Start: %v", err)
		}
		st := s.waitRunning(t, d, spec.ID, 1)
		var gone []int
		for id, pid := range before {
			if id != st.Instances[0].ID {
				gone = append(gone, pid)
			}
		}
		s.waitDead(t, gone...)
		if got := st.Spec.Replicas; got != 1 {
			t.Fatalf("Spec.Replicas = %d, want 1", got)
		}
	})
}

func countOf(lines []string, want string) int {
	n := 0
	for _, l := range lines {
		if l == want {
			n++
		}
	}
	return n
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func testStop(t *testing.T, s *suite) {
	d := s.driver(t)
	spec := s.spec(t, Serve, "stop", 2)
	if err := d.Start(t.Context(), spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	st := s.waitRunning(t, d, spec.ID, 2)
	pids := s.pids(t, d, st)
	if err := d.Stop(t.Context(), spec.ID, 5*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	for _, pid := range pids {
		if s.processes() && s.h.Alive(pid) {
			t.Errorf("process %d alive after Stop returned", pid)
		}
	}
	if _, err := d.Inspect(t.Context(), spec.ID); platform.ErrorCode(err) != platform.ENOTFOUND {
		t.Errorf("Inspect after Stop = %v, want %s", err, platform.ENOTFOUND)
	}
	list, err := d.List(t.Context())
	if err != nil || slices.ContainsFunc(list, func(w *runtime.WorkloadStatus) bool { return w.Spec.ID == spec.ID }) {
		t.Errorf("List after Stop = %v, %v; want the workload gone", list, err)
	}
	stopped := s.events.matching(spec.ID, runtime.EventStopped)
	if len(stopped) != 2 {
		t.Errorf("got %d stopped events, want 2: %+v", len(stopped), stopped)
	}
	if err := d.Stop(t.Context(), spec.ID, time.Second); err != nil {
		t.Errorf("second Stop = %v, want nil", err)
	}
}

func testUnknown(t *testing.T, s *suite) {
	d := s.driver(t)
	if err := d.Stop(t.Context(), "r-unknown", time.Second); err != nil {
		t.Errorf("Stop(unknown) = %v, want nil", err)
	}
	if _, err := d.Inspect(t.Context(), "r-unknown"); platform.ErrorCode(err) != platform.ENOTFOUND {
		t.Errorf("Inspect(unknown) = %v, want %s", err, platform.ENOTFOUND)
	}
	if _, err := d.Stats(t.Context(), "r-unknown"); platform.ErrorCode(err) != platform.ENOTFOUND {
		t.Errorf("Stats(unknown) = %v, want %s", err, platform.ENOTFOUND)
	}
	spec := s.spec(t, Serve, "invalid", 1)
	spec.Artifact = ""
	if err := d.Start(t.Context(), spec); platform.ErrorCode(err) != platform.EINVALID {
		t.Errorf("Start(no artifact) = %v, want %s", err, platform.EINVALID)
	}
	if _, err := d.Inspect(t.Context(), spec.ID); platform.ErrorCode(err) != platform.ENOTFOUND {
		t.Errorf("Inspect after invalid Start = %v, want %s", err, platform.ENOTFOUND)
	}
}

func testCrashLoop(t *testing.T, s *suite) {
	d := s.driver(t)
	spec := s.spec(t, Exit3, "crash", 1)
	if err := d.Start(t.Context(), spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	s.waitFor(t, "a crashloop event", func() bool { return len(s.events.matching(spec.ID, runtime.EventCrashLoop)) > 0 })

	started := s.events.matching(spec.ID, runtime.EventStarted)
	if len(started) < s.h.CrashLoopRestarts {
		t.Fatalf("%d starts before the crash loop, want at least %d", len(started), s.h.CrashLoopRestarts)
	}
	first, later := started[1].Time.Sub(started[0].Time), started[3].Time.Sub(started[2].Time)
	if later <= first {
		t.Errorf("backoff did not grow: %v between starts 1-2, %v between 3-4", first, later)
	}
	for _, e := range s.events.matching(spec.ID, runtime.EventExited) {
		if e.ExitCode != 3 || !strings.Contains(e.Message, "exiting with 3") {
			t.Fatalf("exited event %+v, want code 3 and the last stderr line in the message", e)
		}
	}
	s.waitFor(t, "Inspect to show the crash loop", func() bool {
		st, err := d.Inspect(t.Context(), spec.ID)
		if err != nil {
			t.Fatal(err)
		}
		in := st.Instances[0]
		return in.State == platform.InstanceCrashLoop && in.ExitCode == 3 && in.Restarts >= s.h.CrashLoopRestarts-1 &&
			strings.Contains(in.Message, "exiting with 3")
	})
}

// collect reads q until want holds of the lines read (formatted "<instance> <stream>
// <line>") or the timeout passes.
func (s *suite) collect(t *testing.T, d runtime.Driver, q platform.LogQuery, want func([]string) bool) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), s.h.Timeout)
	defer cancel()
	ch, err := d.Logs(ctx, q)
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	var got []string
	for e := range ch {
		if e.Namespace != q.Namespace || e.Service != q.Service || e.Time.IsZero() {
			t.Fatalf("entry %+v does not belong to %s/%s or has no time", e, q.Namespace, q.Service)
		}
		got = append(got, fmt.Sprintf("%s %s %s", e.InstanceID, e.Stream, e.Line))
		if want(got) {
			return got
		}
	}
	return got
}

func testLogs(t *testing.T, s *suite) {
	s.needLogs(t)
	d := s.driver(t)
	spec := s.spec(t, Stderr, "logs", 1)
	if err := d.Start(t.Context(), spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	id := s.waitRunning(t, d, spec.ID, 1).Instances[0].ID
	want := []string{id + " stdout to stdout", id + " stderr to stderr"}
	var got []string
	s.waitFor(t, "both lines in the tail", func() bool {
		got = s.collect(t, d, platform.LogQuery{Namespace: spec.Namespace, Service: spec.Service, Tail: -1}, func([]string) bool { return false })
		return slices.Contains(got, want[0]) && slices.Contains(got, want[1])
	})
	if len(got) != 2 {
		t.Errorf("tail = %q, want exactly %q", got, want)
	}
	last := s.collect(t, d, platform.LogQuery{Namespace: spec.Namespace, Service: spec.Service, Tail: 1}, func([]string) bool { return false })
	if len(last) != 1 {
		t.Errorf("tail 1 = %q, want one line", last)
	}
}

func testFollow(t *testing.T, s *suite) {
	s.needLogs(t)
	d := s.driver(t)
	spec := s.spec(t, Serve, "follow", 2)
	if err := d.Start(t.Context(), spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	st := s.waitRunning(t, d, spec.ID, 2)
	q := platform.LogQuery{Namespace: spec.Namespace, Service: spec.Service, Tail: -1, Follow: true}
	got := s.collect(t, d, q, func(lines []string) bool {
		ticks := map[string]bool{}
		for _, l := range lines {
			if f := strings.Fields(l); len(f) == 4 && f[2] == "tick" && f[3] != "1" {
				ticks[f[0]] = true
			}
		}
		return len(ticks) == 2
	})
	for _, in := range st.Instances {
		if !slices.Contains(got, in.ID+" stdout started "+in.ID) {
			t.Errorf("followed lines %q lack %q", got, in.ID+" stdout started "+in.ID)
		}
		if !slices.ContainsFunc(got, func(l string) bool { return strings.HasPrefix(l, in.ID+" stdout tick 2") }) {
			t.Errorf("followed lines %q lack a second tick of %s", got, in.ID)
		}
	}
}

func testStats(t *testing.T, s *suite) {
	d := s.driver(t)
	spec := s.spec(t, Serve, "stats", 1)
	if err := d.Start(t.Context(), spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	st := s.waitRunning(t, d, spec.ID, 1)
	for range 2 {
		stats, err := d.Stats(t.Context(), spec.ID)
		if err != nil {
			t.Fatalf("Stats: %v", err)
		}
		if len(stats) != 1 || stats[0].InstanceID != st.Instances[0].ID || stats[0].MemoryBytes == 0 ||
			stats[0].CPUPercent < 0 || stats[0].Time.IsZero() {
			t.Fatalf("Stats = %+v, want one sample of %s with memory", stats, st.Instances[0].ID)
		}
	}
}

func testGrace(t *testing.T, s *suite) {
	s.needProcesses(t)
	d := s.driver(t)
	spec := s.spec(t, IgnoreTerm, "grace", 1)
	if err := d.Start(t.Context(), spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	st := s.waitRunning(t, d, spec.ID, 1)
	pid := s.pids(t, d, st)[st.Instances[0].ID]
	s.waitFor(t, "the instance to ignore SIGTERM", func() bool {
		lines := s.collect(t, d, platform.LogQuery{Namespace: spec.Namespace, Service: spec.Service, Tail: -1}, func([]string) bool { return false })
		return slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, " stdout ready") })
	})
	const grace = 700 * time.Millisecond
	began := time.Now()
	if err := d.Stop(t.Context(), spec.ID, grace); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if took := time.Since(began); took < grace {
		t.Errorf("Stop returned after %v, before the %v grace of a SIGTERM-ignoring instance", took, grace)
	}
	if s.h.Alive(pid) {
		t.Errorf("process %d alive after Stop", pid)
	}
}

func testRecoverLive(t *testing.T, s *suite) {
	d1 := s.h.New(t, s.dir, s.events.record)
	if err := d1.Recover(t.Context()); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	spec := s.spec(t, Serve, "recover", 2)
	if err := d1.Start(t.Context(), spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	before := s.pids(t, d1, s.waitRunning(t, d1, spec.ID, 2))
	q := platform.LogQuery{Namespace: spec.Namespace, Service: spec.Service, Tail: -1}
	if s.h.NoLogs == "" {
		s.waitFor(t, "both instances to print their first line", func() bool {
			lines := s.collect(t, d1, q, func([]string) bool { return false })
			return len(slices.DeleteFunc(lines, func(l string) bool { return !strings.Contains(l, " stdout started ") })) == 2
		})
	}
	s.h.Abandon(t, d1)
	for _, pid := range before {
		if s.processes() && !s.h.Alive(pid) {
			t.Fatalf("process %d died with the driver", pid)
		}
	}

	d2 := s.driver(t)
	st := s.waitRunning(t, d2, spec.ID, 2)
	if after := s.pids(t, d2, st); !mapsEqual(after, before) {
		t.Fatalf("after Recover pids = %v, want the same instances and processes %v", after, before)
	}
	if err := d2.Recover(t.Context()); err != nil {
		t.Fatalf("second Recover: %v", err)
	}
	if s.h.NoLogs == "" {
		lines := s.collect(t, d2, q, func([]string) bool { return false })
		for id := range before {
			want := id + " stdout started " + id
			if n := countOf(lines, want); n != 1 {
				t.Errorf("logs after recovery hold %q %d times, want once: %q", want, n, lines)
			}
		}
	}
	if after := s.pids(t, d2, s.waitRunning(t, d2, spec.ID, 2)); !mapsEqual(after, before) {
		t.Fatalf("second Recover changed pids to %v, want %v", after, before)
	}

	if !s.processes() {
		if err := d2.Stop(t.Context(), spec.ID, 5*time.Second); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		return
	}
	victim := st.Instances[0].ID
	s.h.Kill(t, before[victim])
	var restarted int
	s.waitFor(t, "the adopted instance to be restarted", func() bool {
		pid, ok := s.h.PID(d2, spec.ID, victim)
		restarted = pid
		return ok && pid != before[victim]
	})
	if got, want := ids(s.waitRunning(t, d2, spec.ID, 2)), slices.Sorted(maps.Keys(before)); !slices.Equal(got, want) {
		t.Fatalf("instances after restart = %v, want %v", got, want)
	}
	if err := d2.Stop(t.Context(), spec.ID, 5*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	s.waitDead(t, append(slices.Collect(maps.Values(before)), restarted)...)
}

func testRecoverDead(t *testing.T, s *suite) {
	s.needProcesses(t)
	d1 := s.h.New(t, s.dir, s.events.record)
	if err := d1.Recover(t.Context()); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	spec := s.spec(t, Serve, "recoverdead", 1)
	if err := d1.Start(t.Context(), spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	st := s.waitRunning(t, d1, spec.ID, 1)
	id := st.Instances[0].ID
	old := s.pids(t, d1, st)[id]
	s.h.Abandon(t, d1)
	s.h.Kill(t, old)
	s.waitDead(t, old)

	d2 := s.driver(t)
	st = s.waitRunning(t, d2, spec.ID, 1)
	if st.Instances[0].ID != id {
		t.Fatalf("recovered instance %s, want %s", st.Instances[0].ID, id)
	}
	pid, ok := s.h.PID(d2, spec.ID, id)
	if !ok || pid == old {
		t.Fatalf("instance %s pid %d after recovery, want a new process (old %d)", id, pid, old)
	}
	if st.Instances[0].Restarts < 1 {
		t.Errorf("Restarts = %d after restarting a dead instance, want ≥ 1", st.Instances[0].Restarts)
	}
}

// testRestart checks the optional runtime.Restarter: the instance keeps its ID, gets a
// new process at once, and the old one is gone.
func testRestart(t *testing.T, s *suite) {
	d := s.driver(t)
	r, ok := d.(runtime.Restarter)
	if !ok {
		t.Skip("driver does not implement runtime.Restarter")
	}
	s.needProcesses(t)
	spec := s.spec(t, Serve, "restart", 1)
	if err := d.Start(t.Context(), spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	st := s.waitRunning(t, d, spec.ID, 1)
	id := st.Instances[0].ID
	old := s.pids(t, d, st)[id]
	if err := r.Restart(t.Context(), spec.ID, id, time.Second); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	s.waitDead(t, old)
	s.waitFor(t, "a new process for the same instance", func() bool {
		pid, ok := s.h.PID(d, spec.ID, id)
		return ok && pid != old
	})
	st = s.waitRunning(t, d, spec.ID, 1)
	if st.Instances[0].ID != id || st.Instances[0].Restarts != 1 {
		t.Errorf("after Restart: instance %s restarts %d, want %s restarted once", st.Instances[0].ID, st.Instances[0].Restarts, id)
	}
	if err := r.Restart(t.Context(), spec.ID, "nope", time.Second); platform.ErrorCode(err) != platform.ENOTFOUND {
		t.Errorf("Restart of an unknown instance = %v, want not_found", err)
	}
}
