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
	// Observe records how a forward to gateway gw went.
	Observe(gw string, took time.Duration, failed bool)
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

// forwardable reports whether a call the mesh could not route here may be forwarded.
func (g *Gateway) forwardable(r *http.Request, err error) bool {
	return g.opts.Router != nil && platform.IsNotFound(err) && r.Header.Get(HeaderForwardedBy) == ""
}

// forward sends the call to the nearest region that runs the service, and on to the
// next when a region cannot be reached or is unavailable, and writes the answer of the
// first that answers. It reports false when no other region runs the service.
func (g *Gateway) forward(ctx context.Context, w http.ResponseWriter, r *http.Request, req platform.CallRequest, body []byte) (bool, error) {
	remotes := g.opts.Router.Remotes(req.Namespace, req.Service)
	if len(remotes) == 0 {
		return false, nil
	}
	var lastErr error
	for _, gw := range remotes {
		start := g.opts.Clock.Now()
		fr, err := http.NewRequestWithContext(ctx, http.MethodPost, gw+r.URL.Path, bytes.NewReader(body))
		if err != nil {
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
			if ctx.Err() != nil {
				return true, ctx.Err()
			}
			g.opts.Router.Observe(gw, 0, true)
			lastErr = err
			continue
		}
		if resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			g.opts.Router.Observe(gw, 0, true)
			lastErr = platform.Errorf(platform.EUNAVAILABLE, "region at %s answered %s", gw, resp.Status)
			continue
		}
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
