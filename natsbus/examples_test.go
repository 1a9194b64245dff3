package natsbus

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/micro/platform"
)

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// MustBuildExample builds examples/<name> with CGO_ENABLED=0 into a temp dir.
func MustBuildExample(tb testing.TB, name string) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join("..", "examples", name)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("build %s: %v\n%s", name, err, out)
	}
	return bin
}

// MustRunInstance runs bin with env the way the platform's local driver does, and
// returns its output and a function that stops it with SIGTERM and checks it exited 0.
func MustRunInstance(tb testing.TB, bin string, env map[string]string) (*syncBuffer, func()) {
	tb.Helper()
	cmd := exec.Command(bin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MICRO_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-done:
				if err != nil {
					tb.Errorf("%s exited with %v after SIGTERM\n%s", filepath.Base(bin), err, out)
				}
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				tb.Errorf("%s did not exit within 15s of SIGTERM", filepath.Base(bin))
			}
		})
	}
	tb.Cleanup(stop)
	return out, stop
}

// waitCall retries req until it succeeds or 60s pass, for an instance still starting.
func waitCall(tb testing.TB, b *Bus, req platform.CallRequest, logs *syncBuffer) []byte {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := b.Call(context.Background(), req)
		if err == nil {
			return out
		}
		if time.Now().After(deadline) {
			tb.Fatalf("call %s %s: %v\ninstance output:\n%s", req.Service, req.Endpoint, err, logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestExamplesEndToEnd builds the example services, runs them as real processes with
// nothing but InstanceEnv, and calls them through the Bus: helloworld directly, and
// greeter, which calls helloworld through its own go-micro client inside the namespace.
func TestExamplesEndToEnd(t *testing.T) {
	t.Parallel()
	b := MustStartBus(t, t.TempDir(), "acme", "globex")
	helloBin, greeterBin := MustBuildExample(t, "helloworld"), MustBuildExample(t, "greeter")
	env := func(ns string, extra map[string]string) map[string]string {
		e, err := b.InstanceEnv(ns)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range extra {
			e[k] = v
		}
		return e
	}

	helloLogs, stopHello := MustRunInstance(t, helloBin, env("acme", map[string]string{"MICRO_SERVER_ADDRESS": "127.0.0.1:0"}))
	out := waitCall(t, b, platform.CallRequest{
		Namespace: "acme", Service: "helloworld", Endpoint: "Helloworld.Call", Body: []byte(`{"name":"Alice"}`),
	}, helloLogs)
	var hello struct{ Message string }
	if err := json.Unmarshal(out, &hello); err != nil || hello.Message != "Hello Alice" {
		t.Fatalf("Helloworld.Call = %s (%v), want message Hello Alice", out, err)
	}

	// greeter keeps the transport's own unique subject: see the package notes on
	// MICRO_SERVER_ADDRESS.
	greeterLogs, stopGreeter := MustRunInstance(t, greeterBin, env("acme", nil))
	out = waitCall(t, b, platform.CallRequest{
		Namespace: "acme", Service: "greeter", Endpoint: "Greeter.Hello", Body: []byte(`{"name":"Alice"}`),
	}, greeterLogs)
	var greeting struct{ Greeting string }
	if err := json.Unmarshal(out, &greeting); err != nil || greeting.Greeting != "Hello Alice (via greeter)" {
		t.Fatalf("Greeter.Hello = %s (%v), want greeting Hello Alice (via greeter)", out, err)
	}

	// The same binaries in globex do not see acme's helloworld.
	globexLogs, _ := MustRunInstance(t, greeterBin, env("globex", nil))
	_, err := b.Call(context.Background(), platform.CallRequest{
		Namespace: "globex", Service: "helloworld", Endpoint: "Helloworld.Call", Body: []byte(`{"name":"Bob"}`),
	})
	if platform.ErrorCode(err) != platform.ENOTFOUND {
		t.Fatalf("globex sees acme's helloworld: %v", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := b.Services(context.Background(), "globex", "greeter"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("globex greeter never registered:\n%s", globexLogs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, err = b.Call(context.Background(), platform.CallRequest{
		Namespace: "globex", Service: "greeter", Endpoint: "Greeter.Hello", Body: []byte(`{"name":"Bob"}`),
	})
	if code := platform.ErrorCode(err); code != platform.EINTERNAL || !strings.Contains(platform.ErrorMessage(err), "helloworld") {
		t.Fatalf("globex greeter calling helloworld: %v, want an internal error relaying that helloworld is not found", err)
	}

	stopGreeter()
	stopHello()
	for name, logs := range map[string]*syncBuffer{"helloworld": helloLogs, "greeter": greeterLogs} {
		if want := `name="Alice"`; !strings.Contains(logs.String(), want) {
			t.Errorf("%s logs lack the request line %s:\n%s", name, want, logs)
		}
		// The platform's requests must not leave server sockets behind to time out.
		if bad := "error while serving connection"; strings.Contains(logs.String(), bad) {
			t.Errorf("%s logs %q:\n%s", name, bad, logs)
		}
	}
}
