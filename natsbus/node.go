package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/micro/platform"
)

// namespacesFile, in a Node's Dir, lists the namespaces the platform ensured.
const namespacesFile = "namespaces.json"

// Node is a mesh node: the NATS server with JetStream and one account per namespace, run
// in a process of its own (`platform mesh`) for a platform whose Bus has Options.Remote
// pointing at it. It admits the same derived credentials as an embedded Bus, and takes
// the list of namespaces from the platform over the control connection, keeping it in
// Dir so that it admits them again at once after a restart. Create it with NewNode and
// run it with Start.
type Node struct {
	bus   *Bus
	file  string
	ready chan struct{} // closed once control requests are answered

	mu sync.Mutex // serialises control requests and writes of file
}

// NewNode validates opts (Dir and Secret are required, Remote must be empty) and returns
// a Node that is not started yet.
func NewNode(opts Options) (*Node, error) {
	if opts.Remote != "" {
		return nil, platform.Errorf(platform.EINVALID, "natsbus: a Node cannot have Remote set")
	}
	b, err := New(opts)
	if err != nil {
		return nil, err
	}
	b.control = true
	return &Node{bus: b, file: filepath.Join(b.opts.Dir, namespacesFile), ready: make(chan struct{})}, nil
}

// Start runs the node until ctx ends: it admits the namespaces kept in Dir, starts the
// server and answers the platform's control requests. It returns an error if the server
// cannot start or the kept list cannot be read.
func (n *Node) Start(ctx context.Context) error {
	names, err := n.load()
	if err != nil {
		return err
	}
	for _, ns := range names {
		if err := n.bus.EnsureNamespace(ctx, ns); err != nil {
			return fmt.Errorf("natsbus: %s lists namespace %q: %w", n.file, ns, err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- n.bus.Start(ctx) }()
	select {
	case err := <-done:
		if err == nil {
			err = ctx.Err()
		}
		return err
	case <-n.bus.Ready():
	}

	// The node's own control client connects in process with the control credentials.
	conn, err := nats.Connect("", nats.InProcessServer(n.bus.server()), nats.Name("mesh-control"),
		nats.UserInfo(controlUser, n.bus.controlPassword()))
	if err != nil {
		cancel()
		<-done
		return fmt.Errorf("natsbus: connect control client: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Subscribe(controlSubject+"*", n.handle); err != nil {
		cancel()
		<-done
		return fmt.Errorf("natsbus: subscribe to control requests: %w", err)
	}
	if err := conn.Flush(); err != nil {
		cancel()
		<-done
		return fmt.Errorf("natsbus: subscribe to control requests: %w", err)
	}
	close(n.ready)
	n.bus.opts.Logger.Info("mesh node ready", "listen", n.Addr(), "namespaces", len(names))
	return <-done
}

// WaitReady blocks until the node accepts connections and control requests, or ctx
// ends (EUNAVAILABLE).
func (n *Node) WaitReady(ctx context.Context) error {
	select {
	case <-n.ready:
		return nil
	case <-ctx.Done():
		return platform.Errorf(platform.EUNAVAILABLE, "mesh node not ready: %v", ctx.Err())
	}
}

// Addr is the host:port the node listens on, "" before it is ready.
func (n *Node) Addr() string {
	srv := n.bus.server()
	if srv == nil {
		return ""
	}
	// A server that is shutting down has no address any more.
	if a := srv.Addr(); a != nil {
		return a.String()
	}
	return ""
}

// GatewayURL is the node's gateway URL for other regions' seeds, "" without gateways or
// before it is ready (see Bus.GatewayURL).
func (n *Node) GatewayURL() string { return n.bus.GatewayURL() }

// ConnectedRegions lists the other regions the node is connected to (see
// Bus.ConnectedRegions).
func (n *Node) ConnectedRegions() []string { return n.bus.ConnectedRegions() }

// handle answers one control request.
func (n *Node) handle(m *nats.Msg) {
	op := m.Subject[len(controlSubject):]
	ns := string(m.Data)
	var err error
	switch op {
	case opEnsure:
		err = n.apply(ns, true)
	case opRemove:
		err = n.apply(ns, false)
	case opSync:
		ns = "" // the body is the list, not one name
		err = n.sync(m.Data)
	default:
		err = platform.Errorf(platform.EINVALID, "unknown control operation %q", op)
	}
	var r controlReply
	if err != nil {
		r.Code, r.Message = platform.ErrorCode(err), err.Error()
		n.bus.opts.Logger.Warn("control request failed", "op", op, "namespace", ns, "err", err)
	}
	b, _ := json.Marshal(r)
	_ = m.Respond(b)
}

// apply ensures (add) or removes namespace ns and keeps the list in Dir.
func (n *Node) apply(ns string, add bool) error {
	if err := platform.ValidateName("namespace", ns); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	ctx := context.Background()
	if add {
		if err := n.bus.EnsureNamespace(ctx, ns); err != nil {
			return err
		}
	} else if err := n.bus.RemoveNamespace(ctx, ns); err != nil {
		return err
	}
	return n.save()
}

// sync makes body, the JSON list of every namespace of the platform, the node's list:
// it ensures each and removes every other namespace (closing its connections), then
// keeps the list in Dir. EINVALID, and nothing changes, for a body that is not a list of
// valid names.
func (n *Node) sync(body []byte) error {
	names, err := parseNamespaces(body)
	if err != nil {
		return platform.Errorf(platform.EINVALID, "namespace list: %v", err)
	}
	want := make(map[string]bool, len(names))
	for _, ns := range names {
		want[ns] = true
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	ctx := context.Background()
	var errs []error
	for _, ns := range names {
		if err := n.bus.EnsureNamespace(ctx, ns); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ns := range n.Namespaces() {
		if want[ns] {
			continue
		}
		if err := n.bus.RemoveNamespace(ctx, ns); err != nil {
			errs = append(errs, err)
			continue
		}
		n.bus.opts.Logger.Info("namespace not in the platform's list removed", "namespace", ns)
	}
	return errors.Join(append(errs, n.save())...)
}

// Namespaces returns the namespaces the node admits, sorted.
func (n *Node) Namespaces() []string {
	n.bus.mu.RLock()
	defer n.bus.mu.RUnlock()
	names := make([]string, 0, len(n.bus.namespaces))
	for ns := range n.bus.namespaces {
		names = append(names, ns)
	}
	slices.Sort(names)
	return names
}

// load reads the kept namespace list; none when the file does not exist yet. A file
// that is empty or not a JSON list of valid namespace names (e.g. written by a version
// that did not sync it before a power loss) is moved aside to namespaces.json.corrupt,
// logged, and the node starts with no namespace: the platform sends the Node every
// namespace it knows as soon as it connects (Bus.resync, and the control plane ensures
// every stored namespace at start), so the namespaces' instances are refused only until
// then. An unreadable file (permissions, I/O) stays an error.
func (n *Node) load() ([]string, error) {
	b, err := os.ReadFile(n.file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, platform.Errorf(platform.EINTERNAL, "natsbus: read namespace list %s: %v", n.file, err).
			WithHint("fix the file's permissions or remove it; the platform re-sends every namespace when it connects")
	}
	names, perr := parseNamespaces(b)
	if perr == nil {
		return names, nil
	}
	aside := n.file + ".corrupt"
	if err := os.Rename(n.file, aside); err != nil {
		return nil, platform.Errorf(platform.EINTERNAL, "natsbus: namespace list %s is corrupt (%v) and cannot be moved aside: %v", n.file, perr, err).
			WithHint("remove the file; the platform re-sends every namespace when it connects")
	}
	n.bus.opts.Logger.Error("namespace list corrupt, moved aside; starting with no namespace until the platform connects and re-sends them",
		"file", n.file, "moved_to", aside, "err", perr)
	return nil, nil
}

// parseNamespaces decodes a kept namespace list, checking every name.
func parseNamespaces(b []byte) ([]string, error) {
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return nil, err
	}
	if names == nil {
		return nil, errors.New("not a JSON list")
	}
	var errs []error
	for _, ns := range names {
		if err := platform.ValidateName("namespace", ns); err != nil {
			errs = append(errs, err)
		}
	}
	return names, errors.Join(errs...)
}

// save writes the namespace list durably: to a temporary file that is synced, then
// renamed over the list, then the directory is synced, so that after a crash or power
// loss the file holds either the old list or the new one, never a partial one.
func (n *Node) save() error {
	tmp, err := n.writeTemp(n.Namespaces())
	if err != nil {
		return err
	}
	return n.commit(tmp)
}

// writeTemp writes names to the temporary file next to the list and syncs it.
func (n *Node) writeTemp(names []string) (string, error) {
	if names == nil {
		names = []string{}
	}
	b, err := json.Marshal(names)
	if err != nil {
		return "", err
	}
	tmp := n.file + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", fmt.Errorf("natsbus: write namespace list: %w", err)
	}
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Sync()
	}
	if err := errors.Join(werr, f.Close()); err != nil {
		return "", fmt.Errorf("natsbus: write namespace list %s: %w", tmp, err)
	}
	return tmp, nil
}

// commit renames the synced temporary file over the list and syncs the directory so
// that the rename itself survives a power loss.
func (n *Node) commit(tmp string) error {
	if err := os.Rename(tmp, n.file); err != nil {
		return fmt.Errorf("natsbus: write namespace list: %w", err)
	}
	d, err := os.Open(filepath.Dir(n.file))
	if err != nil {
		return fmt.Errorf("natsbus: sync namespace list directory: %w", err)
	}
	if err := errors.Join(d.Sync(), d.Close()); err != nil {
		return fmt.Errorf("natsbus: sync namespace list directory: %w", err)
	}
	return nil
}
