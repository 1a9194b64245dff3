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

func TestSealURL(t *testing.T) {
	b, err := seal.New([]byte("0123456789abcdef0123456789abcdef"), "url")
	if err != nil {
		t.Fatal(err)
	}
	s := b.SealURL([]byte(`{"a":1}`))
	if strings.ContainsAny(s, "+/=") {
		t.Errorf("sealed value %q is not URL-safe", s)
	}
	if got, err := b.OpenURL(s); err != nil || string(got) != `{"a":1}` {
		t.Fatalf("OpenURL = %q, %v", got, err)
	}
	other, _ := seal.New([]byte("0123456789abcdef0123456789abcdef"), "other")
	if _, err := other.OpenURL(s); err == nil {
		t.Error("a box of another purpose opened the value")
	}
	if _, err := b.OpenURL(s[:len(s)-2] + "AA"); err == nil {
		t.Error("a damaged value opened")
	}
}
