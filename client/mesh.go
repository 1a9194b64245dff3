package client

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"time"

	platform "github.com/micro/platform"
)

// Connect issues a mesh credential for namespace req.Namespace (ControlPlane.Connect): its
// secret and MICRO_* environment are in the answer, once.
func (c *Client) Connect(ctx context.Context, req platform.ConnectRequest) (*platform.MeshGrant, error) {
	body := struct {
		Name string `json:"name,omitempty"`
		TTL  string `json:"ttl,omitempty"`
	}{Name: req.Name}
	if req.TTL != 0 {
		body.TTL = req.TTL.String()
	}
	var out platform.MeshGrant
	if err := c.do(ctx, http.MethodPost, nsPath(req.Namespace, "connections"), nil, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListConnections returns the namespace's mesh credentials the token may see, each with
// its live clients (ControlPlane.ListConnections).
func (c *Client) ListConnections(ctx context.Context, ns string) ([]*platform.MeshConnection, error) {
	var out struct {
		Connections []*platform.MeshConnection `json:"connections"`
	}
	if err := c.do(ctx, http.MethodGet, nsPath(ns, "connections"), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Connections, nil
}

// DialMesh opens a tunnel to the namespace's mesh server through the platform's address
// (GET /v1/namespaces/{ns}/mesh, upgraded to platform.MeshTunnelProtocol): what is
// written to the returned connection reaches the mesh server and back, over the
// platform's TLS when its address is https. The mesh server still asks for a mesh
// credential (Connect).
func (c *Client) DialMesh(ctx context.Context, ns string) (io.ReadWriteCloser, error) {
	if c.server == "" {
		return nil, platform.Errorf(platform.EINVALID, "no server address configured").
			WithHint("pass --server URL or set PLATFORM_SERVER")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.server+nsPath(ns, "mesh"), nil)
	if err != nil {
		return nil, platform.Errorf(platform.EINVALID, "invalid server address %q: %v", c.server, err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", platform.MeshTunnelProtocol)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.upgrader().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, c.unreachable(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer drain(resp.Body)
		if resp.StatusCode >= 400 {
			return nil, decodeError(resp)
		}
		return nil, platform.Errorf(platform.EUNAVAILABLE, "the platform at %s did not open the mesh tunnel: %s", c.server, resp.Status).
			WithHint("a proxy in front of the platform must pass HTTP upgrades through")
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		resp.Body.Close()
		return nil, platform.Errorf(platform.EUNAVAILABLE, "the mesh tunnel's connection is not writable")
	}
	return rwc, nil
}

// upgrader is an HTTP client for upgrades: like the client's own, but on HTTP/1.1 only
// (HTTP/2 has no Upgrade) and without a timeout on the tunnel's life.
func (c *Client) upgrader() *http.Client {
	var t *http.Transport
	if ht, ok := c.hc.Transport.(*http.Transport); ok {
		t = ht.Clone()
	} else {
		t = http.DefaultTransport.(*http.Transport).Clone()
	}
	t.ForceAttemptHTTP2 = false
	t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	t.ResponseHeaderTimeout = 30 * time.Second
	return &http.Client{Transport: t, CheckRedirect: c.hc.CheckRedirect, Jar: c.hc.Jar}
}
