// Package server wires every part of the platform into one process: store, embedded NATS,
// builder, runtime driver, reconciler, gateway and HTTP API. `platform server` is a thin
// wrapper over it, and end-to-end tests start it on :0 with a temp data dir.
package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	platform "github.com/micro/platform"
	"github.com/micro/platform/alerting"
	"github.com/micro/platform/auth"
	"github.com/micro/platform/billing"
	"github.com/micro/platform/builder"
	"github.com/micro/platform/control"
	"github.com/micro/platform/dashboard"
	"github.com/micro/platform/gateway"
	"github.com/micro/platform/github"
	"github.com/micro/platform/gitops"
	platformhttp "github.com/micro/platform/http"
	"github.com/micro/platform/internal/seal"
	"github.com/micro/platform/logstore"
	"github.com/micro/platform/mcp"
	"github.com/micro/platform/natsbus"
	"github.com/micro/platform/oci/registry"
	"github.com/micro/platform/runtime"
	"github.com/micro/platform/sqlstore"
)

// Run starts the platform with cfg and serves until ctx ends. At first start it prints
// the admin token to stdout once (and keeps it in DataDir/admin.token, mode 0600). Logs
// go to stdout too.
func Run(ctx context.Context, cfg Config, stdout io.Writer) error {
	app, err := New(ctx, cfg, stdout)
	if err != nil {
		return err
	}
	return app.Run(ctx)
}

// App is a configured platform process.
type App struct {
	cfg    Config
	logger *slog.Logger
	out    io.Writer

	store    *sqlstore.Store
	bus      *natsbus.Bus
	plane    *control.Plane
	gw       *gateway.Gateway
	mcp      *mcp.Handler
	api      *platformhttp.Server
	driver   closer
	registry *registry.Registry // the platform's own image registry, kubernetes runtime only
	auth     *auth.Authenticator
	github   *github.Integration // sign-in with GitHub and team sync, when configured
	gitops   *gitops.Worker      // deploys what linked repositories push
	alerts   *alerting.Engine    // nil when alerting is off
	usage    *usagePipe          // the metering pipeline's entrance
	invoicer *billing.Invoicer   // nil when billing is off
	// logMetering counts the local runtime's log bytes (off: no Publisher).
	logMetering logstore.MeterOptions
	metrics     *prometheus.Registry // the /metrics registry
	lock        *os.File             // held while the App owns DataDir
	iso         isolation            // the local runtime's sandbox
	warm        *warmUp              // the build cache warm-up; nil when off
}

// New opens the store and builds every component; nothing is served until Run.
func New(ctx context.Context, cfg Config, stdout io.Writer) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// The data dir holds the secret key, the admin token and the database: the owner's
	// only, an existing one (an older version made it 0755) tightened. One the server may
	// not chmod is left as it is: a Kubernetes volume's root belongs to root (fsGroup gives
	// the pod's group access only), the pod runs one user, and the files in it are made
	// 0600.
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, platform.Errorf(platform.EINVALID, "data dir %s: %v", cfg.DataDir, err)
	}
	if err := os.Chmod(cfg.DataDir, 0o700); err != nil && !errors.Is(err, fs.ErrPermission) {
		return nil, platform.Errorf(platform.EINVALID, "data dir %s: %v", cfg.DataDir, err)
	}
	logger, err := newLogger(cfg, stdout)
	if err != nil {
		return nil, err
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, logger: logger, out: stdout, lock: lock}
	if err := a.build(ctx); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

