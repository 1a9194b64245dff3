// Package kubetest gives a test binary one real Kubernetes API server (kube-apiserver + etcd,
// envtest-style, no kubelet) shared by all its tests. A package's TestMain calls Main (or, when
// it does more, Start and then the stop it returns); tests call Config for a *rest.Config,
// and Kubectl for the kubectl built beside the server.
//
// The binaries come from scripts/build-k8s, which scripts/test runs before the tests; they are
// looked up in KUBEBUILDER_ASSETS, else in $PLATFORM_TEST_CACHE/k8s, else in
// ~/.cache/micro-platform-test/k8s. Under -short nothing is started and Config skips the test;
// otherwise missing binaries fail the test with the command that builds them.
package kubetest

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

var (
	env      *envtest.Environment
	cfg      *rest.Config
	startErr error
	started  bool
)

// AssetsDir is where the kube-apiserver, etcd and kubectl binaries are looked up.
func AssetsDir() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	cache := os.Getenv("PLATFORM_TEST_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		cache = filepath.Join(home, ".cache", "micro-platform-test")
	}
	return filepath.Join(cache, "k8s")
}

// Main starts the API server (unless -short), runs the tests and stops it. Use it as
//
//	func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }
func Main(m *testing.M) int {
	flag.Parse()
	stop, _ := Start()
	code := m.Run()
	stop()
	return code
}

// Start starts the API server (unless -short) for a TestMain that does more than Main:
// call it after flag.Parse and call stop after m.Run. A start error is returned and also
// kept, so Config fails the tests that need the server while the others still run.
func Start() (stop func(), err error) {
	started = true
	if !testing.Short() {
		dir := AssetsDir()
		if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err != nil {
			startErr = fmt.Errorf("no kube-apiserver in %s: build it with `scripts/build-k8s %s` "+
				"(scripts/test does), set KUBEBUILDER_ASSETS, or run `go test -short` to skip these tests", dir, dir)
		} else {
			env = &envtest.Environment{BinaryAssetsDirectory: dir}
			cfg, startErr = env.Start()
			if startErr != nil {
				startErr = fmt.Errorf("start kube-apiserver and etcd from %s: %w", dir, startErr)
			}
		}
	}
	return func() {
		if env != nil && cfg != nil {
			if err := env.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "kubetest: stop API server: %v\n", err)
			}
		}
	}, startErr
}

// Config returns a client configuration for the shared API server, with full (system:masters)
// rights. It skips the test under -short and fails it when the server could not start.
func Config(tb testing.TB) *rest.Config {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs a kube-apiserver; skipped under -short")
	}
	if !started {
		tb.Fatal("kubetest.Config needs kubetest.Main in the package's TestMain")
	}
	if startErr != nil {
		tb.Fatal(startErr)
	}
	return rest.CopyConfig(cfg)
}

// Kubectl returns the path of the kubectl built with the API server, failing the test when
// it is missing.
func Kubectl(tb testing.TB) string {
	tb.Helper()
	p := filepath.Join(AssetsDir(), "kubectl")
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("no kubectl in %s: build it with `scripts/build-k8s %s` (scripts/test does)", AssetsDir(), AssetsDir())
	}
	return p
}

// Environment returns the running envtest environment, for tests that need to add users
// with other rights (env.AddUser). Call Config first.
func Environment() *envtest.Environment { return env }
