package natsbus

import (
	"context"
	"testing"
	"time"

	"go-micro.dev/v5/client"
	"go-micro.dev/v5/selector"

	"github.com/micro/platform"
)

// BenchmarkCall measures Call, the gateway's hot path, against an in-process service
// in the same namespace, with parallel callers.
func BenchmarkCall(b *testing.B) {
	bus := MustStartBus(b, b.TempDir(), "acme")
	MustStartService(b, MustNamespaceURL(b, bus, "acme"), "greeter", "v1", &Greeter{Tag: "bench"})
	req := platform.CallRequest{
		Namespace: "acme", Service: "greeter", Endpoint: "Greeter.Hello", Body: []byte(`{"name":"bench"}`),
	}
	MustCall(b, bus, "acme", "greeter", "warm")
	b.ReportAllocs()
	b.SetParallelism(8) // 16 callers on 2 CPUs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := bus.Call(context.Background(), req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGoMicroClient measures a plain go-micro client, configured the way
// service.Init() configures it from InstanceEnv, calling the same service: the
// baseline for BenchmarkCall.
func BenchmarkGoMicroClient(b *testing.B) {
	bus := MustStartBus(b, b.TempDir(), "acme")
	u := MustNamespaceURL(b, bus, "acme")
	MustStartService(b, u, "greeter", "v1", &Greeter{Tag: "bench"})
	p := newMeshParts(u)
	c := client.NewClient(
		client.Registry(p.reg),
		client.Transport(p.tr),
		client.Selector(selector.NewSelector(selector.Registry(p.reg))),
	)
	call := func() error {
		var rsp HelloResponse
		return c.Call(context.Background(), c.NewRequest("greeter", "Greeter.Hello", &HelloRequest{Name: "bench"}), &rsp)
	}
	// The registry's broadcast query waits only 100ms by default: retry while a busy
	// machine answers late.
	var err error
	for range 50 {
		if err = call(); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(8) // 16 callers on 2 CPUs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := call(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