func (a *App) build(ctx context.Context) error {
	cfg := a.cfg
	secret, err := loadOrCreate(filepath.Join(cfg.DataDir, "secret.key"), func() ([]byte, error) {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return b, err
	})
	if err != nil {
		return fmt.Errorf("secret key: %w", err)
	}

	dsn := cfg.Store
	if dsn == "" {
		dsn = filepath.Join(cfg.DataDir, "platform.db")
	}
	if a.store, err = sqlstore.Open(ctx, dsn); err != nil {
		return fmt.Errorf("open store: %w", err)
	}

	nopts := natsbus.Options{Remote: cfg.NATSURL, Advertise: cfg.NATSAdvertise, Secret: secret, Logger: a.logger.With("component", "nats")}
	if cfg.NATSURL == "" {
		if nopts.Port, err = a.natsPort(); err != nil {
			return err
		}
		nopts.Dir, nopts.Host = filepath.Join(cfg.DataDir, "nats"), cfg.NATSHost
	}
	if cfg.Runtime == RuntimeLocal {
		if a.iso, err = a.newIsolation(nopts.Port); err != nil {
			return err
		}
		a.logIsolation()
		if err := a.checkTenancy(ctx, a.iso); err != nil {
			return err
		}
		if n := a.iso.net; n != nil {
			// Sandboxed instances reach NATS only on the bridge's address.
			nopts.Host = n.Gateway().String()
		}
	}
	var meshSecret []byte
	if cfg.MeshGateway != "" {
		if cfg.NATSURL != "" {
			return platform.Errorf(platform.EINVALID, "mesh_gateway and nats_url together: give the `platform mesh` node the gateway instead")
		}
		meshSecret = derive(secret, "region-mesh")
		if nopts.Gateway, err = meshGateway(cfg.LocalRegion, cfg.MeshGateway, cfg.MeshAdvertise, meshSecret, nil); err != nil {
			return err
		}
	}
	// Developers' processes (`platform connect`) join the embedded mesh with mesh
	// credentials, resolved like every token.
	a.auth = auth.NewAuthenticator(a.store, auth.Options{})
	if cfg.NATSURL == "" {
		nopts.Developers = a.auth
	}
	if a.bus, err = natsbus.New(nopts); err != nil {
		return err
	}
	var devMesh platform.DeveloperMesh
	if cfg.NATSURL == "" {
		devMesh = a.bus
	}

	bopts := builder.DefaultOptions()
	bopts.Dir = filepath.Join(cfg.DataDir, "builds")
	if cfg.GoCache != "" {
		bopts.GoCache = cfg.GoCache
	}
	if cfg.GoModCache != "" {
		bopts.GoModCache = cfg.GoModCache
	}
	bopts.MaxArchiveBytes = cfg.MaxArchiveBytes
	bopts.Logger = a.logger.With("component", "builder")
	b, err := builder.New(bopts)
	if err != nil {
		return fmt.Errorf("builder: %w", err)
	}
	a.warm = a.newWarmUp(b)

	a.usage = newUsagePipe()
	a.logMetering = logstore.MeterOptions{Publisher: a.usage, Region: cfg.LocalRegion, Interval: cfg.MeterInterval, OrgOf: a.orgOf}
	var plane *control.Plane
	if a.driver, err = a.newDriver(secret, func(e runtime.Event) {
		if plane != nil {
			plane.HandleRuntimeEvent(e)
		}
	}); err != nil {
		return fmt.Errorf("runtime: %w", err)
	}
	artifacts, err := a.artifactBuilder(b, secret)
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}

	box, err := seal.New(secret, "release-env")
	if err != nil {
		return fmt.Errorf("secret key: %w", err)
	}
	repos, actions, err := a.gitHubClients()
	if err != nil {
		return fmt.Errorf("github: %w", err)
	}
	var hooks control.HookInstaller
	if repos != nil {
		hooks = repos
	}
	var alerts control.Alerts
	if !cfg.Alerting.Disabled {
		a.alerts = a.newAlerts(box)
		alerts = a.alerts
	}
	if plane, err = control.New(control.Options{
		Hooks: hooks, Actions: actions, PublicURL: cfg.PublicURL, Alerts: alerts, AlertsAllowPrivate: cfg.Alerting.AllowPrivateNetworks,
		Metering: a.usage, MeterInterval: cfg.MeterInterval, Plans: a.plans(),
		Store: a.store, Mesh: a.bus, Driver: a.driver, Builder: artifacts, Sources: b, Auth: a.auth, Secrets: box,
		BuildLogDir:      filepath.Join(cfg.DataDir, "buildlogs"),
		Logger:           a.logger.With("component", "control"),
		RolloutTimeout:   cfg.RolloutTimeout,
		StopGrace:        cfg.StopGrace,
		BuildConcurrency: cfg.BuildConcurrency,
		GitHubOrgs:       platform.GitHubOrgs(cfg.GitHub.Organizations),
		MeshSecret:       meshSecret,
		LocalMeshGateway: a.bus.GatewayURL,
		DeveloperMesh:    devMesh,
		Isolation:        a.regionIsolation(),
		LocalRegion:      cfg.LocalRegion,
	}); err != nil {
		return err
	}
	a.plane = plane
	if a.invoicer, err = a.newInvoicer(); err != nil {
		return fmt.Errorf("billing: %w", err)
	}
	var receiver *gitops.Receiver
	a.gitops, receiver = a.newGitOps(plane, repos, box)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.metrics = reg
	a.gw = gateway.New(gateway.Options{
		Mesh: a.bus, Auth: a.auth, Usage: a.store, Metering: a.usage, Domain: cfg.GatewayDomain,
		Router: plane.Router(), Region: cfg.LocalRegion, Limits: plane,
		Metrics: reg, Logger: a.logger.With("component", "gateway"),
	})
	a.mcp = mcp.New(mcp.Options{
		Tools: plane.Tools, Gateway: a.gw, Auth: a.auth, Audit: a.store, Metering: a.usage,
		Region: cfg.LocalRegion, Version: platform.Version(), ResourceMetadata: a.resourceMetadata,
		Logger: a.logger.With("component", "mcp"),
	})
	plane.OnEvent(func(e *platform.Event) {
		if strings.HasPrefix(e.Type, "release.") || strings.HasPrefix(e.Type, "service.") {
			a.mcp.Changed(e.Namespace)
		}
	})
	tlsCfg, err := tlsConfig(cfg)
	if err != nil {
		return err
	}
	hopts := platformhttp.Options{
		Addr: cfg.Addr, TLS: tlsCfg, ControlPlane: plane, Auth: a.auth, Gateway: a.gw, MCP: a.mcp,
		Ready: plane.Ready, Metrics: reg, Logger: a.logger.With("component", "http"),
		Regions:        plane.RegionHandler(),
		MaxUploadBytes: cfg.MaxArchiveBytes,
		RepoWebhooks:   receiver,
	}
	if a.github, err = a.newGitHub(plane, receiver); err != nil {
		return err
	}
	// Browsers authenticate by the session cookie, behind CSRF protection: the GitHub
	// sign-in's (its origin is its redirect URL's), or else the public URL's, or else the
	// host each request was sent to.
	csrf := github.CSRF{Secure: strings.HasPrefix(cfg.PublicURL, "https://") || tlsCfg != nil}
	if u, err := url.Parse(cfg.PublicURL); err == nil && u.Host != "" {
		csrf.Origins = []string{u.Scheme + "://" + u.Host}
	}
	dopts := dashboard.Options{
		ControlPlane: plane, Auth: a.auth, SessionCookie: github.SessionCookie, CSRFCookie: github.CSRFCookie,
		GatewayURL: strings.TrimSuffix(cfg.PublicURL, "/"),
		Logger:     a.logger.With("component", "dashboard"),
	}
	if a.github != nil {
		csrf = a.github.CSRF()
		hopts.SignIn, hopts.SignInRoutes = a.github, a.github.Routes()
		dopts.GitHubLogin = github.LoginPath
	}
	dopts.CSRF, dopts.Secure = csrf, csrf.Secure
	hopts.SessionCookie, hopts.CSRF = github.SessionCookie, csrf
	hopts.Dashboard = dashboard.New(dopts)
	if hopts.OAuth, err = a.newOAuth(plane, secret, csrf); err != nil {
		return err
	}
	a.api = platformhttp.NewServer(hopts)
	return nil
}

