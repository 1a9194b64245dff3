package server

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/go-logr/logr"
	"github.com/google/go-containerregistry/pkg/authn"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	platform "github.com/micro/platform"
	"github.com/micro/platform/builder"
	"github.com/micro/platform/internal/seal"
	"github.com/micro/platform/oci"
	"github.com/micro/platform/oci/registry"
	"github.com/micro/platform/runtime"
	"github.com/micro/platform/runtime/kubernetes"
	"github.com/micro/platform/runtime/local"
)

// closer is a runtime driver the App closes when it stops.
type closer interface {
	runtime.Driver
	io.Closer
}

// newDriver returns the configured runtime driver, reporting instance events to onEvent.
// With the kubernetes runtime and the platform's own registry, each platform namespace's
// pods pull with that namespace's pull credential (derived from secret); with an external
// registry, with the nodes' own credentials.
func (a *App) newDriver(secret []byte, onEvent runtime.EventFunc) (closer, error) {
	cfg := a.cfg
	switch cfg.Runtime {
	case RuntimeKubernetes:
		// client-go and controller-runtime log through klog and logr: into the server's log,
		// not raw to stderr.
		kl := a.logger.With("component", "kubernetes")
		klog.SetSlogLogger(kl)
		ctrllog.SetLogger(logr.FromSlogHandler(kl.Handler()))
		rc, err := kubernetes.LoadConfig(cfg.Kubeconfig)
		if err != nil {
			return nil, err
		}
		var pull func(string) (string, string, string, bool)
		if cfg.Registry == "" {
			natsPort, err := a.natsPort()
			if err != nil {
				return nil, err
			}
			addr, err := stableAddr(filepath.Join(cfg.DataDir, "registry.addr"), cfg.RegistryAddr, natsPort)
			if err != nil {
				return nil, fmt.Errorf("registry address: %w", err)
			}
			pull = pullCredential(secret, addr)
		}
		mesh, err := a.kubeMesh()
		if err != nil {
			return nil, err
		}
		return kubernetes.New(kubernetes.Options{
			Config:          rc,
			PullCredential:  pull,
			NamespacePrefix: cfg.KubeNamespacePrefix,
			Owner:           cfg.KubeOwner,
			Mesh:            mesh,
			EgressExcept:    cfg.KubeEgressExcept,
			StopGrace:       cfg.StopGrace,
			OnEvent:         onEvent,
			Logger:          a.logger.With("component", "runtime"),
		})
	default:
		box, err := seal.New(secret, "runtime-env")
		if err != nil {
			return nil, err
		}
		return local.New(local.Options{
			Sandbox:     a.iso.box,
			Secrets:     box,
			Dir:         filepath.Join(cfg.DataDir, "runtime"),
			StopGrace:   cfg.StopGrace,
			Logger:      a.logger.With("component", "runtime"),
			OnEvent:     onEvent,
			LogMetering: a.logMetering,
		})
	}
}

// kubeMesh returns what instances' NetworkPolicy lets them reach NATS on: with nats_url,
// the mesh pods on the URL's port; with NATS embedded, the control-plane pods (the
// gateway's selector) on the embedded server's port, since that is where it runs.
// kube_mesh_namespace and kube_mesh_labels override the selector either way.
func (a *App) kubeMesh() (kubernetes.Mesh, error) {
	cfg := a.cfg
	var mesh kubernetes.Mesh
	if cfg.NATSURL != "" {
		mesh = kubernetes.DefaultMesh()
		port, err := natsURLPort(cfg.NATSURL)
		if err != nil {
			return mesh, platform.Errorf(platform.EINVALID, "nats_url %q: %v", cfg.NATSURL, err)
		}
		mesh.Port = port
	} else {
		gw := kubernetes.DefaultGateway()
		port, err := a.natsPort()
		if err != nil {
			return mesh, err
		}
		mesh = kubernetes.Mesh{Namespace: gw.Namespace, Labels: gw.Labels, Port: int32(port)}
		// NATS on a specific address (not every one) runs outside the cluster, on this
		// process's host: instances may connect there.
		if ip, err := netip.ParseAddr(natsAdvertiseHost(cfg)); err == nil && !ip.IsUnspecified() && !ip.IsLoopback() {
			mesh.Addresses = []string{netip.PrefixFrom(ip, ip.BitLen()).String()}
		}
	}
	if cfg.KubeMeshNamespace != "" {
		mesh.Namespace = cfg.KubeMeshNamespace
	}
	if len(cfg.KubeMeshLabels) > 0 {
		mesh.Labels = maps.Clone(cfg.KubeMeshLabels)
	}
	return mesh, nil
}

