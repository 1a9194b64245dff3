package kubernetes_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime/kubernetes"
)

// TestLogsThroughPodLogAPISimulatedKubelet reads logs through the API server's pod log
// proxy, served by the simulated kubelet: the tail across pods in time order, the last
// line only, and nothing of another service.
func TestLogsThroughPodLogAPISimulatedKubelet(t *testing.T) {
	d := newDriver(t, kubernetes.Options{Owner: unique("logs")})
	startSimKubelet(t, d.opts.Owner, 3)
	spec := workload("acme", "hello")
	spec.Replicas = 2
	spec.Artifact = "registry.invalid/conformance/serve:v1"
	other := workload("acme", "other")
	other.Artifact = spec.Artifact
	mustStart(t, d, spec)
	mustStart(t, d, other)

	read := func(t *testing.T, tail int) []platform.LogEntry {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		ch, err := d.Logs(ctx, platform.LogQuery{Namespace: "acme", Service: "hello", Tail: tail})
		if err != nil {
			t.Fatalf("Logs: %v", err)
		}
		var out []platform.LogEntry
		for e := range ch {
			out = append(out, e)
		}
		return out
	}
	var pods []string
	waitFor(t, "two running instances", func() bool {
		st, err := d.Inspect(t.Context(), spec.ID)
		if err != nil {
			t.Fatal(err)
		}
		pods = pods[:0]
		for _, in := range st.Instances {
			pods = append(pods, in.ID)
		}
		return st.Running() == 2
	})
	var all []platform.LogEntry
	waitFor(t, "a tick of each instance", func() bool {
		all = read(t, -1)
		ticks := 0
		for _, e := range all {
			if e.Line == "tick 1" {
				ticks++
			}
		}
		return ticks == 2
	})
	for _, pod := range pods {
		if !slices.ContainsFunc(all, func(e platform.LogEntry) bool { return e.InstanceID == pod && e.Line == "started "+pod }) {
			t.Errorf("logs lack %q of %s: %+v", "started "+pod, pod, all)
		}
	}
	for i, e := range all {
		if e.Namespace != "acme" || e.Service != "hello" || e.Stream != platform.Stdout || !slices.Contains(pods, e.InstanceID) {
			t.Errorf("entry %+v is not hello's", e)
		}
		if i > 0 && e.Time.Before(all[i-1].Time) {
			t.Errorf("entries out of time order: %v after %v", e.Time, all[i-1].Time)
		}
		if strings.HasPrefix(e.Line, "20") {
			t.Errorf("line %q still carries the kubelet's timestamp", e.Line)
		}
	}
	if last := read(t, 1); len(last) != 1 || !strings.HasPrefix(last[0].Line, "tick ") {
		t.Errorf("tail 1 = %+v, want the latest tick", last)
	}
}
