// Command loadgen measures request throughput and latency of one target with a fixed
// number of concurrent callers, for comparing the platform gateway with go-micro's own
// `micro api` and with direct go-micro client calls.
//
//	loadgen -mode http -url URL -H 'Header: v' -body JSON -c 16 -d 10s
//	loadgen -mode micro -service helloworld -endpoint Helloworld.Call -body JSON -c 16 -d 10s
//
// It prints one markdown table row: label, requests, errors, req/s, p50, p99 (with
// -header, the table header first). Micro mode configures go-micro's registry and
// transport from the -registry, -registry-address, -transport and -transport-address
// flags, which default to the MICRO_* environment a platform namespace hands out.
//
// With -wait, loadgen first retries one call every 10ms until it succeeds (a service has
// just registered, a gateway has just come up) and fails if none did within -wait; the
// retries are not part of the measurement.
//
// With -interval, each caller starts its calls at least that far apart (a steady stream
// rather than a saturating one); with -trace FILE, loadgen writes one line per request —
// its start and end in Unix nanoseconds and "ok" or the error — so a script can line the
// requests up with what it did meanwhile (bench/failover.sh kills a region under them).
//
//	loadgen -url URL -c 4 -interval 10ms -timeout 5s -d 1h -trace calls.txt
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// headerFlags collects repeated -H flags.
type headerFlags []string

func (h *headerFlags) String() string { return strings.Join(*h, ", ") }

func (h *headerFlags) Set(v string) error {
	name, _, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("header %q is not 'Name: value'", v)
	}
	*h = append(*h, v)
	return nil
}

// config is the parsed command line.
type config struct {
	mode, label, body   string
	concurrency         int
	duration            time.Duration
	maxRequests         int64
	timeout             time.Duration
	wait                time.Duration
	interval            time.Duration
	trace               string
	header              bool
	url                 string
	headers             headerFlags
	service, endpoint   string
	registry, regAddr   string
	transport, trnsAddr string
}

func parse(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	c := &config{}
	envOr := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.mode, "mode", "http", "what to call: http or micro")
	fs.StringVar(&c.label, "label", "", "first column of the output row (default: the mode)")
	fs.StringVar(&c.body, "body", "{}", "JSON request body")
	fs.IntVar(&c.concurrency, "c", 16, "concurrent callers")
	fs.DurationVar(&c.duration, "d", 10*time.Second, "how long to run")
	fs.Int64Var(&c.maxRequests, "n", 5_000_000, "stop after this many requests")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "timeout of one request")
	fs.DurationVar(&c.wait, "wait", 0, "retry one call until it succeeds, for at most this long, before measuring")
	fs.DurationVar(&c.interval, "interval", 0, "start each caller's calls at least this far apart (0: back to back)")
	fs.StringVar(&c.trace, "trace", "", "write every request's start, end (Unix ns) and outcome to this file")
	fs.BoolVar(&c.header, "header", false, "print the markdown table header before the row")
	fs.StringVar(&c.url, "url", "", "http mode: URL to POST to")
	fs.Var(&c.headers, "H", "http mode: request header 'Name: value' (repeatable)")
	fs.StringVar(&c.service, "service", "", "micro mode: service name")
	fs.StringVar(&c.endpoint, "endpoint", "", "micro mode: endpoint, e.g. Helloworld.Call")
	fs.StringVar(&c.registry, "registry", envOr("MICRO_REGISTRY", "nats"), "micro mode: registry (nats, mdns)")
	fs.StringVar(&c.regAddr, "registry-address", getenv("MICRO_REGISTRY_ADDRESS"), "micro mode: registry address")
	fs.StringVar(&c.transport, "transport", envOr("MICRO_TRANSPORT", "nats"), "micro mode: transport (nats, http)")
	fs.StringVar(&c.trnsAddr, "transport-address", getenv("MICRO_TRANSPORT_ADDRESS"), "micro mode: transport address")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.label == "" {
		c.label = c.mode
	}
	return c, c.validate()
}

// validate reports every problem with c at once.
func (c *config) validate() error {
	var errs []error
	switch c.mode {
	case "http":
		if c.url == "" {
			errs = append(errs, errors.New("-url is required in http mode"))
		}
	case "micro":
		if c.service == "" || c.endpoint == "" {
			errs = append(errs, errors.New("-service and -endpoint are required in micro mode"))
		}
	default:
		errs = append(errs, fmt.Errorf("-mode %q: use http or micro", c.mode))
	}
	if c.concurrency < 1 {
		errs = append(errs, errors.New("-c must be at least 1"))
	}
	if c.duration <= 0 {
		errs = append(errs, errors.New("-d must be positive"))
	}
	if c.maxRequests < 1 {
		errs = append(errs, errors.New("-n must be at least 1"))
	}
	if c.wait < 0 {
		errs = append(errs, errors.New("-wait must not be negative"))
	}
	if c.interval < 0 {
		errs = append(errs, errors.New("-interval must not be negative"))
	}
	return errors.Join(errs...)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	c, err := parse(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	var call, probe caller
	switch c.mode {
	case "http":
		call, err = newHTTPCaller(c)
		probe = call
	case "micro":
		call, probe, err = newMicroCaller(c)
	}
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 1
	}
	if c.wait > 0 {
		if err := waitReady(ctx, probe, c.wait, c.timeout); err != nil {
			fmt.Fprintf(stderr, "loadgen: no successful call within -wait %s: %v\n", c.wait, err)
			return 1
		}
	}
	var tr *tracer
	if c.trace != "" {
		if tr, err = createTrace(c.trace); err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 1
		}
	}
	res := load(ctx, call, loadOptions{concurrency: c.concurrency, duration: c.duration,
		max: c.maxRequests, timeout: c.timeout, interval: c.interval, trace: tr})
	if err := tr.Close(); err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 1
	}
	if c.header {
		fmt.Fprint(stdout, tableHeader)
	}
	fmt.Fprintln(stdout, res.row(c.label))
	for _, e := range res.sampleErrors {
		fmt.Fprintln(stderr, "loadgen: error:", e)
	}
	if res.requests == 0 || res.errors == res.requests {
		return 1
	}
	return 0
}
