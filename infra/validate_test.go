package infra

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateWithTheEngine runs `tofu validate` on every shipped module whose providers
// are at hand. Only `local`, `existing` and `dns-local` need none; the cloud modules' providers cannot be installed
// offline, so they are checked by parsing (modules_test.go) and golden files instead.
func TestValidateWithTheEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs OpenTofu")
	}
	t.Parallel()
	dir := t.TempDir()
	if err := os.CopyFS(dir, Modules()); err != nil {
		t.Fatal(err)
	}
	entries, err := fs.ReadDir(Modules(), ".")
	if err != nil {
		t.Fatal(err)
	}
	validated := 0
	for _, e := range entries {
		if !e.IsDir() || (e.Name() != ProviderLocal && e.Name() != ProviderExisting && e.Name() != "dns-"+DNSLocal) {
			continue
		}
		mod := filepath.Join(dir, e.Name())
		for _, args := range [][]string{{"init", "-backend=false", "-input=false", "-no-color"}, {"validate", "-no-color"}} {
			cmd := exec.Command(filepath.Join(tofuDir, "tofu"), args...)
			cmd.Dir = mod
			cmd.Env = []string{"TF_CLI_CONFIG_FILE=" + filepath.Join(tofuDir, "tofurc"), "HOME=" + dir, "PATH=/usr/bin:/bin", "CHECKPOINT_DISABLE=1"}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("tofu %s in modules/%s: %v\n%s", strings.Join(args, " "), e.Name(), err, out)
			}
			if args[0] == "validate" && !strings.Contains(string(out), "The configuration is valid") {
				t.Errorf("tofu validate modules/%s: %s", e.Name(), out)
			}
		}
		validated++
	}
	if validated != 3 {
		t.Fatalf("validated %d modules, want local, existing and dns-local", validated)
	}
}
