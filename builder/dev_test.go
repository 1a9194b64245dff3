package builder_test

import (
	"context"
	"debug/elf"
	"testing"
)

// TestDevBuild: a dev build (platform.Build.Dev) links without the symbol table and
// DWARF, runs the same, and is never reused for an ordinary build of the same source
// nor the other way round.
func TestDevBuild(t *testing.T) {
	t.Parallel()
	b := newBuilder(t)
	src := t.TempDir()
	writeService(t, src, "hello dev")
	digest := store(t, b, src)

	hasDWARF := func(bin string) bool {
		t.Helper()
		f, err := elf.Open(bin)
		if err != nil {
			t.Skipf("not an ELF binary: %v", err)
		}
		defer f.Close()
		return f.Section(".debug_info") != nil || f.Section(".zdebug_info") != nil || f.Section(".symtab") != nil
	}
	build := func(id string, dev bool) (string, *lines) {
		t.Helper()
		bd := archiveBuild(id, digest)
		bd.Dev = dev
		log := &lines{}
		art, _, err := b.Build(context.Background(), bd, log)
		if err != nil {
			t.Fatalf("Build %s: %v\n%s", id, err, log.String())
		}
		return art, log
	}

	plain, _ := build("b1", false)
	dev, log := build("b2", true)
	if log.has("reused") || !log.has("compiling .") {
		t.Errorf("a dev build of an ordinary build's source must compile:\n%s", log.String())
	}
	if got := run(t, dev); got != "hello dev" {
		t.Errorf("dev binary printed %q", got)
	}
	if !hasDWARF(plain) || hasDWARF(dev) {
		t.Errorf("symbols and DWARF: ordinary %v, dev %v; want only the ordinary build to have them", hasDWARF(plain), hasDWARF(dev))
	}
	if _, log := build("b3", true); !log.has("reused artifact of build b2") {
		t.Errorf("a second dev build should reuse the first:\n%s", log.String())
	}
	if _, log := build("b4", false); !log.has("reused artifact of build b1") {
		t.Errorf("an ordinary build should reuse the ordinary artifact:\n%s", log.String())
	}
}
