package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
	"github.com/micro/platform/client"
)

func init() {
	register((*app).connectCmd)
	register((*app).envCmd)
	register((*app).connectionsCmd)
}

// meshEnvKeys are the variables of a mesh environment, in the order they are printed.
var meshEnvKeys = []string{
	"MICRO_REGISTRY", "MICRO_REGISTRY_ADDRESS",
	"MICRO_BROKER", "MICRO_BROKER_ADDRESS",
	"MICRO_TRANSPORT", "MICRO_TRANSPORT_ADDRESS",
	"MICRO_PROFILE", "MICRO_NATS_ADDRESS",
}

// childGrace is how long a command run by `platform connect` has to exit after the
// interrupt it is passed on Ctrl-C, before it is killed.
const childGrace = 10 * time.Second

func (a *app) connectCmd() *cobra.Command {
	var (
		ns     string
		ttl    time.Duration
		direct bool
	)
	cmd := &cobra.Command{
		Use:   "connect [-- COMMAND [ARGS...]]",
		Short: "Run a local process inside a namespace's mesh",
		Long: "connect puts a process on your machine into the namespace's mesh, as if it were\n" +
			"deployed there: a go-micro service registers in the namespace, the deployed services\n" +
			"call it and it calls them; go-micro's own `micro` CLI (micro services, micro describe,\n" +
			"micro call) works against the namespace.\n\n" +
			"It issues a mesh credential of yours for the namespace (short-lived, revocable,\n" +
			"audited; see `platform connections`), opens a local port that tunnels to the\n" +
			"namespace's mesh through the platform's own address (its TLS when the server is\n" +
			"https: nothing else has to be reachable), and runs COMMAND with the MICRO_*\n" +
			"environment pointing at it. When COMMAND exits, the tunnel closes and the credential\n" +
			"is revoked; connect exits with COMMAND's status.\n\n" +
			"Without COMMAND it prints the environment as shell exports and keeps the tunnel open\n" +
			"until Ctrl-C, for other terminals: eval \"$(platform connect -n acme)\" does not work\n" +
			"(it keeps running): copy the exports, or use `platform env` for a direct connection.\n\n" +
			"--direct skips the tunnel: the environment names the mesh server itself, which must\n" +
			"be reachable from this machine (the server's own machine, or its network).\n\n" +
			"Only roles that may deploy to the namespace get a credential.",
		Example: `  platform connect -n acme -- go run ./helloworld
  platform connect -n acme -- micro services
  platform connect -n acme -- micro call helloworld Helloworld.Call '{"name":"x"}'
  platform connect -n acme                 # prints the exports, tunnel open until Ctrl-C`,
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, ns, err := a.connectNS(cmd, ns)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			grant, err := c.Connect(ctx, platform.ConnectRequest{Namespace: ns, Name: connectionName("connect"), TTL: ttl})
			if err != nil {
				return err
			}
			// The credential lives only as long as this command.
			defer a.revoke(c, grant)
			env := grant.Env
			if !direct {
				tun, err := listenTunnel(ctx, c, ns)
				if err != nil {
					return err
				}
				defer tun.Close()
				env = tunnelEnv(grant, tun.Addr().String())
			}
			if len(args) == 0 {
				a.printExports(env)
				fmt.Fprintf(a.stderr, "# Mesh credential %s for %s; the tunnel is open until Ctrl-C, which revokes it.\n", grant.Token.ID, ns)
				<-ctx.Done()
				return nil
			}
			fmt.Fprintf(a.stderr, "Connected to %s as %s (credential %s, expires %s).\n", ns, grant.Token.User, grant.Token.ID, a.fmtTime(*grant.Token.ExpiresAt))
			return a.runConnected(ctx, args, env)
		}),
	}
	addNamespaceFlag(cmd, &ns)
	cmd.Flags().DurationVar(&ttl, "ttl", platform.DefaultConnectTTL, "how long the credential lives (its connections close then); at most 24h")
	cmd.Flags().BoolVar(&direct, "direct", false, "connect to the mesh server directly instead of through the platform's address")
	return cmd
}

// connectionName names a credential after this machine, for `platform connections`.
func connectionName(prefix string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		return prefix
	}
	return prefix + "@" + host
}

