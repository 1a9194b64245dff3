// Package auth turns API token secrets into platform tokens. It mints secrets, hashes
// them the way platform.Token.Hash stores them, and authenticates bearer secrets through
// a cache in front of a platform.TokenStore, so the gateway's data path does not reach
// the store on every request while revocations still take effect within a bounded time.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
)

// SecretPrefix starts every secret NewSecret mints, so a leaked secret is recognisable by
// secret scanners and in logs.
const SecretPrefix = "mp_"

// secretEncoding is lowercase unpadded base32: 52 characters for 32 bytes, safe in
// headers, URLs and shells, and easy to read aloud.
var secretEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewSecret returns a new random secret (SecretPrefix followed by 32 bytes from
// crypto/rand) and its Hash, which is what a platform.Token stores. The secret is shown
// to the user once and never stored.
func NewSecret() (secret, hash string) {
	var b [32]byte
	// crypto/rand.Read never returns an error on supported platforms; it crashes the
	// program irrecoverably instead.
	_, _ = rand.Read(b[:])
	secret = SecretPrefix + secretEncoding.EncodeToString(b[:])
	return secret, Hash(secret)
}

// Hash returns the hex SHA-256 of secret, the form platform.Token.Hash holds.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// hashKey is the binary SHA-256 of secret: the cache key, cheaper than its hex form.
// Secrets of ordinary length are copied to the stack rather than converted, which would
// allocate on every request.
func hashKey(secret string) [sha256.Size]byte {
	var buf [128]byte
	if len(secret) <= len(buf) {
		n := copy(buf[:], secret)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(secret))
}

// parseHash decodes a hex hash into a cache key; ok is false for anything that is not the
// hex form of a SHA-256.
func parseHash(hash string) (key [sha256.Size]byte, ok bool) {
	if hex.DecodedLen(len(hash)) != sha256.Size {
		return key, false
	}
	if _, err := hex.Decode(key[:], []byte(hash)); err != nil {
		return key, false
	}
	return key, true
}
