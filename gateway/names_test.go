package gateway

import (
	"math/rand/v2"
	"strings"
	"testing"

	platform "github.com/micro/platform"
)

// TestValidateNameAgrees checks the fast name check against platform.ValidateName, on
// chosen edge cases and on random strings over the characters that matter.
func TestValidateNameAgrees(t *testing.T) {
	t.Parallel()
	cases := []string{"", "a", "z", "A", "0", "-", "a-", "-a", "a-b", "a1", "1a", "helloworld",
		"hello_world", "Hello", "a.b", "a b", "é", strings.Repeat("a", 40), strings.Repeat("a", 41),
		strings.Repeat("a", 39) + "-", "a" + strings.Repeat("-", 38) + "b", "a\n"}
	const alphabet = "az09-A_.é"
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(44) {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		cases = append(cases, b.String())
	}
	for _, name := range cases {
		want := platform.ValidateName("service", name) == nil
		if got := validateName("service", name) == nil; got != want {
			t.Fatalf("validateName(%q) valid = %v, platform.ValidateName says %v", name, got, want)
		}
	}
}
