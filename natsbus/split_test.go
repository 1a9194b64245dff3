package natsbus

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

// TestSplitPickIsExact: the smooth weighted round robin gives each version its share to
// within one call over any run, whatever the percent.
func TestSplitPickIsExact(t *testing.T) {
	t.Parallel()
	for _, percent := range []int{0, 1, 10, 33, 50, 90, 99, 100} {
		sp := &split{stable: "v1", canary: "v2", percent: percent}
		canary := 0
		for i := 1; i <= 2000; i++ {
			canary += sp.pick(true, true)
			if want := float64(i*percent) / 100; math.Abs(float64(canary)-want) > 1 {
				t.Fatalf("%d%%: after %d calls %d went to the canary, want %.1f±1", percent, i, canary, want)
			}
		}
	}
	sp := &split{stable: "v1", canary: "v2", percent: 10}
	if sp.pick(false, true) != 1 || sp.pick(true, false) != 0 {
		t.Error("a version without a node must leave every call to the other")
	}
}

// TestSplitCalls runs a stable version on two nodes and a canary on one: calls that name
// no version go to the canary at the asked share, round-robin over each version's nodes;
// Micro-Version still pins; a canary without a node leaves every call to stable; without
// the split every node is called again.
func TestSplitCalls(t *testing.T) {
	t.Parallel()
	b := MustStartBus(t, t.TempDir(), "acme")
	u := MustNamespaceURL(t, b, "acme")
	MustStartService(t, u, "greeter", "v1", &Greeter{Tag: "v1-a"})
	MustStartService(t, u, "greeter", "v1", &Greeter{Tag: "v1-b"})
	canary, _ := MustStartService(t, u, "greeter", "v2", &Greeter{Tag: "v2"})
	waitNodes(t, b, "greeter", 3)

	count := func(n int, version string) map[string]int {
		t.Helper()
		seen := map[string]int{}
		for range n {
			req := hello("greeter", "x")
			req.Version = version
			out, err := b.Call(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			seen[strings.TrimPrefix(decodeMessage(t, out), "Hello x from ")]++
		}
		return seen
	}
	for _, percent := range []int{10, 50} {
		b.SplitCalls("acme", "greeter", "v1", "v2", percent)
		seen := count(2000, "")
		share := float64(seen["v2"]) * 100 / 2000
		t.Logf("%d%%: %v (canary %.2f%%)", percent, seen, share)
		if math.Abs(share-float64(percent)) > 3 {
			t.Errorf("%d%%: the canary took %.2f%% of 2000 calls: %v", percent, share, seen)
		}
		if a, b := seen["v1-a"], seen["v1-b"]; a == 0 || b == 0 || a-b > 1 || b-a > 1 {
			t.Errorf("%d%%: stable's two nodes got %d and %d calls, want round-robin", percent, a, b)
		}
	}
	if seen := count(50, "v2"); seen["v2"] != 50 {
		t.Errorf("Micro-Version v2 reached %v", seen)
	}
	if seen := count(50, "v1"); seen["v2"] != 0 {
		t.Errorf("Micro-Version v1 reached %v", seen)
	}

	b.DrainNode("acme", "greeter-"+canary.Options().Id)
	if seen := count(100, ""); seen["v2"] != 0 || seen["v1-a"]+seen["v1-b"] != 100 {
		t.Errorf("with the canary drained: %v, want every call on stable", seen)
	}

	// And the other way round: a stable version without a node leaves every call to the
	// canary, even at 0%.
	b.SplitCalls("acme", "greeter", "v2", "v1", 0)
	if seen := count(100, ""); seen["v1-a"]+seen["v1-b"] != 100 {
		t.Errorf("stable v2 drained, canary v1 at 0%%: %v, want every call on v1", seen)
	}
	b.SplitCalls("acme", "greeter", "", "", 0)
	if seen := count(100, ""); seen["v1-a"] != 50 || seen["v1-b"] != 50 {
		t.Errorf("without a split: %v, want round-robin over the nodes left", seen)
	}
}

// waitNodes waits until service shows n nodes in acme's registry view.
func waitNodes(t *testing.T, b *Bus, service string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		svcs, err := b.Services(context.Background(), "acme", service)
		if err == nil && len(svcs[0].Nodes) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has not %d nodes: %v %v", service, n, svcs, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
