package server

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	platform "github.com/micro/platform"
	"github.com/micro/platform/sqlstore"
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

func TestTenancyNeedsAFullSandbox(t *testing.T) {
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "platform.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	partial := isolation{problems: []string{"no network isolation: nftables: not supported"}}
	full := isolation{}
	app := func(mut func(*Config)) *App {
		cfg := DefaultConfig()
		mut(&cfg)
		return &App{cfg: cfg, store: store}
	}
	none := func(*Config) {}

	// One organisation (the default): a partial sandbox is said, not refused.
	if err := app(none).checkTenancy(ctx, partial); err != nil {
		t.Fatalf("one organisation: %v", err)
	}
	// GitHub organisations mapped to two platform organisations: refused, unless opted in.
	twoOrgs := func(c *Config) {
		c.GitHub.Organizations = map[string]string{"acme-inc": "default", "globex-inc": "globex"}
	}
	err = app(twoOrgs).checkTenancy(ctx, partial)
	if platform.ErrorCode(err) != platform.EUNAVAILABLE || !strings.Contains(err.Error(), "cannot keep their code apart") ||
		!strings.Contains(platform.ErrorHint(err), "unsandboxed_tenants") {
		t.Errorf("two organisations on a partial sandbox: %v (hint %q)", err, platform.ErrorHint(err))
	}
	if err := app(func(c *Config) { twoOrgs(c); c.UnsandboxedTenants = true }).checkTenancy(ctx, partial); err != nil {
		t.Errorf("opted in: %v", err)
	}
	if err := app(twoOrgs).checkTenancy(ctx, full); err != nil {
		t.Errorf("full sandbox: %v", err)
	}
	// Organisations in the store count the same.
	if err := store.CreateOrg(ctx, &platform.Org{Name: "globex"}); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateOrg(ctx, &platform.Org{Name: "initech"}); err != nil {
		t.Fatal(err)
	}
	if err := app(none).checkTenancy(ctx, partial); platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Errorf("organisations in the store on a partial sandbox: %v", err)
	}

	// sandbox: required refuses any gap; auto does not.
	if err := app(func(c *Config) { c.Sandbox = SandboxRequired }).requireSandbox(partial); platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Errorf("required with a gap: %v", err)
	}
	if err := app(none).requireSandbox(partial); err != nil {
		t.Errorf("auto with a gap: %v", err)
	}
	if got := partial.summary(); !strings.HasPrefix(got, "partial: no network isolation") {
		t.Errorf("summary = %q", got)
	}
	if got := full.summary(); got != "sandboxed" {
		t.Errorf("summary = %q", got)
	}
}
