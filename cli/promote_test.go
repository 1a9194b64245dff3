package cli

import (
	"encoding/json"
	"testing"

	platform "github.com/micro/platform"
)

// TestPromote checks what `platform promote` prints, against testdata/promote*.golden,
// and its JSON.
func TestPromote(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"promote", []string{"promote", "hello", "-n", "acme"}},
		{"promote_no_canary", []string{"promote", "worker-queue", "-n", "acme"}},
		{"promote_missing_service", []string{"promote", "-n", "acme"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkGolden(t, tt.name, transcript(tt.args, f.run(t, tt.args...)))
		})
	}
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		r := f.run(t, "promote", "hello", "-n", "acme", "-o", "json")
		var rel platform.Release
		if err := json.Unmarshal([]byte(r.stdout), &rel); err != nil || r.code != 0 || rel.Status != platform.ReleaseLive || rel.Version != "v2" {
			t.Errorf("exit %d, release %+v (%v)\n%s", r.code, rel, err, r.stderr)
		}
	})
}