// revoke takes the credential back, on the way out; a failure is reported, not fatal
// (it expires anyway).
func (a *app) revoke(c *client.Client, g *platform.MeshGrant) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.DeleteToken(ctx, g.Token.ID); err != nil && !platform.IsNotFound(err) {
		fmt.Fprintf(a.stderr, "warning: could not revoke mesh credential %s (it expires at %s): %v\n",
			g.Token.ID, a.fmtTime(*g.Token.ExpiresAt), err)
	}
}

// tunnelEnv is the grant's environment with every address on the local tunnel at addr.
func tunnelEnv(g *platform.MeshGrant, addr string) map[string]string {
	u := (&url.URL{Scheme: "nats", User: url.UserPassword(g.User, g.Secret), Host: addr}).String()
	env := make(map[string]string, len(g.Env))
	for k, v := range g.Env {
		env[k] = v
	}
	for _, k := range []string{"MICRO_REGISTRY_ADDRESS", "MICRO_BROKER_ADDRESS", "MICRO_TRANSPORT_ADDRESS", "MICRO_NATS_ADDRESS"} {
		if _, ok := env[k]; ok {
			env[k] = u
		}
	}
	return env
}

// printExports writes env as POSIX shell exports, in meshEnvKeys' order.
func (a *app) printExports(env map[string]string) {
	for _, k := range meshEnvKeys {
		if v, ok := env[k]; ok {
			fmt.Fprintf(a.stdout, "export %s=%s\n", k, shellQuote(v))
		}
	}
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// runConnected runs args with the caller's environment plus env, passing the terminal
// through; on ctx's end (Ctrl-C) the command gets an interrupt and childGrace to exit.
// Its exit status becomes connect's.
func (a *app) runConnected(ctx context.Context, args []string, env map[string]string) error {
	path, err := exec.LookPath(args[0])
	if err != nil {
		return usageErrorf("%s: not found on PATH", args[0])
	}
	x := exec.Command(path, args[1:]...)
	x.Stdin, x.Stdout, x.Stderr = a.stdin, a.stdout, a.stderr
	for k, v := range a.env {
		if _, mine := env[k]; !mine {
			x.Env = append(x.Env, k+"="+v)
		}
	}
	for k, v := range env {
		x.Env = append(x.Env, k+"="+v)
	}
	slices.Sort(x.Env)
	if err := x.Start(); err != nil {
		return platform.Errorf(platform.EINVALID, "run %s: %v", args[0], err)
	}
	// Ctrl-C reaches the command from the terminal too; pass it on for when it does not
	// (connect signalled alone), then give the command childGrace to exit.
	exited := make(chan struct{})
	go func() {
		select {
		case <-exited:
		case <-ctx.Done():
			_ = x.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(childGrace):
				_ = x.Process.Kill()
			}
		}
	}()
	err = x.Wait()
	close(exited)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code := ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
		return &exitStatus{code: code}
	}
	return err
}

// exitStatus ends Run with a command's own exit status, printing nothing.
type exitStatus struct{ code int }

func (e *exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// tunnel is a local listener whose every connection is carried to the namespace's mesh
// server through the platform (client.DialMesh).
type tunnel struct {
	net.Listener
	wg sync.WaitGroup
}

// listenTunnel opens the local end of the tunnel on 127.0.0.1 and serves it until
// Close or ctx's end. It dials the platform once first, so a refusal (role, namespace)
// is reported here rather than by the process that connects.
func listenTunnel(ctx context.Context, c *client.Client, ns string) (*tunnel, error) {
	probe, err := c.DialMesh(ctx, ns)
	if err != nil {
		return nil, err
	}
	probe.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, platform.Errorf(platform.EUNAVAILABLE, "open the tunnel's local port: %v", err)
	}
	t := &tunnel{Listener: l}
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	go func() {
		for {
			local, err := l.Accept()
			if err != nil {
				return
			}
			t.wg.Add(1)
			go func() {
				defer t.wg.Done()
				defer local.Close()
				remote, err := c.DialMesh(ctx, ns)
				if err != nil {
					return
				}
				defer remote.Close()
				pipe(local, remote)
			}()
		}
	}()
	return t, nil
}

// pipe copies both ways between a and b until one side ends.
func pipe(a net.Conn, b io.ReadWriteCloser) {
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(b, a); done <- struct{}{} }()
	go func() { _, _ = io.Copy(a, b); done <- struct{}{} }()
	<-done
}

