package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sethvargo/go-retry"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	platform "github.com/micro/platform"
	"github.com/micro/platform/gateway"
	"github.com/micro/platform/logstore"
	"github.com/micro/platform/mcp"
	"github.com/micro/platform/natsbus"
	"github.com/micro/platform/oci"
	"github.com/micro/platform/region"
	"github.com/micro/platform/runtime"
	"github.com/micro/platform/runtimeapi"
	pb "github.com/micro/platform/runtimeapi/runtimev1"
	"github.com/micro/platform/runtimeapi/tunnel"
)

// AgentConfig is the configuration of `platform agent`: the region's own settings
// (data dir, runtime, sandbox, NATS: the fields of Config it shares with the server) and
// how it reaches its control plane.
type AgentConfig struct {
	Config
	// Region is the region's name, registered on the control plane.
	Region string
	// Control is the control plane's URL, e.g. https://cp.example.
	Control string
	// Token is the region token the control plane issued (`platform regions token`).
	Token string
	// GatewayAddr is where the region's gateway listens.
	GatewayAddr string
}

// Validate reports what is wrong with the configuration.
func (c *AgentConfig) Validate() error {
	var problems []string
	if err := platform.ValidateName("region", c.Region); err != nil {
		problems = append(problems, platform.ErrorMessage(err))
	}
	if u, err := url.Parse(c.Control); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		problems = append(problems, fmt.Sprintf("control %q: want the control plane's http(s) URL", c.Control))
	}
	if c.Token == "" {
		problems = append(problems, "token: the region token is required (an operator issues one with `platform regions token "+c.Region+"`)")
	}
	if err := c.Config.Validate(); err != nil {
		problems = append(problems, platform.ErrorMessage(err))
	}
	if len(problems) > 0 {
		return platform.Errorf(platform.EINVALID, "invalid agent configuration: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Agent is a region's process: its NATS, driver and region reconciler, its gateway, and
// the tunnel to the control plane that serves the runtime API.
type Agent struct {
	cfg  AgentConfig
	host *App // the parts shared with the server: data dir, logger, NATS, sandbox, driver

	control *runtimeapi.ControlClient
	info    *pb.InfoResponse // completed with the mesh gateway once NATS runs
	router  *region.Router
	rec     *region.Reconciler
	api     *runtimeapi.Agent
	gw      *gateway.Gateway
	gwLn    net.Listener
	gwSrv   *http.Server
	tun     *tunnel.Agent
	// images packs the binaries the agent fetches into images for the kubernetes
	// runtime; nil with the local runtime, which runs them as they are.
	images *oci.Builder
}

// RunAgent runs a region's agent until ctx ends.
func RunAgent(ctx context.Context, cfg AgentConfig, stdout io.Writer) error {
	a, err := NewAgent(ctx, cfg, stdout)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// NewAgent builds every part of the agent; nothing runs until Run.
func NewAgent(ctx context.Context, cfg AgentConfig, stdout io.Writer) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, platform.Errorf(platform.EINVALID, "data dir %s: %v", cfg.DataDir, err)
	}
	logger, err := newLogger(cfg.Config, stdout)
	if err != nil {
		return nil, err
	}
	logger = logger.With("region", cfg.Region)
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, host: &App{cfg: cfg.Config, logger: logger, out: stdout, lock: lock}}
	if err := a.build(ctx); err != nil {
		a.host.close()
		return nil, err
	}
	return a, nil
}

