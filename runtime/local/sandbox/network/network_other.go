//go:build !linux

package network

import (
	"net/netip"
	"os/exec"
	"runtime"

	platform "github.com/micro/platform"
)

// InstanceLink is the name of an instance's interface inside its namespace.
const InstanceLink = "eth0"

type sys struct{}

func errUnsupported() error {
	return platform.Errorf(platform.EUNAVAILABLE, "sandbox network: not supported on %s (Linux only)", runtime.GOOS)
}

// Probe reports whether this host can sandbox instance networks: never, off Linux.
func Probe() error { return errUnsupported() }

// Setup fails with EUNAVAILABLE: sandboxed networks need Linux.
func Setup(opts Options) (*Network, error) {
	if _, err := opts.withDefaults(); err != nil {
		return nil, err
	}
	return nil, errUnsupported()
}

// Attach fails with EUNAVAILABLE off Linux.
func (n *Network) Attach(id string, pid int, addr netip.Addr) error { return errUnsupported() }

// StartAttached fails with EUNAVAILABLE off Linux.
func (n *Network) StartAttached(cmd *exec.Cmd, id string, addr netip.Addr) error {
	return errUnsupported()
}

// Detach fails with EUNAVAILABLE off Linux.
func (n *Network) Detach(id string) error { return errUnsupported() }

// Teardown fails with EUNAVAILABLE off Linux.
func (n *Network) Teardown() error { return errUnsupported() }

// Close does nothing off Linux.
func (n *Network) Close() {}
