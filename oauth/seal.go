package oauth

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"

	"github.com/micro/platform/internal/seal"
)

// Prefixes of the sealed values, so that a client id and a code are told apart at a
// glance (their keys differ too).
const (
	clientPrefix = "mcpclient_"
	codePrefix   = "mcpcode_"
)

// errUnsealed is any sealed value that does not open: forged, damaged, made for another
// purpose or under another secret key. It says no more on purpose.
var errUnsealed = errors.New("not a value this platform sealed")

// sealer turns values into opaque URL-safe strings and back: JSON sealed with
// internal/seal's AES-256-GCM under a key of its own, derived from the server's secret key
// for one purpose. Anyone may hold a sealed value; only the platform reads or makes one.
type sealer struct {
	box    *seal.Box
	prefix string
}

func newSealer(secret []byte, purpose, prefix string) (*sealer, error) {
	box, err := seal.New(secret, "oauth:"+purpose)
	if err != nil {
		return nil, err
	}
	return &sealer{box: box, prefix: prefix}, nil
}

// seal returns v sealed, with a fresh nonce.
func (s *sealer) seal(v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return s.prefix + s.box.SealURL(plain), nil
}

// open reads a value made by seal into v; errUnsealed for anything else.
func (s *sealer) open(text string, v any) error {
	enc, ok := strings.CutPrefix(text, s.prefix)
	if !ok {
		return errUnsealed
	}
	plain, err := s.box.OpenURL(enc)
	if err != nil || json.Unmarshal(plain, v) != nil {
		return errUnsealed
	}
	return nil
}

// digest is the SHA-256 of s, for values a sealed value binds without carrying them.
func digest(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}
