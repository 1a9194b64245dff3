package natsbus

import (
	"context"
	"maps"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/micro/platform"
)

// Developers' connections (`platform connect`): with Options.Developers set, the embedded
// server also admits user platform.MeshUser(id) whose password is the secret of a mesh
// credential (a platform.TokenMesh token with that ID, of the developer role or more,
// narrowed to one namespace), bound to that namespace's account like its instances. The
// connection is closed when the credential expires (nats-server's connection deadline)
// and, once revoked, within devSweepInterval plus the Authenticator's own delay (none
// for a revocation in this process).

// devSweepInterval is how often the credentials of connected developers are checked again.
const devSweepInterval = 200 * time.Millisecond

// devPruneEvery is how many sweeps pass between forgetting credentials that have no
// connection left.
const devPruneEvery = 25

// developers remembers the credentials the server admitted, to check them again.
type developers struct {
	mu      sync.Mutex
	secrets map[string]string // mesh user → its secret (memory only, never logged)
}

func (d *developers) remember(user, secret string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.secrets == nil {
		d.secrets = make(map[string]string)
	}
	d.secrets[user] = secret
}

func (d *developers) snapshot() map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.secrets)
}

func (d *developers) forget(user string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.secrets, user)
}

// developerToken returns the namespace a mesh credential admits to, or ok false when the
// token is not one: not a mesh token, not user's, not of exactly one namespace, or of a
// user no longer allowed to deploy.
func developerToken(tok *platform.Token, user string) (ns string, ok bool) {
	id, _ := platform.MeshTokenID(user)
	if tok == nil || tok.ID != id || tok.Kind != platform.TokenMesh || len(tok.Namespaces) != 1 ||
		!tok.EffectiveRole().AtLeast(platform.RoleDeveloper) {
		return "", false
	}
	return tok.Namespaces[0], true
}

// Failed developer authentications allowed, per second and in a burst, before the
// server refuses them without asking the Authenticator: every failure may be a store
// lookup, and any process that reaches the mesh's port (a tenant's instance included)
// can try.
const (
	devFailuresPerSecond = 20
	devFailureBurst      = 40
)

// admitDeveloper is the authenticator's decision for a mesh credential.
func (b *Bus) admitDeveloper(c server.ClientAuthentication, user, secret string) bool {
	auth := b.opts.Developers
	if auth == nil || secret == "" {
		return false
	}
	if b.devFailures.Tokens() < 1 {
		return false // too many failures lately: no lookup until the limiter refills
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tok, err := auth.Authenticate(ctx, secret)
	if err != nil {
		b.devFailures.Allow()
		return false
	}
	ns, ok := developerToken(tok, user)
	if !ok {
		b.devFailures.Allow()
		return false
	}
	acc, ok := b.allowed(ns)
	if !ok {
		return false
	}
	u := &server.User{Username: user, Account: acc}
	if tok.ExpiresAt != nil {
		u.ConnectionDeadline = *tok.ExpiresAt
	}
	c.RegisterUser(u)
	b.devs.remember(user, secret)
	b.opts.Logger.Info("developer connected to the mesh", "namespace", ns, "credential", tok.ID,
		"user", tok.User, "remote", c.RemoteAddress().String())
	return true
}

// sweepDevelopers checks every admitted credential again each devSweepInterval and
// closes the connections of those no longer valid, until ctx ends.
func (b *Bus) sweepDevelopers(ctx context.Context, srv *server.Server) {
	t := time.NewTicker(devSweepInterval)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for user, secret := range b.devs.snapshot() {
			if b.developerRefused(ctx, user, secret) {
				closed := b.disconnectUser(srv, user)
				b.devs.forget(user)
				if closed > 0 {
					b.opts.Logger.Info("developer connections closed: credential revoked or expired", "user", user, "connections", closed)
				}
				continue
			}
			if n%devPruneEvery == 0 && len(b.userConns(srv, user)) == 0 {
				b.devs.forget(user)
			}
		}
	}
}

