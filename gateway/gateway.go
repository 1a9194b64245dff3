// Package gateway is the platform's public data path: it turns
// `POST /api/{service}/{Type.Method}` with a JSON body into one go-micro RPC in the
// caller's namespace through platform.Mesh, after authenticating the bearer token and
// authorising it for the namespace, and meters every request into per-minute usage
// records and Prometheus metrics.
//
// The handler is written for throughput: no router, no reflection, the request body is
// read into a pooled buffer and passed to the service as-is, the response bytes are
// written back as-is, and metering touches only per-(namespace, service) state.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
)

// Defaults for Options.
const (
	DefaultFlushInterval = 10 * time.Second
	DefaultMaxBodyBytes  = 1 << 20
	DefaultTimeout       = 30 * time.Second
	DefaultMaxSeries     = 10_000
)

// OtherService is the service label of requests to services beyond Options.MaxSeries.
const OtherService = "_other"

// UnknownService is the service label, and the service of the usage rows, of requests
// to a service that is not registered in their namespace: the name in the path is the
// caller's to choose, so it must not mint a metric series or a usage row of its own.
// No service can have this name (it is not a DNS label).
const UnknownService = "_unknown"

// registeredTimeout bounds the question to the mesh whether a service is registered,
// asked once per service the gateway has not metered yet.
const registeredTimeout = 5 * time.Second

// Headers the gateway reads.
const (
	HeaderNamespace = "Micro-Namespace"
	HeaderVersion   = "Micro-Version"
	HeaderRequestID = "X-Request-Id"
)

// pathPrefix is where the API server mounts the gateway; the handler sees full paths.
const pathPrefix = "/api/"

// Options configure a Gateway. Mesh, Auth and Usage are required.
type Options struct {
	// Mesh carries the calls. Besides Call, the gateway asks Services(ctx, ns, service)
	// whether a service it has no series for yet is registered (when the request did not
	// get an answer from it), so that should be answered from a cache. The request body
	// lives in a pooled buffer: Call must not keep req.Body once it returns, except when
	// it returns ETIMEOUT or the context has ended (an RPC client may still be sending it
	// then, so the gateway does not reuse that buffer).
	Mesh platform.Mesh
	// Auth resolves bearer secrets to tokens on every request, so it must cache.
	Auth platform.Authenticator
	// Usage receives the per-minute request aggregates.
	Usage platform.UsageStore
	// Metering, when set, receives the usage the organisations are billed for: each
	// flush hands it one event per namespace, service, minute and meter (requests,
	// egress bytes) counted since the last, and waits until they are published; events
	// it could not publish are re-emitted with the same IDs at the next flush.
	Metering UsagePublisher
	// Limits, when set, bounds each organisation's requests per second (its plan's
	// quota): a call beyond it is refused with quota_exceeded (429) and not billed.
	Limits RateLimits
	// Domain enables host-prefix routing: a request to acme.<Domain> is in namespace
	// acme. Empty means only the Micro-Namespace header selects the namespace.
	Domain string
	// FlushInterval is how often usage is written to Usage. Default 10s.
	FlushInterval time.Duration
	// Metrics registers the gateway's collectors; nil registers nothing.
	Metrics prometheus.Registerer
	// Logger receives internal errors and failed flushes. Default slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes bounds a request body. Default 1 MiB.
	MaxBodyBytes int64
	// Timeout bounds one call, passed to the Mesh as CallRequest.Timeout. Default 30s.
	Timeout time.Duration
	// Clock stamps usage minutes and measures latency. Default platform.SystemClock.
	Clock platform.Clock
	// MaxSeries bounds the (namespace, service) label pairs of the Prometheus metrics of
	// registered services (requests to names that are not registered are counted under
	// service="_unknown" in both metrics and usage); requests to further services are
	// labelled service="_other". Usage records stay exact. Default 10000.
	MaxSeries int
	// Router, when set, makes this a region's gateway: a call for a service the region's
	// mesh does not know is forwarded to the gateway of the nearest region that runs it.
	Router Router
	// Region is this gateway's region, sent with the calls it forwards.
	Region string
}