// natsAdvertiseHost is the host instances dial for the embedded NATS: nats_advertise's,
// else nats_host.
func natsAdvertiseHost(cfg Config) string {
	if cfg.NATSAdvertise != "" {
		if h, _, err := net.SplitHostPort(cfg.NATSAdvertise); err == nil {
			return h
		}
		return cfg.NATSAdvertise
	}
	return cfg.NATSHost
}

// artifactBuilder returns what turns source into the driver's artifact: the binary
// builder itself for the local runtime; for kubernetes, the binary packed into an OCI
// image and pushed (imageOptions).
func (a *App) artifactBuilder(b *builder.Builder, secret []byte) (platform.Builder, error) {
	if a.cfg.Runtime != RuntimeKubernetes {
		return b, nil
	}
	opts, err := a.imageOptions(secret)
	if err != nil {
		return nil, err
	}
	return oci.New(b, opts)
}

// imageOptions returns where the kubernetes runtime's images go: the configured registry,
// or the platform's own, which it then creates (a.registry) to be served by Run.
func (a *App) imageOptions(secret []byte) (oci.Options, error) {
	cfg := a.cfg
	opts := oci.Options{
		Registry: cfg.Registry,
		Dir:      filepath.Join(cfg.DataDir, "images"),
		Logger:   a.logger.With("component", "images"),
		Keychain: authn.DefaultKeychain,
	}
	if cfg.Registry != "" {
		return opts, nil
	}
	addr, err := stableAddr(filepath.Join(cfg.DataDir, "registry.addr"), cfg.RegistryAddr)
	if err != nil {
		return opts, fmt.Errorf("registry address: %w", err)
	}
	host, _, _ := net.SplitHostPort(addr)
	a.registry, err = registry.New(registry.Options{
		Dir: filepath.Join(cfg.DataDir, "registry"), Addr: addr, Secret: secret,
		RequirePullAuth: !net.ParseIP(host).IsLoopback(),
		Logger:          a.logger.With("component", "registry"),
	})
	if err != nil {
		return opts, err
	}
	push := registry.PushCredential(secret)
	opts.Registry = addr
	opts.Auth = &authn.Basic{Username: push.Username, Password: push.Password}
	opts.Keychain = nil
	return opts, nil
}

// pullCredential returns, for the platform's own registry at addr (the host of every image
// reference it serves), the credential that pulls namespace ns's images and no other's.
func pullCredential(secret []byte, addr string) func(ns string) (string, string, string, bool) {
	return func(ns string) (string, string, string, bool) {
		c := registry.PullCredential(secret, ns)
		return addr, c.Username, c.Password, true
	}
}

// stableAddr returns addr, or, when its port is 0, the address chosen at first start and
// kept in file: references to what is served there (NATS URLs in instances' environment,
// image references in releases) must survive a restart.
func stableAddr(file, addr string, avoid ...int) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if port != "0" {
		return addr, nil
	}
	b, err := loadOrCreate(file, func() ([]byte, error) {
		// A port picked the same way moments ago (the NATS port, which NATS binds only
		// later) is free again, and the kernel may well hand it out twice: hold each
		// unwanted one open while asking for another.
		for range 16 {
			l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
			if err != nil {
				return nil, err
			}
			defer l.Close()
			if p := l.Addr().(*net.TCPAddr).Port; !slices.Contains(avoid, p) {
				return []byte(strconv.Itoa(p)), nil
			}
		}
		return nil, fmt.Errorf("no free port on %s", host)
	})
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, string(b)), nil
}

// startRegistry serves the platform's own registry, if there is one, until ctx ends.
func (a *App) startRegistry(ctx context.Context) error {
	if a.registry == nil {
		return nil
	}
	return a.registry.Start(ctx)
}
