package seal_test

import (
	"strings"
	"testing"

	"github.com/micro/platform/internal/seal"
)

func TestSealOpen(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	b, err := seal.New(secret, "release-env")
	if err != nil {
		t.Fatal(err)
	}
	s1, s2 := b.Seal("hunter2"), b.Seal("hunter2")
	if strings.Contains(s1, "hunter2") || s1 == s2 {
		t.Fatalf("sealed values %q %q: want ciphertext with fresh nonces", s1, s2)
	}
	if got, err := b.Open(s1); err != nil || got != "hunter2" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	other, _ := seal.New(secret, "something-else")
	if _, err := other.Open(s1); err == nil {
		t.Error("a key for another purpose opened the value")
	}
	tampered := s1[:len(s1)-2] + "AA"
	if _, err := b.Open(tampered); err == nil {
		t.Error("a tampered value opened")
	}
	if _, err := b.Open("plain"); err == nil {
		t.Error("an unsealed value opened")
	}
	if _, err := seal.New([]byte("short"), "x"); err == nil {
		t.Error("a short secret was accepted")
	}
}
