// Package testenv helps end-to-end tests observe and clean up what a platform server
// started on this machine: the instance processes of one data dir, which by design outlive
// the server.
package testenv

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Proc is an instance process found on the machine.
type Proc struct {
	PID int
	Env map[string]string
}

// Instances returns the live instance processes started by the platform whose data dir is
// dataDir: the processes whose MICRO_REGISTRY_ADDRESS points at that server's NATS port.
func Instances(tb testing.TB, dataDir string) []Proc {
	tb.Helper()
	port, err := os.ReadFile(filepath.Join(dataDir, "nats.port"))
	if err != nil {
		return nil
	}
	// The host is loopback, or the sandbox bridge's address: the port is the server's own.
	marker := ":" + strings.TrimSpace(string(port))
	entries, err := os.ReadDir("/proc")
	if err != nil {
		tb.Fatal(err)
	}
	var out []Proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(raw, []byte("MICRO_REGISTRY_ADDRESS=")) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && zombie(stat) {
			continue
		}
		env := map[string]string{}
		for _, kv := range bytes.Split(raw, []byte{0}) {
			if k, v, ok := strings.Cut(string(kv), "="); ok {
				env[k] = v
			}
		}
		if a := env["MICRO_REGISTRY_ADDRESS"]; strings.Contains(a, "@") && strings.HasSuffix(a, marker) {
			out = append(out, Proc{PID: pid, Env: env})
		}
	}
	return out
}

func zombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// KillInstances kills every instance process of dataDir's platform; register it with
// t.Cleanup so no test leaves processes behind.
func KillInstances(tb testing.TB, dataDir string) {
	tb.Helper()
	for _, p := range Instances(tb, dataDir) {
		_ = syscall.Kill(-p.PID, syscall.SIGKILL) // its process group
		_ = syscall.Kill(p.PID, syscall.SIGKILL)
	}
}

// Buffer is a bytes.Buffer safe for concurrent writers and readers, for capturing the
// output of servers and CLIs in tests.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
