// Package stripetest gives a test binary one stripe-mock, Stripe's mock of its API, shared
// by all its tests, and a Recorder to put in front of it.
//
// stripe-mock checks every request against Stripe's OpenAPI spec (an unknown parameter, a
// missing one or a bad value is a 400, as from Stripe) and answers with fixtures, but it
// keeps no state: every id exists, a created object is never listed, a finalised invoice
// still says draft, and it knows nothing of idempotency keys. The Recorder adds the part of
// Stripe's behaviour that idempotency depends on, and records what reached "Stripe".
//
// A package's TestMain calls Main; tests call URL. The binary comes from
// scripts/build-stripe-mock, which scripts/test and .ci/run run before the tests; it is
// looked up in PLATFORM_TEST_STRIPE_MOCK, else in $PLATFORM_TEST_CACHE/stripe-mock, else in
// ~/.cache/micro-platform-test/stripe-mock, else on PATH. Under -short URL skips the test;
// otherwise a missing binary fails it with the command that builds it.
package stripetest

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Key is an API key stripe-mock accepts: any "valid looking testmode secret API key".
const Key = "sk_test_stripetest"

var shared struct {
	mu      sync.Mutex
	main    bool // Main runs the tests
	cmd     *exec.Cmd
	url     string
	err     error
	exited  chan struct{}
	started bool
}

// Binary returns the stripe-mock the tests run, or an error that says how to build it.
func Binary() (string, error) {
	if p := os.Getenv("PLATFORM_TEST_STRIPE_MOCK"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("PLATFORM_TEST_STRIPE_MOCK: %w", err)
		}
		return p, nil
	}
	cache := os.Getenv("PLATFORM_TEST_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		cache = filepath.Join(home, ".cache", "micro-platform-test")
	}
	dir := filepath.Join(cache, "stripe-mock")
	p := filepath.Join(dir, "stripe-mock")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("no stripe-mock in %s: build it with `scripts/build-stripe-mock %s` "+
		"(scripts/test and .ci/run do), set PLATFORM_TEST_STRIPE_MOCK, or run `go test -short` to skip these tests", dir, dir)
}

// Main runs the tests and stops the stripe-mock they started, if any. Use it as
//
//	func TestMain(m *testing.M) { os.Exit(stripetest.Main(m)) }
func Main(m *testing.M) int {
	flag.Parse()
	shared.mu.Lock()
	shared.main = true
	shared.mu.Unlock()
	code := m.Run()
	Stop()
	return code
}

// URL returns the base URL of the test binary's stripe-mock ("http://127.0.0.1:PORT"),
// starting it on first use. It skips the test under -short and fails it when stripe-mock
// is missing or does not start.
func URL(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs stripe-mock; skipped under -short (scripts/build-stripe-mock builds it)")
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.main {
		tb.Fatal("stripetest.URL needs stripetest.Main in the package's TestMain, which stops stripe-mock")
	}
	if !shared.started {
		shared.started = true
		shared.url, shared.err = start()
	}
	if shared.err != nil {
		tb.Fatal(shared.err)
	}
	select {
	case <-shared.exited:
		tb.Fatalf("stripe-mock at %s has exited", shared.url)
	default:
	}
	return shared.url
}

// start runs stripe-mock on loopback ports the kernel picks and reads the HTTP one from
// its "Listening for HTTP at address: 127.0.0.1:PORT" line. Both listeners are given an
// address: with only one, stripe-mock would take its default port for the other.
func start() (string, error) {
	bin, err := Binary()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	setDeathSignal(cmd)
	// A pipe of our own rather than StdoutPipe, which Wait would close under the reader.
	out, w, err := os.Pipe()
	if err != nil {
		return "", err
	}
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		out.Close()
		return "", fmt.Errorf("start %s: %w", bin, err)
	}
	found := make(chan string, 1)
	var head strings.Builder // what it printed before the address, for the error
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if !sent {
				if addr, ok := strings.CutPrefix(line, "Listening for HTTP at address: "); ok {
					found <- strings.TrimSpace(addr)
					sent = true
					continue
				}
				if head.Len() < 4096 {
					head.WriteString(line + "\n")
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
		out.Close()
		if !sent {
			close(found)
		}
	}()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	select {
	case addr, ok := <-found:
		if !ok {
			<-exited
			return "", fmt.Errorf("stripe-mock (%s) exited before listening: %s", bin, head.String())
		}
		shared.cmd, shared.exited = cmd, exited
		return "http://" + addr, nil
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		return "", errors.New("stripe-mock did not say where it listens within 30s")
	}
}

// Stop stops the shared stripe-mock; Main calls it.
func Stop() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.cmd == nil {
		return
	}
	_ = shared.cmd.Process.Kill()
	<-shared.exited
	shared.cmd = nil
}
