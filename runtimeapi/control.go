package runtimeapi

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"connectrpc.com/connect"

	platform "github.com/micro/platform"
	pb "github.com/micro/platform/runtimeapi/runtimev1"
	"github.com/micro/platform/runtimeapi/runtimev1/runtimev1connect"
)

// Token cache of a region's gateway: an answer is fresh for tokenTTL (so a revocation
// reaches the region within it), and while the control plane cannot be reached a token it
// accepted stays accepted for tokenStale, so the region keeps serving its known callers.
const (
	tokenTTL   = time.Second
	tokenStale = 10 * time.Minute
	// maxTokens bounds the cache; the oldest half goes when it is full.
	maxTokens = 10_000
)

// ControlClient is an agent's client of the control plane's ControlService: it
// authenticates gateway callers (implementing platform.Authenticator, with a cache),
// records usage (platform.UsageStore's AddRequestUsage) and fetches artifacts.
type ControlClient struct {
	c      runtimev1connect.ControlServiceClient
	region string
	token  string

	mu     sync.Mutex
	tokens map[[sha256.Size]byte]*tokenEntry
	orgs   map[string]string
}

type tokenEntry struct {
	tok  *platform.Token
	err  error
	at   time.Time
	last time.Time // last positive answer
}

// NewControlClient returns the client of region's agent, with its region token, of
// the control plane at baseURL.
func NewControlClient(hc connect.HTTPClient, baseURL, region, token string) *ControlClient {
	return &ControlClient{
		// No gzip: artifacts are most of what it carries, and compressing a binary per
		// region costs the control plane seconds to save little on a fast network.
		c:      runtimev1connect.NewControlServiceClient(hc, baseURL, connect.WithAcceptCompression("gzip", nil, nil)),
		region: region, token: token,
		tokens: map[[sha256.Size]byte]*tokenEntry{}, orgs: map[string]string{},
	}
}

func (c *ControlClient) header(h http.Header) {
	h.Set("Authorization", "Bearer "+c.token)
	h.Set("Micro-Region", c.region)
}

// Authenticate implements platform.Authenticator for the region's gateway.
func (c *ControlClient) Authenticate(ctx context.Context, secret string) (*platform.Token, error) {
	k := sha256.Sum256([]byte(secret))
	now := time.Now()
	c.mu.Lock()
	e := c.tokens[k]
	c.mu.Unlock()
	if e != nil && now.Sub(e.at) < tokenTTL {
		return e.tok, e.err
	}
	req := connect.NewRequest(&pb.AuthenticateRequest{Secret: secret})
	c.header(req.Header())
	res, err := c.c.Authenticate(ctx, req)
	var next tokenEntry
	switch {
	case err == nil:
		next = tokenEntry{tok: TokenFromProto(res.Msg.GetToken()), at: now, last: now}
	case platform.ErrorCode(FromConnect(err)) == platform.EUNAVAILABLE || connect.CodeOf(err) == connect.CodeUnavailable:
		// The control plane is away: a caller it accepted lately stays accepted.
		if e != nil && e.tok != nil && now.Sub(e.last) < tokenStale {
			return e.tok, nil
		}
		return nil, platform.Errorf(platform.EUNAVAILABLE, "cannot check the token: the control plane is unreachable")
	default:
		next = tokenEntry{err: FromConnect(err), at: now}
	}
	c.mu.Lock()
	if len(c.tokens) >= maxTokens {
		for key, old := range c.tokens {
			if now.Sub(old.at) > tokenTTL {
				delete(c.tokens, key)
			}
		}
	}
	c.tokens[k] = &next
	c.mu.Unlock()
	return next.tok, next.err
}

// SetNamespaceOrgs records which organisation owns each namespace, from the region's
// desired state.
func (c *ControlClient) SetNamespaceOrgs(orgs map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.orgs = orgs
}