func (a *Agent) build(ctx context.Context) error {
	h, cfg := a.host, a.cfg
	secret, err := loadOrCreate(filepath.Join(cfg.DataDir, "secret.key"), func() ([]byte, error) {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return b, err
	})
	if err != nil {
		return fmt.Errorf("secret key: %w", err)
	}
	nopts := natsbus.Options{Advertise: cfg.NATSAdvertise, Secret: secret, Logger: h.logger.With("component", "nats")}
	if nopts.Port, err = h.natsPort(); err != nil {
		return err
	}
	nopts.Dir, nopts.Host = filepath.Join(cfg.DataDir, "nats"), cfg.NATSHost
	if cfg.Runtime == RuntimeLocal {
		if h.iso, err = h.newIsolation(nopts.Port); err != nil {
			return err
		}
		h.logIsolation()
		if n := h.iso.net; n != nil {
			nopts.Host = n.Gateway().String()
		}
	}
	a.control = runtimeapi.NewControlClient(http.DefaultClient, strings.TrimSuffix(cfg.Control, "/"), cfg.Region, cfg.Token)
	if cfg.MeshGateway != "" {
		secret, seeds, err := a.meshConfig(ctx)
		if err != nil {
			return err
		}
		if nopts.Gateway, err = meshGateway(cfg.Region, cfg.MeshGateway, cfg.MeshAdvertise, secret, seeds); err != nil {
			return err
		}
	}
	if h.bus, err = natsbus.New(nopts); err != nil {
		return err
	}
	// The region's usage (its gateway's calls, its instances' log bytes) goes to the
	// control plane's metering pipeline.
	h.logMetering = logstore.MeterOptions{Publisher: a.control.UsageEvents(), Region: cfg.Region,
		Interval: cfg.MeterInterval, OrgOf: a.control.NamespaceOrg}
	var rec *region.Reconciler
	if h.driver, err = h.newDriver(secret, func(e runtime.Event) {
		if rec != nil {
			rec.HandleRuntimeEvent(e)
		}
	}); err != nil {
		return fmt.Errorf("runtime: %w", err)
	}
	if cfg.Runtime == RuntimeKubernetes {
		opts, err := h.imageOptions(secret)
		if err != nil {
			return fmt.Errorf("images: %w", err)
		}
		if a.images, err = oci.NewPacker(opts); err != nil {
			return fmt.Errorf("images: %w", err)
		}
	}

	a.router = region.NewRouter(cfg.Region)
	var api *runtimeapi.Agent
	rec, err = region.New(region.Options{
		Name: cfg.Region, Driver: h.driver, Mesh: h.bus,
		Artifacts:      a.artifact,
		Notify:         func() { api.Notify() },
		Event:          func(e *platform.Event) { api.Event(e) },
		Logger:         h.logger.With("component", "region"),
		RolloutTimeout: cfg.RolloutTimeout,
		StopGrace:      cfg.StopGrace,
	})
	if err != nil {
		return err
	}
	a.rec = rec

	if a.gwLn, err = net.Listen("tcp", cfg.GatewayAddr); err != nil {
		return platform.Errorf(platform.EUNAVAILABLE, "gateway: listen on %s: %v", cfg.GatewayAddr, err).
			WithHint("another process uses the address; pass --gateway-addr HOST:PORT")
	}
	a.info = &pb.InfoResponse{
		Region: cfg.Region, AgentVersion: platform.Version(), Runtime: h.driver.Name(),
		Isolation: h.regionIsolation(), GatewayEndpoint: gatewayURL(a.gwLn.Addr()),
		Capacity: capacity(),
	}
	api = runtimeapi.NewAgent(runtimeapi.AgentOptions{
		Info:       a.info,
		Reconciler: rec, Driver: h.driver, Mesh: h.bus,
		Applied: func(d region.Desired) {
			a.control.SetNamespaceOrgs(d.NamespaceOrgs)
			a.router.Update(d.Routes, d.RegionGateways)
		},
		Logger: h.logger.With("component", "runtime-api"),
	})
	a.api = api

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.gw = gateway.New(gateway.Options{
		Mesh: h.bus, Auth: a.control, Usage: a.control, Metering: a.control.UsageEvents(), Domain: cfg.GatewayDomain,
		Router: a.router, Region: cfg.Region,
		Metrics: reg, Logger: h.logger.With("component", "gateway"),
	})
	mux := http.NewServeMux()
	mux.Handle("/api/", a.gw)
	control, err := url.Parse(cfg.Control)
	if err != nil {
		return fmt.Errorf("control plane URL %q: %w", cfg.Control, err)
	}
	mux.Handle(mcp.Path, mcpProxy(control, a.gw))
	mux.Handle(mcp.Path+"/", mcpProxy(control, a.gw))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	a.gwSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	amux := http.NewServeMux()
	amux.Handle(api.Handler())
	a.tun = &tunnel.Agent{URL: cfg.Control, Token: cfg.Token, Region: cfg.Region, Handler: amux, Logger: h.logger.With("component", "tunnel")}
	return nil
}

