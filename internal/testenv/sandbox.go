package testenv

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync"
	"testing"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime/local/sandbox/cgroup"
	"github.com/micro/platform/runtime/local/sandbox/network"
)

// RemoveCgroups removes, when tb ends, the cgroups a test server on dataDir made for its
// instances (they stay on the host otherwise, as a real server's do across restarts).
// Register it before the server's own cleanup, which kills the instances.
func RemoveCgroups(tb testing.TB, dataDir string) {
	tb.Helper()
	if os.Geteuid() != 0 {
		return
	}
	tb.Cleanup(func() {
		if h, _, err := cgroup.New(cgroup.NameFor(dataDir)); err == nil {
			if err := h.Destroy(); err != nil {
				tb.Logf("remove the cgroups of %s: %v", dataDir, err)
			}
		}
	})
}

// sandboxNets are the networks handed out, by data dir: a server restarted on its data
// dir gets its network back, as a real one keeps its configuration.
var sandboxNets = struct {
	sync.Mutex
	m map[string][2]string
}{m: map[string][2]string{}}

// SandboxNetwork returns a bridge name and subnet for the sandboxed instances of the test
// server on dataDir, apart from every other server's on this host (the default mp0 is a
// real server's), and removes the bridge and its nftables table when tb ends. It returns
// empty strings where the host cannot make sandbox networks (not root), which leaves the
// server's default.
func SandboxNetwork(tb testing.TB, dataDir string) (bridge, subnet string) {
	tb.Helper()
	if os.Geteuid() != 0 || network.Probe() != nil {
		return "", ""
	}
	sandboxNets.Lock()
	defer sandboxNets.Unlock()
	if bs, ok := sandboxNets.m[dataDir]; ok {
		return bs[0], bs[1]
	}
	for range 20 {
		id := rand.IntN(1 << 16)
		opts := network.Options{
			Bridge: fmt.Sprintf("mpt%04x", id),
			// 10.220.0.0/14 is ours in tests; a /24 each.
			Subnet: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(220 + id>>8%4), byte(id), 0}), 24),
		}
		opts.Table = "micro_platform_" + opts.Bridge
		n, err := network.Setup(opts)
		if platform.ErrorCode(err) == platform.ECONFLICT {
			continue // another test's subnet
		}
		if err != nil {
			tb.Fatalf("sandbox network: %v", err)
		}
		tb.Cleanup(func() {
			if err := n.Teardown(); err != nil {
				tb.Errorf("remove sandbox network %s: %v", opts.Bridge, err)
			}
			sandboxNets.Lock()
			delete(sandboxNets.m, dataDir)
			sandboxNets.Unlock()
		})
		sandboxNets.m[dataDir] = [2]string{opts.Bridge, opts.Subnet.String()}
		return opts.Bridge, opts.Subnet.String()
	}
	tb.Fatal("sandbox network: no free test subnet")
	return "", ""
}
