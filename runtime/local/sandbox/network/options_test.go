package network

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	platform "github.com/micro/platform"
)

func TestOptionsDefaults(t *testing.T) {
	tests := []struct {
		name    string
		in      Options
		want    func(Options) bool
		wantErr string // code, then a part of the message
	}{
		{name: "zero", in: Options{}, want: func(o Options) bool {
			return o.Bridge == "mp0" && o.Subnet == DefaultSubnet && o.Table == "micro_platform" &&
				slices.Equal(o.Blocked, DefaultBlocked()) && len(o.HostPorts) == 0
		}},
		{name: "ports sorted and deduplicated", in: Options{HostPorts: []uint16{4222, 80, 4222}}, want: func(o Options) bool {
			return slices.Equal(o.HostPorts, []uint16{80, 4222})
		}},
		{name: "blocked masked", in: Options{Blocked: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8")}}, want: func(o Options) bool {
			return slices.Equal(o.Blocked, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
		}},
		{name: "bridge too long", in: Options{Bridge: "a-very-long-bridge"}, wantErr: "invalid bridge name"},
		{name: "bridge with slash", in: Options{Bridge: "a/b"}, wantErr: "invalid bridge name"},
		{name: "ipv6 subnet", in: Options{Subnet: netip.MustParsePrefix("fd00::/64")}, wantErr: "invalid not IPv4"},
		{name: "subnet too small", in: Options{Subnet: netip.MustParsePrefix("10.1.1.0/31")}, wantErr: "invalid prefix length"},
		{name: "subnet too large", in: Options{Subnet: netip.MustParsePrefix("10.0.0.0/7")}, wantErr: "invalid prefix length"},
		{name: "host bits", in: Options{Subnet: netip.MustParsePrefix("10.213.0.1/16")}, wantErr: "invalid did you mean 10.213.0.0/16"},
		{name: "table name", in: Options{Table: "no spaces"}, wantErr: "invalid table name"},
		{name: "port zero", in: Options{HostPorts: []uint16{0, 4222}}, wantErr: "invalid host port 0"},
		{name: "invalid blocked", in: Options{Blocked: []netip.Prefix{{}}}, wantErr: "invalid blocked prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.withDefaults()
			if tt.wantErr != "" {
				code, msg, _ := strings.Cut(tt.wantErr, " ")
				if platform.ErrorCode(err) != code || !strings.Contains(err.Error(), msg) {
					t.Fatalf("withDefaults() error = %v, want code %s and %q", err, code, msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("withDefaults(): %v", err)
			}
			if !tt.want(got) {
				t.Errorf("withDefaults() = %+v", got)
			}
		})
	}
}

func TestGatewayAndRange(t *testing.T) {
	tests := []struct {
		subnet, gateway, first, last string
	}{
		{"10.213.0.0/16", "10.213.0.1", "10.213.0.2", "10.213.255.254"},
		{"10.214.0.0/24", "10.214.0.1", "10.214.0.2", "10.214.0.254"},
		{"192.0.2.64/30", "192.0.2.65", "192.0.2.66", "192.0.2.66"},
	}
	for _, tt := range tests {
		t.Run(tt.subnet, func(t *testing.T) {
			o, err := Options{Subnet: netip.MustParsePrefix(tt.subnet)}.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			n := newNetwork(o)
			if got := n.Gateway().String(); got != tt.gateway {
				t.Errorf("Gateway() = %s, want %s", got, tt.gateway)
			}
			if n.first.String() != tt.first || n.last.String() != tt.last {
				t.Errorf("range = %s-%s, want %s-%s", n.first, n.last, tt.first, tt.last)
			}
		})
	}
}

func TestHostLink(t *testing.T) {
	a := newNetwork(Options{Bridge: "mp0", Subnet: DefaultSubnet})
	b := newNetwork(Options{Bridge: "mpt0", Subnet: DefaultSubnet})
	tests := []struct {
		name string
		n    *Network
		id   string
	}{
		{"short id", a, "x"},
		{"long id", a, strings.Repeat("helloworld-v12-", 20)},
		{"other bridge", b, "x"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.n.HostLink(tt.id)
			if len(name) != 15 || !strings.HasPrefix(name, "mpv") || !validIfName(name) {
				t.Errorf("HostLink(%q) = %q, want mpv and 12 hex digits", tt.id, name)
			}
			if again := tt.n.HostLink(tt.id); again != name {
				t.Errorf("HostLink(%q) not stable: %q then %q", tt.id, name, again)
			}
			if other, ok := seen[name]; ok {
				t.Errorf("HostLink(%q) = %q, same as for %s", tt.id, name, other)
			}
			seen[name] = tt.name
		})
	}
}

func TestAllocate(t *testing.T) {
	subnet := netip.MustParsePrefix("10.214.0.0/29") // .2 to .6
	addr := netip.MustParseAddr
	type step struct {
		op, id, addr string // op: allocate, reserve, release
		want         string // address, or error code
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"stable per id", []step{
			{"allocate", "a", "", "10.214.0.2"},
			{"allocate", "b", "", "10.214.0.3"},
			{"allocate", "a", "", "10.214.0.2"},
		}},
		{"round robin after release", []step{
			{"allocate", "a", "", "10.214.0.2"},
			{"release", "a", "", ""},
			{"allocate", "b", "", "10.214.0.3"},
			{"allocate", "a", "", "10.214.0.4"},
		}},
		{"exhausted, then wraps", []step{
			{"allocate", "a", "", "10.214.0.2"},
			{"allocate", "b", "", "10.214.0.3"},
			{"allocate", "c", "", "10.214.0.4"},
			{"allocate", "d", "", "10.214.0.5"},
			{"allocate", "e", "", "10.214.0.6"},
			{"allocate", "f", "", platform.EUNAVAILABLE},
			{"release", "b", "", ""},
			{"allocate", "f", "", "10.214.0.3"},
		}},
		{"reserve then allocate skips it", []step{
			{"reserve", "a", "10.214.0.2", ""},
			{"allocate", "a", "", "10.214.0.2"},
			{"allocate", "b", "", "10.214.0.3"},
		}},
		{"reserve moves an id", []step{
			{"allocate", "a", "", "10.214.0.2"},
			{"reserve", "a", "10.214.0.5", ""},
			{"allocate", "a", "", "10.214.0.5"},
			{"reserve", "b", "10.214.0.2", ""},
		}},
		{"reserve conflicts", []step{
			{"reserve", "a", "10.214.0.4", ""},
			{"reserve", "a", "10.214.0.4", ""},
			{"reserve", "b", "10.214.0.4", platform.ECONFLICT},
		}},
		{"reserve outside the range", []step{
			{"reserve", "a", "10.214.0.1", platform.EINVALID}, // gateway
			{"reserve", "a", "10.214.0.0", platform.EINVALID}, // network
			{"reserve", "a", "10.214.0.7", platform.EINVALID}, // broadcast
			{"reserve", "a", "10.214.1.2", platform.EINVALID},
			{"reserve", "a", "::1", platform.EINVALID},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := Options{Subnet: subnet}.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			n := newNetwork(o)
			for i, s := range tt.steps {
				switch s.op {
				case "allocate":
					a, err := n.Allocate(s.id)
					got := a.String()
					if err != nil {
						got = platform.ErrorCode(err)
					}
					if got != s.want {
						t.Fatalf("step %d: Allocate(%s) = %s (%v), want %s", i, s.id, got, err, s.want)
					}
				case "reserve":
					err := n.Reserve(s.id, addr(s.addr))
					if platform.ErrorCode(err) != s.want {
						t.Fatalf("step %d: Reserve(%s, %s) = %v, want %q", i, s.id, s.addr, err, s.want)
					}
				case "release":
					n.Release(s.id)
				}
			}
		})
	}
}
