// Package platform holds the domain of Micro Platform: the types a user talks about
// (namespaces, services, builds, releases, instances, events, tokens, usage) and the
// interfaces over them. It depends on nothing but the standard library; every
// implementation lives in a subpackage named after what it depends on (sqlstore, natsbus,
// runtime/local, builder, gateway, http).
//
// The layers are framework (go-micro) → runtime (build, run, route one region) → platform
// (control plane). See docs/architecture.md.
package platform

import (
	"crypto/rand"
	"encoding/hex"
	"regexp"
	"strings"
	"time"
)

// nameRE is the shape of namespace and service names: DNS labels, so that the same names
// work as Kubernetes namespaces, host prefixes and NATS account names.
var nameRE = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$`)

// ValidateName returns EINVALID unless name is a lowercase DNS label of at most 40
// characters. kind names the thing being named in the message ("namespace", "service").
func ValidateName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return Errorf(EINVALID, "invalid %s name %q: use 1-40 lowercase letters, digits and '-', starting with a letter and not ending with '-'", kind, name)
	}
	return nil
}

// NewID returns a random identifier with the given prefix, e.g. "b-1f3a9c0d2e4b".
func NewID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// Clock is the source of time for code whose behaviour depends on it (backoff, deadlines,
// billing windows), so tests can control it.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// ShortDuration renders d as a Go duration without zero trailing units ("5m", "1h30m",
// "4h"), which time.ParseDuration reads back: how the API, the CLI and the dashboard
// write durations. "" for 0.
func ShortDuration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
