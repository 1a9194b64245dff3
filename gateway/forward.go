package gateway

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"time"

	platform "github.com/micro/platform"
)

// Router tells a region's gateway where the services it does not run are (region.Router).
type Router interface {
	// Remotes returns the gateway URLs of the other regions that run service in ns,
	// nearest healthy first.
	Remotes(ns, service string) []string
	// Local reports whether service in ns runs (or may run) in this region.
	Local(ns, service string) bool
	// Ready reports whether the region has had its desired state: before, a service it
	// lacks may yet start here.
	Ready() bool
	// Observe records how a forward to gateway gw went.
	Observe(gw string, took time.Duration, failed bool)
	// Down returns a channel closed when gateway gw is next found failing, so a call
	// waiting on it moves on to the next region.
	Down(gw string) <-chan struct{}
}

// HeaderForwardedBy marks a call a gateway forwarded to another region's gateway, with
// the forwarding region's name: such a call is served where it arrives or fails there,
// never forwarded again.
const HeaderForwardedBy = "Micro-Forwarded-By"

// forwardHeaders are the request headers a forwarded call carries.
var forwardHeaders = []string{"Authorization", HeaderNamespace, HeaderVersion, HeaderRequestID, "Content-Type"}

// forwardClient forwards calls between regions' gateways: a region that does not answer
// the dial within a second is skipped for the next one.
var forwardClient = &http.Client{Transport: &http.Transport{
	DialContext:         (&net.Dialer{Timeout: time.Second, KeepAlive: 30 * time.Second}).DialContext,
	MaxIdleConnsPerHost: 64,
	IdleConnTimeout:     90 * time.Second,
}}

// forwardable reports whether a call the mesh could not route here (err, or nil before
// asking the mesh) may be forwarded.
func (g *Gateway) forwardable(r *http.Request, err error) bool {
	return g.opts.Router != nil && (err == nil || platform.IsNotFound(err)) && r.Header.Get(HeaderForwardedBy) == ""
}

// errStarting answers for a service a region that has not had its desired state yet
// does not know: it may be about to run it, so callers (and forwarding gateways) should
// try elsewhere or again.
func errStarting(region string) error {
	return platform.Errorf(platform.EUNAVAILABLE, "region %s is starting and does not run this service yet", region).
		WithHint("try again in a few seconds, or through another region's gateway")
}

// forward sends the call to the nearest region that runs the service, and on to the
// next when a region cannot be reached or is unavailable, and writes the answer of the
// first that answers. It reports false when no other region runs the service.
func (g *Gateway) forward(ctx context.Context, w http.ResponseWriter, r *http.Request, req platform.CallRequest, body []byte) (bool, error) {
	remotes := g.opts.Router.Remotes(req.Namespace, req.Service)
	if len(remotes) == 0 {
		return false, nil
	}
	// An attempt abandoned for the next region may still be sending the body.
	body = bytes.Clone(body)
	var lastErr error
	for i, gw := range remotes {
		more := i < len(remotes)-1
		start := g.opts.Clock.Now()
		actx, cancel := context.WithCancel(ctx)
		down := g.opts.Router.Down(gw)
		go func() {
			select {
			case <-down:
				cancel()
			case <-actx.Done():
			}
		}()
		fr, err := http.NewRequestWithContext(actx, http.MethodPost, gw+r.URL.Path, bytes.NewReader(body))
		if err != nil {
			cancel()
			return true, err
		}
		for _, h := range forwardHeaders {
			if v := r.Header.Get(h); v != "" {
				fr.Header.Set(h, v)
			}
		}
		fr.Header.Set(HeaderNamespace, req.Namespace)
		fr.Header.Set(HeaderForwardedBy, g.opts.Region)
		resp, err := forwardClient.Do(fr)
		if err != nil {
			cancel()
			if ctx.Err() != nil {
				return true, ctx.Err()
			}
			// Unreachable, or found hanging (its probe failed) while we waited.
			g.opts.Router.Observe(gw, 0, true)
			lastErr = err
			continue
		}
		switch {
		case resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable:
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			cancel()
			g.opts.Router.Observe(gw, 0, true)
			lastErr = platform.Errorf(platform.EUNAVAILABLE, "region at %s answered %s", gw, resp.Status)
			continue
		case resp.StatusCode == http.StatusNotFound && more:
			// That region does not run it (any more, or yet): the next one may.
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			cancel()
			lastErr = platform.Errorf(platform.ENOTFOUND, "region at %s does not run %s", gw, req.Service)
			continue
		}
		defer cancel()
		g.opts.Router.Observe(gw, g.opts.Clock.Now().Sub(start), false)
		for _, h := range []string{"Content-Type", "Allow"} {
			if v := resp.Header.Get(h); v != "" {
				w.Header().Set(h, v)
			}
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body) // a client that went away is not the gateway's error
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return true, errForwardedStatus{resp.StatusCode}
		}
		return true, nil
	}
	g.opts.Logger.Warn("no region that runs the service answered", "namespace", req.Namespace, "service", req.Service, "err", lastErr)
	return true, platform.Errorf(platform.EUNAVAILABLE, "no region that runs %s answered", req.Service).
		WithHint("try again; `platform services` shows where it runs")
}

// errForwardedStatus is the status another region's gateway answered with; the answer
// is already written, it is only metered.
type errForwardedStatus struct{ status int }

func (e errForwardedStatus) Error() string { return http.StatusText(e.status) }