func (a *app) envCmd() *cobra.Command {
	var (
		ns  string
		ttl time.Duration
	)
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Print the MICRO_* exports that put a process into a namespace's mesh",
		Long: "env issues a mesh credential of yours for the namespace (as `platform connect`\n" +
			"does) and prints the MICRO_* environment that puts a go-micro process, or go-micro's\n" +
			"`micro` CLI, into the namespace's mesh, as shell exports:\n\n" +
			"    eval \"$(platform env -n acme)\"\n" +
			"    micro services\n\n" +
			"The addresses name the mesh server itself, which must be reachable from this machine\n" +
			"(the platform's own machine, or its network); from anywhere else use `platform\n" +
			"connect`, which tunnels through the platform's address. The credential lives --ttl\n" +
			"(its connections close then) unless revoked first: `platform connections revoke ID`.\n" +
			"-o json prints the credential, its secret and the environment.",
		Example: `  eval "$(platform env -n acme)"
  platform env -n acme --ttl 1h`,
		Args: args(0, 0, "no arguments"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			c, ns, err := a.connectNS(cmd, ns)
			if err != nil {
				return err
			}
			grant, err := c.Connect(cmd.Context(), platform.ConnectRequest{Namespace: ns, Name: connectionName("env"), TTL: ttl})
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(grant)
			}
			a.printExports(grant.Env)
			fmt.Fprintf(a.stderr, "# Mesh credential %s for %s, expires %s; revoke it with `platform connections revoke %s`.\n",
				grant.Token.ID, ns, a.fmtTime(*grant.Token.ExpiresAt), grant.Token.ID)
			return nil
		}),
	}
	addNamespaceFlag(cmd, &ns)
	cmd.Flags().DurationVar(&ttl, "ttl", platform.DefaultConnectTTL, "how long the credential lives (its connections close then); at most 24h")
	return cmd
}

func (a *app) connectionsCmd() *cobra.Command {
	var ns string
	list := func(cmd *cobra.Command, _ []string) error {
		c, ns, err := a.connectNS(cmd, ns)
		if err != nil {
			return err
		}
		conns, err := c.ListConnections(cmd.Context(), ns)
		if err != nil {
			return err
		}
		if a.jsonOutput() {
			return a.printJSON(orEmpty(conns))
		}
		if len(conns) == 0 {
			fmt.Fprintf(a.stdout, "No mesh credentials in %s. `platform connect -n %s -- COMMAND` runs a process in its mesh.\n", ns, ns)
			return nil
		}
		tw := table(a.stdout)
		fmt.Fprintln(tw, "ID\tNAME\tUSER\tEXPIRES\tCLIENTS\tFROM\tCONNECTED SINCE")
		for _, mc := range conns {
			t := mc.Token
			from, since := "-", "-"
			if len(mc.Clients) > 0 {
				var remotes []string
				first := mc.Clients[0].Since
				for _, cl := range mc.Clients {
					if host, _, err := net.SplitHostPort(cl.Remote); err == nil && !slices.Contains(remotes, host) {
						remotes = append(remotes, host)
					}
					if cl.Since.Before(first) {
						first = cl.Since
					}
				}
				from, since = strings.Join(remotes, ","), a.fmtTime(first)
			}
			expires := "-"
			if t.ExpiresAt != nil {
				expires = a.fmtTime(*t.ExpiresAt)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", t.ID, t.Name, orDash(t.User), expires, len(mc.Clients), from, since)
		}
		return tw.Flush()
	}
	cmd := &cobra.Command{
		Use:   "connections",
		Short: "List the mesh credentials of a namespace and who is connected with them",
		Long: "connections lists the namespace's mesh credentials (issued by `platform connect` and\n" +
			"`platform env`) that have not expired: yours, or everyone's for admins, with the\n" +
			"processes connected with each right now (how many, from where, since when).\n" +
			"revoke takes one back: its connections close within a second.",
		Example: `  platform connections -n acme
  platform connections revoke t-0123`,
		Args: args(0, 0, "a subcommand (list, revoke)"),
		RunE: a.run(list),
	}
	ls := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "List mesh credentials and their connections",
		Args: args(0, 0, "no arguments"), RunE: a.run(list)}
	revoke := a.revokeCmd("revoke ID", []string{"rm", "delete"}, "Revoke a mesh credential: its connections close at once",
		"revoked", "Revoked mesh credential %s: its connections close within a second.\n")
	for _, c := range []*cobra.Command{cmd, ls} {
		addNamespaceFlag(c, &ns)
	}
	cmd.AddCommand(ls, revoke)
	return cmd
}
