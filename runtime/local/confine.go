package local

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime/local/sandbox"
	"github.com/micro/platform/runtime/local/sandbox/cgroup"
)

// Sandbox says how instances are confined; see package sandbox. With Enabled false they
// run unconfined, as the platform's own user, sharing its network and files.
type Sandbox struct {
	Enabled bool
	// UIDBase is the first user ID given to a namespace (DefaultUIDBase).
	UIDBase int
	// Network gives each instance a network namespace of its own, attached to the
	// platform's bridge; nil shares the host's network.
	Network Network
	// Cgroups enforces each instance's CPU, memory and process limits; nil does not.
	Cgroups Cgroups
	// Pids bounds the processes and threads of one instance (1024).
	Pids int64
}

// Network attaches instances' network namespaces (implemented by
// sandbox/network.Network).
type Network interface {
	// Allocate returns an address for the instance id, Reserve takes one it had before a
	// restart, Release frees it.
	Allocate(id string) (netip.Addr, error)
	Reserve(id string, addr netip.Addr) error
	Release(id string)
	// Attach gives the network namespace of pid an interface with addr.
	Attach(id string, pid int, addr netip.Addr) error
}

// Cgroups makes the cgroups of instances (implemented by sandbox/cgroup.Hierarchy).
type Cgroups interface {
	Create(id string, l cgroup.Limits) (*cgroup.Group, error)
	Open(id string) (*cgroup.Group, error)
	List() ([]string, error)
}

// confined is what an instance's sandbox holds beyond its process.
type confined struct {
	group *cgroup.Group // nil without cgroups
	addr  netip.Addr    // invalid without a network
	oom   uint64        // OOM kills of the group when the run started
}

// spawnSandboxed starts inst's process in its sandbox: a new sandbox.Process, put into its
// cgroup and given its network before it runs the artifact.
func (d *Driver) spawnSandboxed(inst *instance, stdout, stderr *os.File) (*proc, error) {
	box := d.opts.Sandbox
	spec := inst.wl.spec
	uid, err := d.uids.uid(spec.Namespace)
	if err != nil {
		return nil, err
	}
	root := filepath.Join(d.workDir(inst), "root")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	c, err := d.confinement(inst)
	if err != nil {
		return nil, err
	}
	p, err := sandbox.Start(sandbox.Spec{
		Program: spec.Artifact, Name: spec.Service, Env: d.environ(inst), UID: uid, GID: uid, Root: root,
		Network: box.Network != nil, Stdout: stdout, Stderr: stderr,
	})
	if err != nil {
		return nil, err
	}
	// The init builds the sandbox before it joins the cgroup: its set-up is the
	// platform's work, and at the instance's CPU quota it would take most of a second.
	// The program runs only after Release, inside the cgroup.
	if err := p.Ready(); err != nil {
		_ = p.Cmd.Wait()
		return nil, err
	}
	if c.group != nil {
		if err := c.group.Add(p.Pid()); err != nil {
			p.Abort()
			_ = p.Cmd.Wait()
			return nil, platform.Errorf(platform.EUNAVAILABLE, "put instance into its cgroup: %v", err)
		}
	}
	if box.Network != nil {
		if err := box.Network.Attach(inst.id, p.Pid(), c.addr); err != nil {
			p.Abort()
			_ = p.Cmd.Wait()
			return nil, platform.Errorf(platform.EUNAVAILABLE, "attach instance network: %v", err)
		}
	}
	if err := p.Release(); err != nil {
		_ = p.Cmd.Wait()
		return nil, err
	}
	return watch(p.Cmd), nil
}