// NamespaceOrg implements authz.Resolver from the region's desired state.
func (c *ControlClient) NamespaceOrg(_ context.Context, ns string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	org, ok := c.orgs[ns]
	if !ok {
		return "", platform.Errorf(platform.ENOTFOUND, "namespace %q not found", ns)
	}
	return org, nil
}

// AddRequestUsage implements platform.UsageStore for the region's gateway.
func (c *ControlClient) AddRequestUsage(ctx context.Context, records []*platform.RequestUsage) error {
	if len(records) == 0 {
		return nil
	}
	req := connect.NewRequest(UsageToProto(records))
	c.header(req.Header())
	_, err := c.c.RecordUsage(ctx, req)
	return FromConnect(err)
}

// ListRequestUsage implements platform.UsageStore: usage is read on the control plane.
func (c *ControlClient) ListRequestUsage(context.Context, string, string, time.Time, time.Time) ([]*platform.RequestUsage, error) {
	return nil, platform.Errorf(platform.EINVALID, "usage is read from the control plane, not a region")
}

// MeshConfig returns the secret of the regions' NATS gateways and the gateways of the
// regions in the mesh now, by region.
func (c *ControlClient) MeshConfig(ctx context.Context) ([]byte, map[string]string, error) {
	req := connect.NewRequest(&pb.MeshConfigRequest{})
	c.header(req.Header())
	res, err := c.c.MeshConfig(ctx, req)
	if err != nil {
		return nil, nil, FromConnect(err)
	}
	return res.Msg.GetSecret(), res.Msg.GetSeeds(), nil
}

// FetchArtifact writes release's artifact to path (mode 0755), atomically.
func (c *ControlClient) FetchArtifact(ctx context.Context, release, path string) error {
	req := connect.NewRequest(&pb.FetchArtifactRequest{Release: release})
	c.header(req.Header())
	stream, err := c.c.FetchArtifact(ctx, req)
	if err != nil {
		return FromConnect(err)
	}
	defer stream.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".fetch-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	n := 0
	for stream.Receive() {
		w, err := tmp.Write(stream.Msg().GetChunk())
		n += w
		if err != nil {
			tmp.Close()
			return err
		}
	}
	if err := stream.Err(); err != nil {
		tmp.Close()
		return FromConnect(err)
	}
	if n == 0 {
		tmp.Close()
		return platform.Errorf(platform.EUNAVAILABLE, "artifact of release %s arrived empty", release)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("keep artifact of %s: %w", release, err)
	}
	return nil
}

// usageBatch bounds the events of one RecordUsageEvents request.
const usageBatch = 1000

// RegionUsage sends one emitter's usage events (the region's gateway, its log store) to
// the control plane's metering pipeline: PublishWait collects, Flush sends what was
// collected and reports whether the control plane published it. What a failed Flush
// sent is dropped here: the emitters send it again, with the same IDs.
type RegionUsage struct {
	c       *ControlClient
	mu      sync.Mutex
	pending []platform.UsageEvent
}

// UsageEvents returns a RegionUsage of its own for one emitter.
func (c *ControlClient) UsageEvents() *RegionUsage { return &RegionUsage{c: c} }

// PublishWait collects e for the next Flush.
func (u *RegionUsage) PublishWait(_ context.Context, e platform.UsageEvent) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.pending = append(u.pending, e)
	return nil
}

// Flush sends the events collected since the last Flush, in batches, and returns once
// the control plane has published them, or the first failure.
func (u *RegionUsage) Flush(ctx context.Context) error {
	u.mu.Lock()
	events := u.pending
	u.pending = nil
	u.mu.Unlock()
	for len(events) > 0 {
		n := min(len(events), usageBatch)
		req := connect.NewRequest(UsageEventsToProto(events[:n]))
		u.c.header(req.Header())
		if _, err := u.c.c.RecordUsageEvents(ctx, req); err != nil {
			return FromConnect(err)
		}
		events = events[n:]
	}
	return nil
}