// natsPort returns the configured NATS port or, for 0, the one chosen at first start
// (running instances carry the NATS URL in their environment, so it must not change), or
// 0 before the first start: NATS then takes a free port itself and keepNATSPort records it.
// The kubernetes runtime needs the port before NATS starts (its network policies name it):
// with it, a first start picks a free port here.
func (a *App) natsPort() (int, error) {
	if a.cfg.NATSPort != 0 {
		return a.cfg.NATSPort, nil
	}
	path := filepath.Join(a.cfg.DataDir, "nats.port")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && a.cfg.Runtime == RuntimeKubernetes {
		b, err = loadOrCreate(path, func() ([]byte, error) {
			l, err := net.Listen("tcp", net.JoinHostPort(a.cfg.NATSHost, "0"))
			if err != nil {
				return nil, err
			}
			defer l.Close()
			return []byte(strconv.Itoa(l.Addr().(*net.TCPAddr).Port)), nil
		})
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("nats port: %w", err)
	}
	port, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("nats port file: %w", err)
	}
	return port, nil
}

// keepNATSPort records the port the embedded NATS took at its first start, and opens it
// to sandboxed instances.
func (a *App) keepNATSPort() error {
	port := a.bus.Port()
	if a.cfg.NATSURL != "" || port == 0 {
		return nil
	}
	if _, err := loadOrCreate(filepath.Join(a.cfg.DataDir, "nats.port"), func() ([]byte, error) {
		return []byte(strconv.Itoa(port)), nil
	}); err != nil {
		return fmt.Errorf("nats port: %w", err)
	}
	return a.iso.openPort(port)
}