// developerRefused reports whether the credential of user is refused now; a store that
// cannot answer refuses nothing.
func (b *Bus) developerRefused(ctx context.Context, user, secret string) bool {
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tok, err := b.opts.Developers.Authenticate(actx, secret)
	if err != nil {
		return platform.ErrorCode(err) == platform.EUNAUTHENTICATED
	}
	_, ok := developerToken(tok, user)
	return !ok
}

// userConns returns the open connections of user.
func (b *Bus) userConns(srv *server.Server, user string) []*server.ConnInfo {
	cz, err := srv.Connz(&server.ConnzOptions{Username: true, User: user, Limit: 1 << 20})
	if err != nil {
		return nil
	}
	return cz.Conns
}

// disconnectUser closes every connection of user and returns how many it closed.
func (b *Bus) disconnectUser(srv *server.Server, user string) int {
	n := 0
	for _, ci := range b.userConns(srv, user) {
		if srv.DisconnectClientByID(ci.Cid) == nil {
			n++
		}
	}
	return n
}

// DeveloperEnv implements platform.DeveloperMesh: what InstanceEnv gives an instance,
// with the developer's credential instead of the namespace's, and go-micro's nats profile
// (MICRO_PROFILE, MICRO_NATS_ADDRESS) on the same server, for go-micro's own CLI.
func (b *Bus) DeveloperEnv(ns, user, secret string) (map[string]string, string, error) {
	addr, err := b.DeveloperAddr(ns)
	if err != nil {
		return nil, "", err
	}
	u := (&url.URL{Scheme: "nats", User: url.UserPassword(user, secret), Host: addr}).String()
	env := meshEnv(u)
	// go-micro's `micro services` and `micro describe` read the package-level registry,
	// which MICRO_REGISTRY does not set (go-micro's cmd keeps a copy of its own); its
	// nats profile sets every default, that one included.
	env["MICRO_PROFILE"], env["MICRO_NATS_ADDRESS"] = "nats", u
	// As for instances: with the NATS transport the server address is the subject it
	// listens on, and code that fixes one (micro.Address(":9090")) would share it with
	// every other process of the namespace that fixes the same.
	env["MICRO_SERVER_ADDRESS"] = ":0"
	return env, "nats://" + addr, nil
}

// DeveloperAddr implements platform.DeveloperMesh: the embedded server's advertised
// address. EUNAVAILABLE for a Bus on a remote Node (whose server has no Authenticator)
// or without Options.Developers, ENOTFOUND for a namespace without an account.
func (b *Bus) DeveloperAddr(ns string) (string, error) {
	if b.opts.Remote != "" || b.opts.Developers == nil {
		return "", platform.Errorf(platform.EUNAVAILABLE, "this mesh does not admit developer connections")
	}
	b.mu.RLock()
	known := b.namespaces[ns]
	_, addr := b.addrsLocked()
	b.mu.RUnlock()
	if !known {
		return "", platform.Errorf(platform.ENOTFOUND, "namespace %q has no mesh account", ns)
	}
	if addr == "" {
		return "", platform.Errorf(platform.EUNAVAILABLE, "nats server is not running")
	}
	return addr, nil
}

// DeveloperClients implements platform.DeveloperMesh.
func (b *Bus) DeveloperClients(ns string) (map[string][]platform.MeshClient, error) {
	b.mu.RLock()
	srv := b.srv
	b.mu.RUnlock()
	if srv == nil || b.opts.Developers == nil {
		return nil, nil
	}
	cz, err := srv.Connz(&server.ConnzOptions{Username: true, Account: ns, Limit: 1 << 20})
	if err != nil {
		return nil, platform.Errorf(platform.EUNAVAILABLE, "list the mesh's connections: %v", err)
	}
	out := make(map[string][]platform.MeshClient)
	for _, ci := range cz.Conns {
		id, ok := platform.MeshTokenID(ci.AuthorizedUser)
		if !ok {
			continue
		}
		out[id] = append(out[id], platform.MeshClient{
			Remote: net.JoinHostPort(ci.IP, strconv.Itoa(ci.Port)), Name: ci.Name, Lang: ci.Lang, Version: ci.Version,
			Since: ci.Start, InMsgs: ci.InMsgs, OutMsgs: ci.OutMsgs,
		})
	}
	return out, nil
}
