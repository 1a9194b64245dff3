package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"time"

	platform "github.com/micro/platform"
)

// UploadSource uploads a tar.gz source archive (as archive.Pack writes it) into namespace
// ns and returns its sha256 digest, to be used as Source.Archive of a Deploy. EINVALID
// for a bad or too large archive.
func (c *Client) UploadSource(ctx context.Context, ns string, r io.Reader) (string, error) {
	p := nsPath(ns, "sources")
	resp, err := c.send(ctx, http.MethodPost, p, r, nil, "application/gzip")
	if err != nil {
		return "", err
	}
	defer drain(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", decodeError(resp)
	}
	var out struct {
		Archive string `json:"archive"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Archive == "" {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return "", c.badResponse(http.MethodPost, p, err)
	}
	return out.Archive, nil
}

// Deploy records a new release of req.Service in req.Namespace and returns it at once;
// the platform then builds and rolls it out. Follow progress with FollowEvents and
// BuildLog of the release's BuildID.
func (c *Client) Deploy(ctx context.Context, req platform.DeployRequest) (*platform.Release, error) {
	var r platform.Release
	if err := c.do(ctx, http.MethodPost, nsPath(req.Namespace, "deploys"), nil, req, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ListServices returns the services of namespace ns ordered by name.
func (c *Client) ListServices(ctx context.Context, ns string) ([]*platform.ServiceView, error) {
	var out struct {
		Services []*platform.ServiceView `json:"services"`
	}
	if err := c.do(ctx, http.MethodGet, nsPath(ns, "services"), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Services, nil
}

// GetService returns one service: ENOTFOUND if absent.
func (c *Client) GetService(ctx context.Context, ns, name string) (*platform.ServiceView, error) {
	var v platform.ServiceView
	if err := c.do(ctx, http.MethodGet, nsPath(ns, "services", name), nil, nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// ServiceMetrics returns a service's requests, errors and latencies per minute over the
// last since (the server's default, an hour, when 0), a point for every minute.
// EINVALID for a window over platform.MaxMetricsWindow, ENOTFOUND for an unknown service.
func (c *Client) ServiceMetrics(ctx context.Context, ns, service string, since time.Duration) (*platform.ServiceMetrics, error) {
	var q url.Values
	if since != 0 {
		q = url.Values{"since": {since.String()}}
	}
	var m platform.ServiceMetrics
	if err := c.do(ctx, http.MethodGet, nsPath(ns, "services", service, "metrics"), q, nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// DeleteService asks the platform to stop and remove a service; it returns once the
// request is recorded, while instances are still stopping.
func (c *Client) DeleteService(ctx context.Context, ns, name string) error {
	return c.do(ctx, http.MethodDelete, nsPath(ns, "services", name), nil, nil, nil)
}

// Promote makes the service's canary its live release and returns it: the canary's
// running instances take every call, the previous release is drained and stopped.
// ENOTFOUND when the service has no canary, EINVALID while it is still rolling out.
func (c *Client) Promote(ctx context.Context, ns, service string) (*platform.Release, error) {
	var r platform.Release
	if err := c.do(ctx, http.MethodPost, nsPath(ns, "services", service, "promote"), nil, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ListReleases returns the releases of a service, newest first.
func (c *Client) ListReleases(ctx context.Context, ns, service string) ([]*platform.Release, error) {
	var out struct {
		Releases []*platform.Release `json:"releases"`
	}
	if err := c.do(ctx, http.MethodGet, nsPath(ns, "services", service, "releases"), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Releases, nil
}

// GetRelease returns one release: ENOTFOUND if absent.
func (c *Client) GetRelease(ctx context.Context, ns, id string) (*platform.Release, error) {
	var r platform.Release
	if err := c.do(ctx, http.MethodGet, nsPath(ns, "releases", id), nil, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// GetBuild returns one build: ENOTFOUND if absent.
func (c *Client) GetBuild(ctx context.Context, ns, id string) (*platform.Build, error) {
	var b platform.Build
	if err := c.do(ctx, http.MethodGet, nsPath(ns, "builds", id), nil, nil, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// Rollback deploys an earlier release of a service again without building and returns
// the new release (the next version, with that release's artifact); the platform then
// rolls it out. version "" goes back to the release live before the current one.
// ENOTFOUND for an unknown version, EINVALID when there is nothing to go back to.
func (c *Client) Rollback(ctx context.Context, ns, service, version string) (*platform.Release, error) {
	in := struct {
		Version string `json:"version,omitempty"`
	}{version}
	var r platform.Release
	if err := c.do(ctx, http.MethodPost, nsPath(ns, "services", service, "rollback"), nil, in, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
