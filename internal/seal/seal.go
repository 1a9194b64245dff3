// Package seal encrypts small secrets at rest (AES-256-GCM) with a key derived from the
// server's secret key, so the store never holds them in the clear.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// prefix marks a sealed value and its format version.
const prefix = "sealed:v1:"

// Box seals and opens values with one key.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box whose key is derived from secret for purpose (e.g. "release-env"),
// so one server secret yields independent keys.
func New(secret []byte, purpose string) (*Box, error) {
	if len(secret) < 16 {
		return nil, errors.New("seal: secret must be at least 16 bytes")
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("seal:" + purpose))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext with a fresh nonce.
func (b *Box) Seal(plaintext string) string {
	nonce := make([]byte, b.aead.NonceSize())
	_, _ = rand.Read(nonce)
	ct := b.aead.Seal(nonce, nonce, []byte(plaintext), nil)
	return prefix + base64.RawStdEncoding.EncodeToString(ct)
}

// SealURL encrypts plaintext with a fresh nonce into URL-safe base64 without a prefix,
// for values carried in URLs and form fields (OAuth client ids and codes).
func (b *Box) SealURL(plaintext []byte) string {
	nonce := make([]byte, b.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(b.aead.Seal(nonce, nonce, plaintext, nil))
}

// OpenURL decrypts a value made by SealURL.
func (b *Box) OpenURL(sealed string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(raw) < b.aead.NonceSize() {
		return nil, errors.New("seal: malformed sealed value")
	}
	n := b.aead.NonceSize()
	return b.aead.Open(nil, raw[:n], raw[n:], nil)
}

// Open decrypts a value made by Seal.
func (b *Box) Open(sealed string) (string, error) {
	enc, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return "", errors.New("seal: not a sealed value")
	}
	raw, err := base64.RawStdEncoding.DecodeString(enc)
	if err != nil || len(raw) < b.aead.NonceSize() {
		return "", errors.New("seal: malformed sealed value")
	}
	n := b.aead.NonceSize()
	pt, err := b.aead.Open(nil, raw[:n], raw[n:], nil)
	if err != nil {
		return "", fmt.Errorf("seal: cannot open (was the server's secret key changed?): %w", err)
	}
	return string(pt), nil
}
