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

// load reads the kept namespace list; none when the file does not exist yet.
func (n *Node) load() ([]string, error) {
	b, err := os.ReadFile(n.file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("natsbus: read namespace list: %w", err)
	}
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return nil, fmt.Errorf("natsbus: namespace list %s: %w", n.file, err)
	}
	return names, nil
}

// save writes the namespace list atomically.
func (n *Node) save() error {
	b, err := json.Marshal(n.Namespaces())
	if err != nil {
		return err
	}
	tmp := n.file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("natsbus: write namespace list: %w", err)
	}
	if err := os.Rename(tmp, n.file); err != nil {
		return fmt.Errorf("natsbus: write namespace list: %w", err)
	}
	return nil
}
