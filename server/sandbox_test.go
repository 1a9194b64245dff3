package server

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestHostResolvers(t *testing.T) {
	for _, tt := range []struct {
		name, conf string
		want       []netip.Addr
		loopback   bool
	}{
		{"lan resolver", "nameserver 10.255.255.53\n", []netip.Addr{netip.MustParseAddr("10.255.255.53")}, false},
		{"systemd-resolved", "# generated\nnameserver 127.0.0.53\noptions edns0\n", nil, true},
		{"mixed, ipv6 skipped", "nameserver 127.0.0.1\nnameserver ::1\nnameserver 192.168.1.1\nsearch lan\n",
			[]netip.Addr{netip.MustParseAddr("192.168.1.1")}, true},
		{"garbage", "nameserver\nnameserver nonsense\n", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "resolv.conf")
			if err := os.WriteFile(path, []byte(tt.conf), 0o644); err != nil {
				t.Fatal(err)
			}
			got, loopback := hostResolvers(path)
			if !slices.Equal(got, tt.want) || loopback != tt.loopback {
				t.Errorf("hostResolvers = %v, %v; want %v, %v", got, loopback, tt.want, tt.loopback)
			}
		})
	}
}
