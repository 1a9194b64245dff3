package infra

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tenLocalRegions returns a configuration of ten local regions with local state in stateDir.
func tenLocalRegions(stateDir string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "platform:\n  name: bench\n  domain: bench.test\n  state: { backend: local, path: %s }\nregions:\n", stateDir)
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&b, "  - name: r%02d\n    provider: local\n", i)
	}
	return []byte(b.String())
}

// BenchmarkPlan10Regions times [Engine.Plan] of ten local regions on a work directory that
// is already rendered and initialised, with one region at a time and with the default
// parallelism. It runs the real OpenTofu and is skipped under -short; bench/infra.sh
// compares the same figure with the engine's own plan time.
func BenchmarkPlan10Regions(b *testing.B) {
	if testing.Short() {
		b.Skip("engine benchmark: runs OpenTofu")
	}
	dir := b.TempDir()
	cfg, err := Parse(tenLocalRegions(filepath.Join(dir, "state")), "platform.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for _, parallel := range []int{1, DefaultParallelism} {
		b.Run(fmt.Sprintf("parallel=%d", parallel), func(b *testing.B) {
			e, err := NewEngine(EngineOptions{
				Binary:        filepath.Join(tofuDir, "tofu"),
				WorkDir:       filepath.Join(dir, "work"),
				Env:           []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir},
				CLIConfigFile: filepath.Join(tofuDir, "tofurc"),
				Parallelism:   parallel,
			})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if _, err := e.Plan(ctx, cfg, nil); err != nil { // render and init, untimed
				b.Fatal(err)
			}
			for b.Loop() {
				plans, err := e.Plan(ctx, cfg, nil)
				if err != nil {
					b.Fatal(err)
				}
				if len(plans) != 10 || plans[9].Count(ActionCreate) != 3 {
					b.Fatalf("got %v, want 10 regions of 3 resources to create", plans)
				}
			}
		})
	}
}