// Run serves until ctx ends and then stops every component. Instances keep running
// across a restart of the server and are re-adopted at the next start.
func (a *App) Run(ctx context.Context) error {
	defer a.close()
	g, ctx := errgroup.WithContext(ctx)
	if err := a.startBus(ctx, g); err != nil {
		return err
	}
	stopMetering := a.startMetering(ctx, g, a.metrics)
	defer stopMetering()
	if err := a.api.Listen(); err != nil {
		return platform.Errorf(platform.EUNAVAILABLE, "listen on %s: %v", a.cfg.Addr, err).WithHint("another process uses the address; pass --addr HOST:PORT")
	}
	if a.registry != nil {
		if _, err := a.registry.Listen(); err != nil {
			return err
		}
	}
	if err := a.bootstrapAdmin(ctx); err != nil {
		return err
	}
	if err := a.registerLocalRegion(ctx); err != nil {
		return err
	}
	if err := a.bootstrapRegions(ctx); err != nil {
		return err
	}
	a.logger.Info("platform server started", "addr", a.api.Addr(), "data", a.cfg.DataDir, "runtime", a.cfg.Runtime, "nats", a.bus.ClientURL(), "tls", a.cfg.TLSCert != "")
	g.Go(func() error { return a.startRegistry(ctx) })
	g.Go(func() error { return a.startGitHub(ctx) })
	g.Go(func() error { a.warm.run(ctx); return nil })
	g.Go(func() error { return a.plane.Start(ctx) })
	g.Go(func() error { a.gitops.Start(ctx); <-ctx.Done(); a.gitops.Wait(); return nil })
	if a.alerts != nil {
		a.alerts.SetPublicURL(a.linkBase())
		if err := a.alerts.Start(ctx); err != nil {
			return fmt.Errorf("alerting: %w", err)
		}
		g.Go(func() error { <-ctx.Done(); a.alerts.Wait(); return nil })
	}
	if a.invoicer != nil {
		a.invoicer.Start(ctx)
		g.Go(func() error { <-ctx.Done(); a.invoicer.Wait(); return nil })
	}
	g.Go(func() error { return a.gw.Start(ctx) })
	g.Go(func() error { return a.mcp.Start(ctx) })
	g.Go(func() error { a.plane.Router().Probe(ctx, probeClient); return nil })
	g.Go(func() error { return a.api.Serve(ctx) })
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// startBus runs the embedded NATS in g and waits until it takes connections, keeping the
// port it took.
func (a *App) startBus(ctx context.Context, g *errgroup.Group) error {
	g.Go(func() error { return a.bus.Start(ctx) })
	if err := a.bus.WaitReady(ctx); err != nil {
		_ = g.Wait()
		return fmt.Errorf("nats: %w", err)
	}
	return a.keepNATSPort()
}

// Addr is the address the API listens on, once Run has started listening.
func (a *App) Addr() string { return a.api.Addr() }

// Ready reports whether the server takes deploys.
func (a *App) Ready() bool { return a.plane.Ready() }

// close releases what the App holds. The driver stops supervising but leaves instances
// running, as a server that exits does, to be re-adopted at the next start.
func (a *App) close() {
	if a.driver != nil {
		_ = a.driver.Close()
	}
	if a.store != nil {
		_ = a.store.Close()
	}
	if a.lock != nil {
		_ = a.lock.Close() // releases the flock
	}
}

// lockDataDir takes an exclusive lock on dir, so two servers never supervise the same
// instances. The kernel drops the lock when the process dies, even by kill -9.
func lockDataDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, platform.Errorf(platform.ECONFLICT, "another platform server uses the data dir %s", dir).
			WithHint("stop it first, or start this one with --data pointing elsewhere")
	}
	return f, nil
}