// mcpProxy serves the MCP endpoint (docs/mcp.md) at a region's gateway by handing it to
// the control plane's: an agent that reaches any region's gateway address finds its
// namespace's tools, and their calls run through the control plane's gateway, which
// sends each to the nearest region that runs the service. A namespace named by the host
// prefix travels as Micro-Namespace, as the control plane is reached under its own name.
// Answers stream (FlushInterval -1): sessions use server-sent events.
func mcpProxy(control *url.URL, gw *gateway.Gateway) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(control)
			pr.SetXForwarded()
			if ns := gw.Namespace(pr.In); ns != "" {
				pr.Out.Header.Set(gateway.HeaderNamespace, ns)
			}
		},
		FlushInterval: -1,
	}
}

// meshFile keeps the mesh configuration the control plane gave, so the agent joins the
// mesh again after a restart while the control plane is away.
const meshFile = "mesh.json"

// meshConfig asks the control plane how to join the regions' NATS mesh, for up to a
// minute, and keeps the answer; without an answer it uses the one kept last time.
func (a *Agent) meshConfig(ctx context.Context) ([]byte, map[string]string, error) {
	type kept struct {
		Secret []byte            `json:"secret"`
		Seeds  map[string]string `json:"seeds"`
	}
	path := filepath.Join(a.cfg.DataDir, meshFile)
	var got kept
	backoff := retry.WithMaxDuration(time.Minute, retry.WithCappedDuration(5*time.Second, retry.NewExponential(200*time.Millisecond)))
	err := retry.Do(ctx, backoff, func(ctx context.Context) error {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		secret, seeds, err := a.control.MeshConfig(cctx)
		if platform.ErrorCode(err) == platform.EUNAVAILABLE && !strings.Contains(platform.ErrorMessage(err), "no region mesh") {
			a.host.logger.Warn("asking the control plane for the mesh; retrying", "err", err)
			return retry.RetryableError(err)
		}
		got = kept{Secret: secret, Seeds: seeds}
		return err
	})
	if err == nil {
		b, _ := json.Marshal(got)
		if werr := os.WriteFile(path, b, 0o600); werr != nil {
			a.host.logger.Warn("keep the mesh configuration", "err", werr)
		}
		return got.Secret, got.Seeds, nil
	}
	if b, rerr := os.ReadFile(path); rerr == nil && json.Unmarshal(b, &got) == nil && len(got.Secret) > 0 {
		a.host.logger.Warn("the control plane did not answer; joining the mesh as last time", "err", err)
		return got.Secret, got.Seeds, nil
	}
	return nil, nil, fmt.Errorf("join the region mesh: %w", err)
}

// artifactTimeout bounds the fetch of one artifact from the control plane.
const artifactTimeout = 5 * time.Minute

