package natsbus

import (
	"crypto/subtle"
	"strings"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/micro/platform"
)

var _ server.Authentication = (*authenticator)(nil)

// authenticator admits a client presenting a namespace's derived credentials and binds
// it to that namespace's account; on a Node, also the platform's control user, bound to
// the control account; developers' mesh credentials (admitDeveloper); and, where the
// server runs JetStream, the platform's usage user,
// bound to the usage account (UsageConn). Being consulted on every connection, it sees
// namespaces added or removed at runtime without a server reload.
type authenticator struct {
	bus *Bus
}

// Check implements server.Authentication.
func (a *authenticator) Check(c server.ClientAuthentication) bool {
	if c.Kind() != server.CLIENT {
		return false
	}
	opts := c.GetOpts()
	if a.bus.control && opts.Username == controlUser {
		want := a.bus.controlPassword()
		if subtle.ConstantTimeCompare([]byte(opts.Password), []byte(want)) != 1 {
			return false
		}
		acc, err := a.bus.server().LookupAccount(a.bus.controlAccount())
		if err != nil {
			return false
		}
		c.RegisterUser(&server.User{Username: opts.Username, Account: acc})
		return true
	}
	if opts.Username == usageUser {
		acc := a.bus.usageAccountOf(opts.Password)
		if acc == nil {
			return false
		}
		c.RegisterUser(&server.User{Username: opts.Username, Account: acc})
		return true
	}
	if _, ok := platform.MeshTokenID(opts.Username); ok {
		return a.bus.admitDeveloper(c, opts.Username, opts.Password)
	}
	ns, ok := strings.CutPrefix(opts.Username, userPrefix)
	if !ok || ns == "" {
		return false
	}
	want := a.bus.password(ns)
	if subtle.ConstantTimeCompare([]byte(opts.Password), []byte(want)) != 1 {
		return false
	}
	acc, ok := a.bus.allowed(ns)
	if !ok {
		return false
	}
	c.RegisterUser(&server.User{Username: opts.Username, Account: acc})
	return true
}
