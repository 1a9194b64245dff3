package natsbus

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"go-micro.dev/v5/broker"
	natsbroker "go-micro.dev/v5/broker/nats"
	merrors "go-micro.dev/v5/errors"
	"go-micro.dev/v5/logger"
	"go-micro.dev/v5/registry"
	natsreg "go-micro.dev/v5/registry/nats"
	"go-micro.dev/v5/server"
	"go-micro.dev/v5/transport"
	natstr "go-micro.dev/v5/transport/nats"

	"github.com/micro/platform"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// quietLogger keeps go-micro's per-service chatter out of test output.
var quietLogger = logger.NewLogger(logger.WithLevel(logger.ErrorLevel))

// newUUID returns a random UUID-shaped string, the form of go-micro server IDs.
func newUUID(tb testing.TB) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// MustStartBus starts a Bus on dir with testSecret and the given namespaces, and stops
// it when the test ends. It skips under -short.
func MustStartBus(tb testing.TB, dir string, namespaces ...string) *Bus {
	tb.Helper()
	if testing.Short() {
		tb.Skip("starts a NATS server")
	}
	b, err := New(Options{Dir: dir, Secret: testSecret})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Start(ctx) }()
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	if err := b.WaitReady(rctx); err != nil {
		cancel()
		tb.Fatalf("bus not ready: %v (start: %v)", err, <-done)
	}
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("bus Start returned %v", err)
		}
	}
	tb.Cleanup(stop)
	for _, ns := range namespaces {
		if err := b.EnsureNamespace(ctx, ns); err != nil {
			tb.Fatal(err)
		}
	}
	return b
}

// MustNamespaceURL returns ns's credentialed NATS URL from InstanceEnv.
func MustNamespaceURL(tb testing.TB, b *Bus, ns string) string {
	tb.Helper()
	env, err := b.InstanceEnv(ns)
	if err != nil {
		tb.Fatal(err)
	}
	return env["MICRO_REGISTRY_ADDRESS"]
}

// Greeter is the test service's handler. Hello answers "Hello <name> from <Tag>" or,
// for some names, a go-micro error.
type Greeter struct {
	Tag   string
	Delay time.Duration
}

// HelloRequest is Greeter.Hello's body.
type HelloRequest struct {
	Name string `json:"name"`
}

// HelloResponse is Greeter.Hello's answer.
type HelloResponse struct {
	Message string `json:"message"`
}

// Hello implements Greeter.Hello.
func (g *Greeter) Hello(ctx context.Context, req *HelloRequest, rsp *HelloResponse) error {
	if g.Delay > 0 {
		select {
		case <-time.After(g.Delay):
		case <-ctx.Done():
		}
	}
	const id = "greeter"
	switch req.Name {
	case "bad":
		return merrors.BadRequest(id, "name %q is not allowed", req.Name)
	case "unauth":
		return merrors.Unauthorized(id, "who are you")
	case "forbidden":
		return merrors.Forbidden(id, "not for you")
	case "missing":
		return merrors.NotFound(id, "no such person")
	case "slow":
		return merrors.Timeout(id, "upstream took too long")
	case "conflict":
		return merrors.Conflict(id, "already greeted")
	case "quota":
		return merrors.New(id, "slow down", 429)
	case "unavailable":
		return merrors.New(id, "database down", 503)
	case "gateway":
		return merrors.New(id, "upstream broke", 502)
	case "boom":
		return merrors.InternalServerError(id, "kaboom")
	case "plain":
		return errors.New("plain failure")
	}
	rsp.Message = fmt.Sprintf("Hello %s from %s", req.Name, g.Tag)
	return nil
}

// Debug is a health handler whose check fails when Err is set.
type Debug struct{ Err error }

// HealthRequest and HealthResponse are Debug.Health's messages.
type (
	HealthRequest  struct{}
	HealthResponse struct {
		Status string `json:"status"`
	}
)

// Health implements Debug.Health.
func (d *Debug) Health(ctx context.Context, req *HealthRequest, rsp *HealthResponse) error {
	if d.Err != nil {
		return merrors.InternalServerError("debug", "%v", d.Err)
	}
	rsp.Status = "ok"
	return nil
}

// meshParts are go-micro's NATS registry, transport and broker on one namespace URL,
// configured the way service.Init() configures them from InstanceEnv.
type meshParts struct {
	reg registry.Registry
	tr  transport.Transport
	br  broker.Broker
}

func newMeshParts(u string) meshParts {
	return meshParts{
		reg: natsreg.NewNatsRegistry(registry.Addrs(u)),
		tr:  natstr.NewTransport(transport.Addrs(u)),
		br:  natsbroker.NewNatsBroker(broker.Addrs(u)),
	}
}

// MustStartService runs an in-process go-micro RPC server named name in the namespace
// behind u, with the given handlers, until the test ends or stop is called. A handler
// that is a server.Handler already (made with handler options) is registered as it is.
func MustStartService(tb testing.TB, u, name, version string, handlers ...any) (srv server.Server, stop func()) {
	tb.Helper()
	p := newMeshParts(u)
	srv = server.NewRPCServer(
		server.Name(name),
		// Each server needs its own ID: the default is one per process.
		server.Id(newUUID(tb)),
		server.WithLogger(quietLogger),
		server.Version(version),
		server.Registry(p.reg),
		server.Transport(p.tr),
		server.Broker(p.br),
	)
	for _, h := range handlers {
		hd, ok := h.(server.Handler)
		if !ok {
			hd = srv.NewHandler(h)
		}
		if err := srv.Handle(hd); err != nil {
			tb.Fatal(err)
		}
	}
	if err := srv.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	var stopped bool
	stop = func() {
		if !stopped {
			stopped = true
			if err := srv.Stop(); err != nil {
				tb.Errorf("stop %s: %v", name, err)
			}
		}
	}
	tb.Cleanup(stop)
	return srv, stop
}

// MustCall calls Greeter.Hello with name in ns and returns the message. It retries
// while the service is not found for up to 10s: a service registered an instant ago may
// not have answered the platform's first registry query in time.
func MustCall(tb testing.TB, b *Bus, ns, service, name string) string {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := b.Call(context.Background(), platform.CallRequest{
			Namespace: ns, Service: service, Endpoint: "Greeter.Hello",
			Body: []byte(fmt.Sprintf(`{"name":%q}`, name)), Timeout: 10 * time.Second,
		})
		if platform.IsNotFound(err) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if err != nil {
			tb.Fatalf("call %s/%s: %v", ns, service, err)
		}
		return decodeMessage(tb, out)
	}
}
