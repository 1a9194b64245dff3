package server

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime/local"
	"github.com/micro/platform/runtime/local/sandbox"
	"github.com/micro/platform/runtime/local/sandbox/cgroup"
	"github.com/micro/platform/runtime/local/sandbox/network"
)

// Sandbox modes (Config.Sandbox).
const (
	// SandboxAuto confines instances as far as the host allows and says what it lacks.
	SandboxAuto = "auto"
	// SandboxRequired refuses to start unless every part of the sandbox works.
	SandboxRequired = "required"
	// SandboxOff runs instances unconfined, as the platform's own user.
	SandboxOff = "off"
)

// isolation is what the local runtime's sandbox gives on this host.
type isolation struct {
	box      local.Sandbox
	net      *network.Network // nil: instances share the host's network
	problems []string         // what is missing, for the log, regions and the docs' table
}

// summary is the one line `platform regions` shows.
func (i isolation) summary() string {
	if len(i.problems) == 0 {
		return "sandboxed"
	}
	return "partial: " + strings.Join(i.problems, "; ")
}

// newIsolation sets up the local runtime's sandbox: namespaces and users (sandbox.Probe),
// cgroups, and the instances' network on a bridge where only natsPort of the gateway
// address is open to them. What the host refuses is left out and listed.
func (a *App) newIsolation(natsPort int) (isolation, error) {
	cfg := a.cfg
	var iso isolation
	if cfg.Sandbox == SandboxOff {
		iso.problems = []string{"sandbox is off (sandbox: off): instances run as the platform's user with its files, processes and network"}
		return iso, nil
	}
	if err := sandbox.Probe(false); err != nil {
		iso.problems = append(iso.problems, "no sandbox: "+strings.TrimPrefix(platform.ErrorMessage(err), "sandbox: "))
		return iso, a.requireSandbox(iso)
	}
	iso.box = local.Sandbox{Enabled: true, UIDBase: cfg.SandboxUIDBase}
	if iso.box.UIDBase == 0 {
		iso.box.UIDBase = local.DefaultUIDBase
	}

	h, support, err := cgroup.New(cgroup.NameFor(cfg.DataDir))
	switch {
	case err != nil:
		iso.problems = append(iso.problems, "no resource limits: "+platform.ErrorMessage(err))
	default:
		iso.box.Cgroups = h
		for _, p := range support.Problems {
			iso.problems = append(iso.problems, "resource limits: "+p)
		}
		for _, w := range support.Warnings {
			a.logger.Info("sandbox cgroups", "note", w)
		}
	}

	switch {
	case cfg.NATSURL != "":
		iso.problems = append(iso.problems, "no network isolation: with nats_url instances reach the mesh over the host's network")
	default:
		subnet, err := netip.ParsePrefix(cfg.SandboxSubnet)
		if cfg.SandboxSubnet != "" && err != nil {
			return iso, platform.Errorf(platform.EINVALID, "sandbox_subnet %q: %v", cfg.SandboxSubnet, err)
		}
		resolvers, loopback := hostResolvers("/etc/resolv.conf")
		if len(resolvers) == 0 && loopback {
			a.logger.Warn("sandboxed instances cannot resolve names: the host's resolver listens on loopback", "file", "/etc/resolv.conf")
		}
		n, err := network.Setup(network.Options{
			Bridge: cfg.SandboxBridge, Subnet: subnet, Table: sandboxTable(cfg.SandboxBridge),
			HostPorts: hostPorts(natsPort), Resolvers: resolvers,
		})
		if err == nil {
			err = sandbox.Probe(true)
		}
		if err != nil {
			if n != nil {
				n.Close()
			}
			iso.problems = append(iso.problems, "no network isolation: "+platform.ErrorMessage(err))
			break
		}
		iso.net, iso.box.Network = n, n
	}
	return iso, a.requireSandbox(iso)
}

