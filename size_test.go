package platform_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/micro/platform"
)

func TestSizes(t *testing.T) {
	tests := []struct {
		size      platform.Size
		wantErr   bool
		cpuMillis int64
		memory    int64
		describe  string
	}{
		{"", false, 100, 128 << 20, "nano (100m CPU, 128Mi memory)"},
		{platform.SizeNano, false, 100, 128 << 20, "nano (100m CPU, 128Mi memory)"},
		{platform.SizeSmall, false, 250, 256 << 20, "small (250m CPU, 256Mi memory)"},
		{platform.SizeMedium, false, 500, 512 << 20, "medium (500m CPU, 512Mi memory)"},
		{platform.SizeLarge, false, 1000, 1 << 30, "large (1 CPU, 1Gi memory)"},
		{platform.SizeXLarge, false, 2000, 2 << 30, "xlarge (2 CPU, 2Gi memory)"},
		{"huge", true, 0, 0, ""},
		{"Small", true, 0, 0, ""},
		{" small", true, 0, 0, ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.size), func(t *testing.T) {
			err := tt.size.Validate()
			if tt.wantErr {
				if platform.ErrorCode(err) != platform.EINVALID {
					t.Fatalf("Validate() = %v, want EINVALID", err)
				}
				msg := platform.ErrorMessage(err)
				if !strings.Contains(msg, string(tt.size)) || !strings.Contains(msg, "nano, small, medium, large, xlarge") {
					t.Fatalf("message %q must name the size and list the valid ones", msg)
				}
			} else if err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
			cpu, mem := tt.size.Resources()
			if cpu != tt.cpuMillis || mem != tt.memory {
				t.Fatalf("Resources() = %d, %d; want %d, %d", cpu, mem, tt.cpuMillis, tt.memory)
			}
			if !tt.wantErr && tt.size.Describe() != tt.describe {
				t.Fatalf("Describe() = %q, want %q", tt.size.Describe(), tt.describe)
			}
		})
	}
}

// TestSizesGrow keeps the catalogue ordered, smallest first, with the default in it.
func TestSizesGrow(t *testing.T) {
	sizes := platform.Sizes()
	if !slices.Contains(sizes, platform.DefaultSize) {
		t.Fatalf("default size %q is not in the catalogue %s", platform.DefaultSize, platform.SizeNames())
	}
	for i := 1; i < len(sizes); i++ {
		c0, m0 := sizes[i-1].Resources()
		c1, m1 := sizes[i].Resources()
		if c1 <= c0 || m1 <= m0 {
			t.Fatalf("%s is not bigger than %s", sizes[i], sizes[i-1])
		}
	}
}