// bootstrapAdmin creates the admin token at first start, prints it once and keeps it in
// DataDir/admin.token for scripts.
func (a *App) bootstrapAdmin(ctx context.Context) error {
	path := filepath.Join(a.cfg.DataDir, "admin.token")
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	secret, hash := auth.NewSecret()
	t := &platform.Token{ID: platform.NewID("t"), Name: "admin", Hash: hash, Admin: true, CreatedAt: platform.SystemClock{}.Now().UTC()}
	if err := a.store.CreateToken(ctx, t); err != nil {
		return fmt.Errorf("create admin token: %w", err)
	}
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("write admin token: %w", err)
	}
	fmt.Fprintf(a.out, "\nAdmin token (shown once; also saved to %s):\n\n    %s\n\nLog in with:\n\n    platform login --server http://%s --token %s\n\n", path, secret, a.api.Addr(), secret)
	return nil
}

// bootstrapRegions creates the regions listed in RegionTokensFile with their agents'
// token hashes. A missing file seeds nothing: the Kubernetes base mounts it from an
// optional Secret, which only `platform infra apply` creates.
func (a *App) bootstrapRegions(ctx context.Context) error {
	path := a.cfg.RegionTokensFile
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		a.logger.Info("no region tokens file: regions come from the API only", "file", path)
		return nil
	} else if err != nil {
		return fmt.Errorf("region tokens file: %w", err)
	}
	seeds, err := control.ParseRegionSeeds(data)
	if err != nil {
		return fmt.Errorf("region tokens file %s: %w", path, err)
	}
	return a.plane.BootstrapRegions(ctx, seeds)
}

// registerLocalRegion records the region this process runs, so `platform regions` and
// placement see it beside the regions `platform infra apply` registers. A region already
// registered under its name (by `platform infra apply`, for a control region) keeps its
// provider and location.
func (a *App) registerLocalRegion(ctx context.Context) error {
	host, _ := os.Hostname()
	now := time.Now().UTC()
	r := &platform.Region{Name: a.cfg.LocalRegion, Provider: "local", Location: host, GatewayEndpoint: "http://" + a.api.Addr(), UpdatedAt: now}
	switch old, err := a.store.GetRegion(ctx, r.Name); {
	case err == nil:
		r.Provider, r.Location = old.Provider, old.Location
	case !platform.IsNotFound(err):
		return fmt.Errorf("register the local region: %w", err)
	}
	if err := a.store.PutRegion(ctx, r); err != nil {
		return fmt.Errorf("register the local region: %w", err)
	}
	return nil
}

// loadOrCreate returns the content of path, creating it (mode 0600) with make() first.
func loadOrCreate(path string, make func() ([]byte, error)) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if b, err = make(); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	return b, nil
}

func newLogger(cfg Config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, platform.Errorf(platform.EINVALID, "log level %q: want debug, info, warn or error", cfg.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// derive returns a key for purpose derived from the server's secret key.
func derive(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// meshGateway returns the NATS gateway options of region name listening on addr
// (HOST:PORT).
func meshGateway(name, addr, advertise string, secret []byte, seeds map[string]string) (natsbus.GatewayOptions, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return natsbus.GatewayOptions{}, platform.Errorf(platform.EINVALID, "mesh_gateway %q: want HOST:PORT", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return natsbus.GatewayOptions{}, platform.Errorf(platform.EINVALID, "mesh_gateway %q: bad port", addr)
	}
	return natsbus.GatewayOptions{Name: name, Host: host, Port: p, Advertise: advertise, Secret: secret, Seeds: seeds}, nil
}

// resourceMetadata is the URL of the protected-resource metadata (RFC 9728) of the MCP
// endpoint a request was sent to — /mcp, or /mcp/{ns}, whose resource is its own — under
// the OAuth issuer's address, or else the host the request was sent to.
func (a *App) resourceMetadata(r *http.Request) string {
	base := strings.TrimSuffix(a.oauthIssuer(), "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	resource := mcp.Path
	if ns := strings.Trim(strings.TrimPrefix(r.URL.Path, mcp.Path), "/"); ns != "" && platform.ValidateName("namespace", ns) == nil {
		resource += "/" + ns
	}
	return base + "/.well-known/oauth-protected-resource" + resource
}
