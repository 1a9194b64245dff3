package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go-micro.dev/v5/broker"
	"go-micro.dev/v5/registry"
	natsreg "go-micro.dev/v5/registry/nats"
	microserver "go-micro.dev/v5/server"
	"go-micro.dev/v5/transport"
	natstr "go-micro.dev/v5/transport/nats"
)

// HelloRequest is the request of Helloworld.Call.
type HelloRequest struct {
	Name string `json:"name"`
}

// HelloResponse is the response of Helloworld.Call.
type HelloResponse struct {
	Msg string `json:"msg"`
}

// Helloworld is go-micro's example handler.
type Helloworld struct{}

// Call greets the caller.
func (*Helloworld) Call(_ context.Context, req *HelloRequest, rsp *HelloResponse) error {
	rsp.Msg = "Hello " + req.Name
	return nil
}

// startNATS starts an embedded NATS server with a user and returns its URL with
// credentials, as a namespace's MICRO_* addresses carry them.
func startNATS(t *testing.T) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true,
		Username: "acme", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("NATS not ready")
	}
	return strings.Replace(ns.ClientURL(), "nats://", "nats://acme:s3cret@", 1)
}

// TestRunMicro calls a real go-micro service over a real NATS registry and transport,
// configured through the MICRO_* environment.
func TestRunMicro(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NATS and a go-micro server")
	}
	url := startNATS(t)
	srv := microserver.NewRPCServer(
		microserver.Name("helloworld"),
		microserver.Registry(natsreg.NewNatsRegistry(registry.Addrs(url))),
		microserver.Transport(natstr.NewTransport(transport.Addrs(url))),
		microserver.Broker(broker.NewMemoryBroker()),
	)
	if err := srv.Handle(srv.NewHandler(&Helloworld{})); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	waitRegistered(t, url, "helloworld")

	env := map[string]string{"MICRO_REGISTRY": "nats", "MICRO_REGISTRY_ADDRESS": url,
		"MICRO_TRANSPORT": "nats", "MICRO_TRANSPORT_ADDRESS": url}
	code, out, errOut := runLoadgen(t, []string{"-mode", "micro", "-service", "helloworld", "-endpoint", "Helloworld.Call",
		"-body", `{"name":"Alice"}`, "-c", "4", "-d", "20s", "-n", "300"}, env)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	m := rowRE.FindStringSubmatch(strings.TrimSpace(out))
	if m == nil || m[1] != "micro" || m[2] != "300" || m[3] != "0" {
		t.Fatalf("output %q (stderr %q): want 300 micro requests without errors", out, errOut)
	}

	t.Run("wrong credentials", func(t *testing.T) {
		bad := strings.Replace(url, "s3cret", "wrong", 1)
		code, out, errOut := runLoadgen(t, []string{"-mode", "micro", "-service", "helloworld", "-endpoint", "Helloworld.Call",
			"-registry-address", bad, "-transport-address", bad, "-c", "1", "-d", "5s", "-n", "3", "-timeout", "2s"}, env)
		if code != 1 || !strings.Contains(out, "| micro | 3 | 3 |") {
			t.Fatalf("exit %d, output %q, stderr %q: want every call to fail", code, out, errOut)
		}
	})
}

// TestRunMicroWait starts loadgen -wait before the service exists and checks that it
// measures once the service registers, and soon after.
func TestRunMicroWait(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NATS and a go-micro server")
	}
	url := startNATS(t)
	env := map[string]string{"MICRO_REGISTRY": "nats", "MICRO_REGISTRY_ADDRESS": url,
		"MICRO_TRANSPORT": "nats", "MICRO_TRANSPORT_ADDRESS": url}
	type outcome struct {
		code     int
		out, err string
		at       time.Time
	}
	done := make(chan outcome, 1)
	go func() {
		code, out, errOut := runLoadgen(t, []string{"-mode", "micro", "-service", "late", "-endpoint", "Helloworld.Call",
			"-body", `{"name":"Alice"}`, "-c", "1", "-n", "3", "-d", "20s", "-timeout", "2s", "-wait", "20s"}, env)
		done <- outcome{code, out, errOut, time.Now()}
	}()
	time.Sleep(time.Second) // loadgen has asked for "late" and found nothing
	srv := microserver.NewRPCServer(
		microserver.Name("late"),
		microserver.Registry(natsreg.NewNatsRegistry(registry.Addrs(url))),
		microserver.Transport(natstr.NewTransport(transport.Addrs(url))),
		microserver.Broker(broker.NewMemoryBroker()),
	)
	if err := srv.Handle(srv.NewHandler(&Helloworld{})); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	o := <-done
	if o.code != 0 || !strings.Contains(o.out, "| micro | 3 | 0 |") {
		t.Fatalf("exit %d, output %q, stderr %q: want 3 calls without errors once the service is up", o.code, o.out, o.err)
	}
	if took := o.at.Sub(started); took > 3*time.Second {
		t.Fatalf("loadgen finished %v after the service started", took)
	}
}

// waitRegistered waits until service answers registry queries: the nats registry
// subscribes asynchronously, so a query right after Start may find nothing.
func waitRegistered(t *testing.T, url, service string) {
	t.Helper()
	reg := natsreg.NewNatsRegistry(registry.Addrs(url), registry.Timeout(200*time.Millisecond))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if svcs, err := reg.GetService(service); err == nil && len(svcs) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never registered", service)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
