package oauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
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

// sealer turns values into opaque URL-safe strings and back: JSON sealed with AES-256-GCM
// under a key of its own, derived from the server's secret key for one purpose the way
// internal/seal derives its keys. Anyone may hold a sealed value; only the platform reads
// or makes one.
type sealer struct {
	aead   cipher.AEAD
	prefix string
}

func newSealer(secret []byte, purpose, prefix string) (*sealer, error) {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("oauth:" + purpose))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead, prefix: prefix}, nil
}

// seal returns v sealed, with a fresh nonce.
func (s *sealer) seal(v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return s.prefix + base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(s.prefix))), nil
}

// open reads a value made by seal into v; errUnsealed for anything else.
func (s *sealer) open(text string, v any) error {
	enc, ok := strings.CutPrefix(text, s.prefix)
	if !ok {
		return errUnsealed
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return errUnsealed
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(s.prefix))
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