// UsagePublisher takes usage events to the metering pipeline (metering.Publisher).
type UsagePublisher interface {
	// PublishWait hands e over, waiting for room until ctx ends.
	PublishWait(ctx context.Context, e platform.UsageEvent) error
	// Flush waits until what was handed over is published; an error when some was not.
	Flush(ctx context.Context) error
}

func (o Options) withDefaults() Options {
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Clock == nil {
		o.Clock = platform.SystemClock{}
	}
	if o.MaxSeries <= 0 {
		o.MaxSeries = DefaultMaxSeries
	}
	return o
}

// Gateway is the HTTP handler of the data path and the flusher of its usage meter.
type Gateway struct {
	opts    Options
	domain  string // "." + Options.Domain, or "" without host routing
	meter   *meter
	metrics *metrics
	bufs    sync.Pool
	policy  *authz.Policy
	denials *denialLog
	limiter *rateLimiter // nil without Options.Limits
}

var _ http.Handler = (*Gateway)(nil)

// New returns a Gateway. It panics if opts.Mesh, opts.Auth or opts.Usage is nil, or if
// opts.Metrics already holds different collectors under the gateway's metric names:
// both are wiring mistakes, not runtime conditions.
func New(opts Options) *Gateway {
	if opts.Mesh == nil || opts.Auth == nil || opts.Usage == nil {
		panic("gateway.New: Mesh, Auth and Usage are required")
	}
	opts = opts.withDefaults()
	g := &Gateway{opts: opts, metrics: newMetrics(opts.Metrics)}
	if opts.Domain != "" {
		g.domain = "." + strings.TrimPrefix(strings.ToLower(opts.Domain), ".")
	}
	g.meter = newMeter(g.metrics, opts.MaxSeries, g.registered)
	if opts.Limits != nil {
		g.limiter = &rateLimiter{limits: opts.Limits}
	}
	if opts.Metering != nil {
		var id [6]byte
		_, _ = rand.Read(id[:])
		g.meter.publisher, g.meter.region = opts.Metering, opts.Region
		g.meter.instance = hex.EncodeToString(id[:])
		g.meter.billing = make(map[usageKey]*billedUsage)
	}
	// The authenticator tells which organisation owns a namespace from its cache, so the
	// policy check costs no store round trip.
	resolver, _ := opts.Auth.(authz.Resolver)
	g.policy = authz.New(resolver)
	// Refusals go to the audit log when the usage store keeps one (sqlstore does).
	if audit, ok := opts.Usage.(platform.AuditStore); ok {
		g.denials = newDenialLog(audit, opts.Logger)
	}
	g.bufs.New = func() any { return new(buffer) }
	return g
}

// registered reports whether service has a node in ns, as the mesh knows it.
func (g *Gateway) registered(ns, service string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), registeredTimeout)
	defer cancel()
	_, err := g.opts.Mesh.Services(ctx, ns, service)
	return err == nil
}

// Start flushes usage every FlushInterval until ctx ends, then flushes once more with a
// fresh deadline so the last interval's requests are not lost. It returns nil.
func (g *Gateway) Start(ctx context.Context) error {
	if g.denials != nil {
		go g.denials.run(ctx)
	}
	t := time.NewTicker(g.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.opts.FlushInterval)
			defer cancel()
			g.flushAndLog(fctx)
			return nil
		case <-t.C:
			g.flushAndLog(ctx)
		}
	}
}

func (g *Gateway) flushAndLog(ctx context.Context) {
	if err := g.Flush(ctx); err != nil {
		g.opts.Logger.Warn("gateway: usage flush failed; keeping the counts for the next flush", "err", err)
	}
}

// Flush writes the usage counted since the last successful flush to the UsageStore. When
// the store refuses, the counts are kept and merged into the next flush, so nothing is
// lost or counted twice as long as the store applies a batch all or nothing.
func (g *Gateway) Flush(ctx context.Context) error {
	return g.meter.flush(ctx, g.opts.Usage)
}
