package network_test

import (
	"net/netip"
	"os"
	"os/exec"
	"testing"

	"github.com/micro/platform/runtime/local/sandbox/network"
)

// BenchmarkAttachDetach is what the network costs per instance start: Attach of a process
// already in a namespace of its own, then Detach.
func BenchmarkAttachDetach(b *testing.B) {
	n, addr := benchNetwork(b)
	pid := startInNetns(b, "bench").cmd.Process.Pid
	for b.Loop() {
		if err := n.Attach("bench", pid, addr); err != nil {
			b.Fatal(err)
		}
		if err := n.Detach("bench"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAttach is Attach alone (Detach untimed): the part of an instance start that
// waits for the network. Deleting a veth pair waits for the kernel's RCU grace periods,
// so Detach costs more than Attach, but it is off the start path (and unneeded when the
// instance's namespace dies: the kernel deletes the pair itself).
func BenchmarkAttach(b *testing.B) {
	n, addr := benchNetwork(b)
	pid := startInNetns(b, "bench").cmd.Process.Pid
	b.ResetTimer()
	for range b.N {
		if err := n.Attach("bench", pid, addr); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := n.Detach("bench"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkStartAttached is a whole instance start with its network: a new namespace,
// Attach, fork and exec of a program that exits at once (the test binary as an instance
// with nothing on stdin), its exit, and Detach. BenchmarkStartPlain is the same start
// without a network namespace, to subtract.
func BenchmarkStartAttached(b *testing.B) {
	n, addr := benchNetwork(b)
	for b.Loop() {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), helperEnv+"=bench")
		if err := n.StartAttached(cmd, "bench", addr); err != nil {
			b.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
		if err := n.Detach("bench"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStartPlain(b *testing.B) {
	for b.Loop() {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), helperEnv+"=bench")
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetup is the cost of Setup on a host where the network is set up already (a
// platform restart): adopting the bridge and replacing the rules.
func BenchmarkSetup(b *testing.B) {
	requireEngine(b)
	cleanHost(b)
	for b.Loop() {
		n, err := network.Setup(testOptions(4222))
		if err != nil {
			b.Fatal(err)
		}
		n.Close()
	}
}

// benchNetwork sets up the tests' network (closed when b ends) and allocates the address
// of the benchmarks' one instance.
func benchNetwork(b *testing.B) (*network.Network, netip.Addr) {
	b.Helper()
	requireEngine(b)
	cleanHost(b)
	n, err := network.Setup(testOptions(4222))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(n.Close)
	addr, err := n.Allocate("bench")
	if err != nil {
		b.Fatal(err)
	}
	return n, addr
}
