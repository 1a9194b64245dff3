package platform

import (
	"fmt"
	"strings"
)

// Size is how big each instance of a service is: a name from a small fixed catalogue
// that the runtime turns into CPU and memory requests and limits (on Kubernetes, the
// container's requests and limits; the local runtime has no cgroups and ignores them).
// A user picks one with `platform deploy --size`; a redeploy without one keeps the
// service's current size.
//
// The empty Size means DefaultSize, so releases recorded before sizes existed keep
// running as they did.
type Size string

// Sizes of the catalogue, smallest first.
const (
	SizeNano   Size = "nano"
	SizeSmall  Size = "small"
	SizeMedium Size = "medium"
	SizeLarge  Size = "large"
	SizeXLarge Size = "xlarge"
)

// DefaultSize is the size of a service deployed without one. It is nano because nano
// is what every instance got before sizes existed (the Kubernetes runtime's default of
// 100m CPU and 128Mi), so old releases neither change nor roll out again.
const DefaultSize = SizeNano

// sizeResources is the catalogue: the one place sizes are defined.
var sizeResources = []struct {
	size        Size
	cpuMillis   int64
	memoryBytes int64
}{
	{SizeNano, 100, 128 << 20},
	{SizeSmall, 250, 256 << 20},
	{SizeMedium, 500, 512 << 20},
	{SizeLarge, 1000, 1 << 30},
	{SizeXLarge, 2000, 2 << 30},
}

// Sizes returns the catalogue, smallest first.
func Sizes() []Size {
	list := make([]Size, len(sizeResources))
	for i, r := range sizeResources {
		list[i] = r.size
	}
	return list
}

// SizeNames returns the names of the catalogue, smallest first, joined by ", ": for
// help texts and error messages.
func SizeNames() string {
	names := make([]string, len(sizeResources))
	for i, r := range sizeResources {
		names[i] = string(r.size)
	}
	return strings.Join(names, ", ")
}

// OrDefault returns s, or DefaultSize if s is empty.
func (s Size) OrDefault() Size {
	if s == "" {
		return DefaultSize
	}
	return s
}

// Validate returns EINVALID, naming the valid sizes, if s is neither empty nor in the
// catalogue.
func (s Size) Validate() error {
	for _, r := range sizeResources {
		if r.size == s.OrDefault() {
			return nil
		}
	}
	return Errorf(EINVALID, "size %q: want one of %s", string(s), SizeNames()).
		WithHint("leave the size out to keep the service's current one (" + string(DefaultSize) + " for a new service)")
}

// Resources returns the CPU (in thousandths of a core) and memory (in bytes) that one
// instance of size s may use; it is both the request and the limit. The empty size has
// DefaultSize's resources; an unknown size has none (zero), which runtimes read as
// their own default.
func (s Size) Resources() (cpuMillis, memoryBytes int64) {
	for _, r := range sizeResources {
		if r.size == s.OrDefault() {
			return r.cpuMillis, r.memoryBytes
		}
	}
	return 0, 0
}

// Weight is what a second of one instance of size s counts on the instance-seconds
// meter (platform.MeterInstanceSeconds): the size's CPU in units of the smallest size's,
// so nano is 1 and the weight grows with the CPU: small 2, medium 5, large 10, xlarge
// 20. A size whose CPU is not a whole multiple of nano's is rounded down (small is 2.5
// nanos and weighs 2), so that no size counts more than the CPU it gets. The empty size
// weighs as DefaultSize; an unknown size, which runtimes run with their default
// resources, weighs 1.
func (s Size) Weight() int64 {
	cpu, _ := s.Resources()
	return max(1, cpu/sizeResources[0].cpuMillis)
}

// String returns the size's name, DefaultSize's for the empty size.
func (s Size) String() string {
	return string(s.OrDefault())
}

// Describe returns s with its resources, as in "small (250m CPU, 256Mi memory)".
func (s Size) Describe() string {
	cpu, mem := s.Resources()
	return fmt.Sprintf("%s (%s CPU, %s memory)", s, formatMillis(cpu), formatBytes(mem))
}

// formatMillis renders CPU millis as Kubernetes does: "250m", or "1", "2" for whole cores.
func formatMillis(m int64) string {
	if m%1000 == 0 {
		return fmt.Sprint(m / 1000)
	}
	return fmt.Sprintf("%dm", m)
}

// formatBytes renders memory as Kubernetes does: "128Mi", "1Gi".
func formatBytes(b int64) string {
	if b%(1<<30) == 0 {
		return fmt.Sprintf("%dGi", b>>30)
	}
	return fmt.Sprintf("%dMi", b>>20)
}