// hostResolvers returns the IPv4 name servers of the resolv.conf at path that instances can
// reach (not loopback), and whether it lists loopback ones they cannot.
func hostResolvers(path string) (reachable []netip.Addr, loopback bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		switch {
		case err != nil || !a.Is4():
		case a.IsLoopback():
			loopback = true
		default:
			reachable = append(reachable, a)
		}
	}
	return reachable, loopback
}

// hostPorts is the NATS port when it is known before NATS starts.
func hostPorts(natsPort int) []uint16 {
	if natsPort == 0 {
		return nil
	}
	return []uint16{uint16(natsPort)}
}

// openPort lets instances reach port on the bridge's address (NATS, once it listens),
// keeping the rest of the network's rules; nothing without a sandbox network.
func (i isolation) openPort(port int) error {
	if i.net == nil {
		return nil
	}
	opts := i.net.Options()
	if slices.Contains(opts.HostPorts, uint16(port)) {
		return nil
	}
	opts.HostPorts = append(opts.HostPorts, uint16(port))
	n, err := network.Setup(opts)
	if err != nil {
		return fmt.Errorf("open the NATS port to instances: %w", err)
	}
	n.Close()
	return nil
}

// sandboxTable names the nftables table of a bridge, so platforms on one host (tests)
// keep their rules apart.
func sandboxTable(bridge string) string {
	if bridge == "" || bridge == network.DefaultBridge {
		return network.DefaultTable
	}
	return network.DefaultTable + "_" + strings.NewReplacer("-", "_", ".", "_").Replace(bridge)
}

func (a *App) requireSandbox(iso isolation) error {
	if a.cfg.Sandbox == SandboxRequired && len(iso.problems) > 0 {
		return platform.Errorf(platform.EUNAVAILABLE, "sandbox: required, but %s", strings.Join(iso.problems, "; ")).
			WithHint("run the server as root on Linux with cgroups and nftables, or set sandbox: auto")
	}
	return nil
}

// checkTenancy refuses to serve several organisations on a runtime that cannot keep their
// code apart, unless the operator said so (unsandboxed_tenants: true).
func (a *App) checkTenancy(ctx context.Context, iso isolation) error {
	if len(iso.problems) == 0 || a.cfg.UnsandboxedTenants {
		return nil
	}
	orgs, err := a.store.ListOrgs(ctx)
	if err != nil {
		return fmt.Errorf("list organisations: %w", err)
	}
	targets := map[string]bool{}
	for _, o := range orgs {
		targets[o.Name] = true
	}
	for _, o := range a.cfg.GitHub.Organizations {
		targets[o] = true
	}
	if len(targets) > 1 {
		return platform.Errorf(platform.EUNAVAILABLE, "this server holds %d organisations, but its runtime cannot keep their code apart (%s)", len(targets), iso.summary()).
			WithHint("fix what is missing (see docs/security.md), or accept that tenants' code can reach each other with unsandboxed_tenants: true")
	}
	return nil
}

// logIsolation says at start what the sandbox gives, and warns about what it lacks.
func (a *App) logIsolation() {
	if len(a.iso.problems) == 0 {
		attrs := []any{"uids_from", a.iso.box.UIDBase}
		if n := a.iso.net; n != nil {
			attrs = append(attrs, "subnet", n.Subnet().String(), "gateway", n.Gateway().String())
		}
		a.logger.Info("instances are sandboxed", attrs...)
		return
	}
	for _, p := range a.iso.problems {
		a.logger.Warn("instances are not fully sandboxed", "missing", p)
	}
}

// regionIsolation is what `platform regions` shows for the local region.
func (a *App) regionIsolation() string {
	if a.cfg.Runtime == RuntimeKubernetes {
		// docs/kubernetes.md: what the cluster enforces (a real node does; see docs/security.md).
		return "kubernetes: restricted pods, network policies, quotas"
	}
	return a.iso.summary()
}
