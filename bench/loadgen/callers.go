package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go-micro.dev/v5/client"
	raw "go-micro.dev/v5/codec/bytes"
	"go-micro.dev/v5/registry"
	natsreg "go-micro.dev/v5/registry/nats"
	"go-micro.dev/v5/selector"
	"go-micro.dev/v5/transport"
	natstr "go-micro.dev/v5/transport/nats"
)

// caller makes one request; a nil error is a success.
type caller func(ctx context.Context) error

func newHTTPCaller(c *config) (caller, error) {
	hdr := http.Header{"Content-Type": {"application/json"}}
	for _, h := range c.headers {
		name, value, _ := strings.Cut(h, ":")
		hdr.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = c.concurrency * 2
	tr.MaxIdleConnsPerHost = c.concurrency * 2
	client := &http.Client{Transport: tr}
	body := []byte(c.body)
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header = hdr.Clone()
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
		}
		// Drain the body so the connection is reused.
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}, nil
}

// newMicroCaller returns the go-micro call and its readiness probe. The probe asks the
// registry itself before calling: the client's registry cache looks a missing service up
// again at most every 5s (go-micro's cache.DefaultMinimumRetryInterval), which would make
// -wait see a newly registered service up to 5s late.
func newMicroCaller(c *config) (call, probe caller, err error) {
	var reg registry.Registry
	switch c.registry {
	case "nats":
		reg = natsreg.NewNatsRegistry(registry.Addrs(splitAddrs(c.regAddr)...))
	case "mdns":
		reg = registry.NewMDNSRegistry()
	default:
		return nil, nil, fmt.Errorf("-registry %q: use nats or mdns", c.registry)
	}
	var tr transport.Transport
	switch c.transport {
	case "nats":
		tr = natstr.NewTransport(transport.Addrs(splitAddrs(c.trnsAddr)...))
	case "http":
		tr = transport.NewHTTPTransport(transport.Addrs(splitAddrs(c.trnsAddr)...))
	default:
		return nil, nil, fmt.Errorf("-transport %q: use nats or http", c.transport)
	}
	cl := client.NewClient(
		client.Selector(selector.NewSelector(selector.Registry(reg))),
		client.Registry(reg),
		client.Transport(tr),
		client.ContentType("application/json"),
		client.PoolSize(c.concurrency),
		client.RequestTimeout(c.timeout),
	)
	// Raw frames pass the JSON through without encoding, as go-micro's own gateway does.
	body := &raw.Frame{Data: []byte(c.body)}
	call = func(ctx context.Context) error {
		req := cl.NewRequest(c.service, c.endpoint, body, client.WithContentType("application/json"))
		var rsp raw.Frame
		return cl.Call(ctx, req, &rsp)
	}
	probe = func(ctx context.Context) error {
		if _, err := reg.GetService(c.service); err != nil {
			return fmt.Errorf("registry lookup of %s: %w", c.service, err)
		}
		return call(ctx)
	}
	return call, probe, nil
}

// splitAddrs splits a comma-separated address list, as go-micro's flags do.
func splitAddrs(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// waitReady retries call (a readiness probe) every 10ms until it succeeds, and returns the last error if none
// did within wait.
func waitReady(ctx context.Context, call caller, wait, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		rctx, rcancel := context.WithTimeout(ctx, timeout)
		err := call(rctx)
		rcancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil && last != nil {
			return last // the call cut short by the end of the wait says less than the one before
		}
		last = err
		select {
		case <-ctx.Done():
			return last
		case <-tick.C:
		}
	}
}

// loadOptions say how load calls: how many callers, for how long, how often.
type loadOptions struct {
	concurrency int
	duration    time.Duration
	max         int64         // requests in all
	timeout     time.Duration // of one request
	interval    time.Duration // between the starts of one caller's requests; 0: none
	trace       *tracer       // nil: none
}

// load runs call from o.concurrency workers until o.duration has passed or o.max
// requests were made. With an interval, the workers' first calls are spread over it, so
// the stream is even.
func load(ctx context.Context, call caller, o loadOptions) result {
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	rec := newRecorder(o.max)
	start := time.Now()
	done := make(chan workerResult, o.concurrency)
	for i := range o.concurrency {
		go func() {
			var w workerResult
			next := start.Add(o.interval * time.Duration(i) / time.Duration(o.concurrency))
			for pace(ctx, next) && rec.take() {
				rctx, rcancel := context.WithTimeout(ctx, o.timeout)
				t0 := time.Now()
				err := call(rctx)
				t1 := time.Now()
				rcancel()
				if err != nil && ctx.Err() != nil {
					break // cut short by the end of the run, not a failure
				}
				w.add(t1.Sub(t0), err)
				o.trace.record(t0, t1, err)
				next = t0.Add(o.interval)
			}
			done <- w
		}()
	}
	var all []workerResult
	for range o.concurrency {
		all = append(all, <-done)
	}
	return summarise(all, time.Since(start))
}

// pace waits until next and reports whether ctx is still live then.
func pace(ctx context.Context, next time.Time) bool {
	if d := time.Until(next); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	return ctx.Err() == nil
}