// confinement returns inst's cgroup (created with its size's limits) and network
// address, making them on first use; they are kept across restarts of the instance.
func (d *Driver) confinement(inst *instance) (confined, error) {
	box := d.opts.Sandbox
	inst.mu.Lock()
	c := inst.box
	inst.mu.Unlock()
	if box.Cgroups != nil {
		// Every start: Create is idempotent, and restores a group removed meanwhile.
		res := inst.wl.spec.Resources
		g, err := box.Cgroups.Create(inst.id, cgroup.Limits{CPUMillis: res.CPUMillis, MemoryBytes: res.MemoryBytes, Pids: box.Pids})
		if err != nil {
			return c, platform.Errorf(platform.EUNAVAILABLE, "create the instance's cgroup: %v", err)
		}
		c.group = g
	}
	if box.Network != nil && !c.addr.IsValid() {
		a, err := box.Network.Allocate(inst.id)
		if err != nil {
			return c, platform.Errorf(platform.EUNAVAILABLE, "allocate the instance's address: %v", err)
		}
		c.addr = a
	}
	if c.group != nil {
		if st, err := c.group.Stats(); err == nil {
			c.oom = st.OOMKills
		}
	}
	inst.set(func(i *instance) { i.box = c })
	return c, nil
}

// oomKilledLocked reports whether inst's last run was ended by the OOM killer of its
// cgroup. Called with inst.mu held.
func (inst *instance) oomKilledLocked() bool {
	c := inst.box
	if c.group == nil {
		return false
	}
	st, err := c.group.Stats()
	return err == nil && st.OOMKills > c.oom
}

// unconfine frees what inst's sandbox held once it stopped for good.
func (d *Driver) unconfine(inst *instance) error {
	box := d.opts.Sandbox
	inst.mu.Lock()
	c := inst.box
	inst.box = confined{}
	inst.mu.Unlock()
	if box.Network != nil && c.addr.IsValid() {
		box.Network.Release(inst.id)
	}
	if c.group != nil {
		if err := c.group.Remove(); err != nil {
			return fmt.Errorf("remove cgroup of %s: %w", inst.id, err)
		}
	}
	return nil
}

// readopt takes back the sandbox of an instance adopted after a restart: its address and
// cgroup.
func (d *Driver) readopt(inst *instance, addr string) {
	box := d.opts.Sandbox
	var c confined
	if box.Network != nil {
		// reserveAddrs took it back already (and said so if it could not): Reserve again
		// only confirms that this instance holds it.
		if a, err := netip.ParseAddr(addr); err == nil && box.Network.Reserve(inst.id, a) == nil {
			c.addr = a
		}
	}
	if box.Cgroups != nil {
		if g, err := box.Cgroups.Open(inst.id); err == nil {
			c.group = g
			if st, err := g.Stats(); err == nil {
				c.oom = st.OOMKills
			}
		}
	}
	inst.box = c
}

// reserveAddrs takes back the addresses of every live instance before any workload is
// recovered: an instance restarted meanwhile must not be given one of them.
func (d *Driver) reserveAddrs(states []stateFile, live map[string]procStatPID) {
	net := d.opts.Sandbox.Network
	if net == nil {
		return
	}
	for _, sf := range states {
		for _, is := range sf.Instances {
			a, err := netip.ParseAddr(is.Addr)
			if _, ok := live[is.ID]; !ok || err != nil {
				continue
			}
			if err := net.Reserve(is.ID, a); err != nil {
				d.opts.Logger.Error("re-adopt instance address", "instance", is.ID, "err", err)
			}
		}
	}
}

// sweepCgroups removes the cgroups of instances that are not known, left by a platform
// that died while stopping them.
func (d *Driver) sweepCgroups(known map[string]bool) {
	box := d.opts.Sandbox
	if box.Cgroups == nil {
		return
	}
	ids, err := box.Cgroups.List()
	if err != nil {
		d.opts.Logger.Error("list instance cgroups", "err", err)
		return
	}
	for _, id := range ids {
		if known[id] {
			continue
		}
		if g, err := box.Cgroups.Open(id); err == nil {
			if err := g.Remove(); err != nil {
				d.opts.Logger.Error("remove stale cgroup", "cgroup", id, "err", err)
			}
		}
	}
}
