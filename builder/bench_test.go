package builder_test

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkRebuild measures a deploy of a small service with warm Go caches: with the
// source unchanged (the artifact is reused) and with a changed source (compile and link).
func BenchmarkRebuild(b *testing.B) {
	for _, changed := range []bool{false, true} {
		name := map[bool]string{false: "unchanged", true: "changed"}[changed]
		b.Run(name, func(b *testing.B) {
			bld := newBuilder(b)
			src := b.TempDir()
			writeService(b, src, "warm-up")
			if _, _, err := bld.Build(context.Background(), archiveBuild("warm", store(b, bld, src)), &lines{}); err != nil {
				b.Fatal(err)
			}
			for i := 0; b.Loop(); i++ {
				if changed {
					b.StopTimer()
					writeService(b, src, fmt.Sprintf("version %d", i))
					b.StartTimer()
				}
				digest := store(b, bld, src)
				if _, _, err := bld.Build(context.Background(), archiveBuild(fmt.Sprintf("b%d", i), digest), &lines{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