// artifact fetches a binary the control plane built into the data dir, once per release;
// with the kubernetes runtime it then packs it into an image in the region's registry,
// also once per release (the image's reference is kept beside the binary).
func (a *Agent) artifact(ctx context.Context, w *runtime.WorkloadSpec) (string, error) {
	id, ok := strings.CutPrefix(w.Artifact, "fetch:")
	if !ok {
		return w.Artifact, nil
	}
	dir := filepath.Join(a.cfg.DataDir, "artifacts", id)
	path := filepath.Join(dir, w.Service)
	if a.images != nil {
		if ref, err := os.ReadFile(filepath.Join(dir, imageRefFile)); err == nil && len(ref) > 0 {
			return string(ref), nil
		}
	}
	if _, err := os.Stat(path); err != nil {
		start := time.Now()
		fctx, cancel := context.WithTimeout(ctx, artifactTimeout)
		defer cancel()
		if err := a.control.FetchArtifact(fctx, id, path); err != nil {
			return "", fmt.Errorf("fetch artifact of %s %s: %w", w.Service, w.Version, err)
		}
		a.host.logger.Info("fetched artifact", "service", w.Service, "version", w.Version, "took", time.Since(start).Round(time.Millisecond))
	}
	if a.images == nil {
		return path, nil
	}
	start := time.Now()
	bd := &platform.Build{ID: id, Namespace: w.Namespace, Service: w.Service, Version: w.Version}
	ref, err := a.images.Pack(ctx, bd, path, "", logLines{a.host.logger.With("service", w.Service, "version", w.Version)})
	if err != nil {
		return "", fmt.Errorf("image of %s %s: %w", w.Service, w.Version, err)
	}
	if err := os.WriteFile(filepath.Join(dir, imageRefFile), []byte(ref), 0o600); err != nil {
		return "", fmt.Errorf("image of %s %s: %w", w.Service, w.Version, err)
	}
	a.host.logger.Info("packed image", "service", w.Service, "version", w.Version, "image", ref, "took", time.Since(start).Round(time.Millisecond))
	return ref, nil
}

// imageRefFile keeps, beside a fetched binary, the reference of the image packed from it.
const imageRefFile = "image"

// logLines writes the image packer's progress lines to the agent's log, at debug level.
type logLines struct{ l *slog.Logger }

func (w logLines) WriteLine(line string) { w.l.Debug(line) }

// gatewayURL is the URL the region's gateway reports, "" when it listens on every
// address (the operator gives the public one: `platform regions create --gateway`).
func gatewayURL(addr net.Addr) string {
	if ta, ok := addr.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		return ""
	}
	return "http://" + addr.String()
}

// probeClient asks other regions' gateways whether they answer.
var probeClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}}

// capacity is what this machine offers instances.
func capacity() *pb.Capacity {
	c := &pb.Capacity{CpuMillis: int64(goruntime.NumCPU()) * 1000}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		c.MemoryBytes = int64(si.Totalram) * int64(si.Unit)
	}
	return c
}

// GatewayAddr is the address the region's gateway listens on.
func (a *Agent) GatewayAddr() string { return a.gwLn.Addr().String() }

// Run serves until ctx ends. Instances keep running when the agent stops, and are
// re-adopted at its next start; while the control plane is away the region keeps serving
// what it runs.
func (a *Agent) Run(ctx context.Context) error {
	h := a.host
	defer h.close()
	g, ctx := errgroup.WithContext(ctx)
	if err := h.startBus(ctx, g); err != nil {
		return err
	}
	a.info.MeshGateway = h.bus.GatewayURL()
	h.logger.Info("agent started", "control", a.cfg.Control, "gateway", a.GatewayAddr(), "data", a.cfg.DataDir, "nats", h.bus.ClientURL())
	g.Go(func() error { return h.startRegistry(ctx) })
	g.Go(func() error { return a.rec.Start(ctx) })
	g.Go(func() error { return a.gw.Start(ctx) })
	g.Go(func() error { return a.tun.Start(ctx) })
	g.Go(func() error { a.router.Probe(ctx, probeClient); return nil })
	g.Go(func() error {
		go func() {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = a.gwSrv.Shutdown(sctx)
		}()
		if err := a.gwSrv.Serve(a.gwLn); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}
