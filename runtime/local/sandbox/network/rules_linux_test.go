package network

import (
	"slices"
	"testing"
)

func TestPrefixMask(t *testing.T) {
	tests := []struct {
		bits, size int
		want       []byte
	}{
		{8, 4, []byte{255, 0, 0, 0}},
		{12, 4, []byte{255, 240, 0, 0}},
		{10, 4, []byte{255, 192, 0, 0}},
		{32, 4, []byte{255, 255, 255, 255}},
		{7, 16, []byte{254, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		if got := prefixMask(tt.bits, tt.size); !slices.Equal(got, tt.want) {
			t.Errorf("prefixMask(%d, %d) = %v, want %v", tt.bits, tt.size, got, tt.want)
		}
	}
}
