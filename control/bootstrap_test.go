package control_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/auth"
	"github.com/micro/platform/control"
	"github.com/micro/platform/runtime/fake"
)

func TestParseRegionSeeds(t *testing.T) {
	t.Parallel()
	hash := auth.Hash("tok")
	tests := []struct {
		name, json string
		want       []control.RegionSeed
		errs       []string
	}{
		{"empty", `{}`, []control.RegionSeed{}, nil},
		{"sorted by name", `{"lon1":{"hash":"` + hash + `","provider":"digitalocean","location":"lon1"},"fra1":{"hash":"` + hash + `","provider":"local"}}`,
			[]control.RegionSeed{{Name: "fra1", Provider: "local", TokenHash: hash}, {Name: "lon1", Provider: "digitalocean", Location: "lon1", TokenHash: hash}}, nil},
		{"not JSON", `fra1: x`, nil, []string{"want a JSON object"}},
		{"every problem", `{"fra1":{"hash":"tok","provider":"local"},"Bad":{"hash":"` + hash + `","provider":"mars"}}`, nil,
			[]string{`region "fra1": hash: want the hex SHA-256`, `region "Bad": `, `provider "mars"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := control.ParseRegionSeeds([]byte(tt.json))
			if len(tt.errs) > 0 {
				if platform.ErrorCode(err) != platform.EINVALID {
					t.Fatalf("err = %v, want EINVALID", err)
				}
				for _, w := range tt.errs {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("err = %v, want it to say %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("seeds = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("seed %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// syncBuffer collects log lines written from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestBootstrapRegions seeds regions as `platform infra apply` does, against the real SQL
// store: the seeded token lets the region's agent connect, a seed wins over a token
// issued through the API without losing what registration set, a second bootstrap
// changes nothing, and neither tokens nor hashes reach the log.
func TestBootstrapRegions(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	h := openHarness(t, t.TempDir(), fake.NewHost(), harnessOptions{rollout: 5 * time.Second, logger: slog.New(slog.NewTextHandler(&logs, nil))})
	h.start()
	ctx := context.Background()
	srv := h.regionServer()

	// lon1 was registered and given a token through the API before infra managed it.
	if _, err := h.plane.RegisterRegion(h.admin, &platform.Region{Name: "lon1", Provider: "local", GatewayEndpoint: "https://lon1.example.dev"}); err != nil {
		t.Fatal(err)
	}
	apiToken, err := h.plane.IssueRegionToken(h.admin, "lon1")
	if err != nil {
		t.Fatal(err)
	}
	fraToken, _ := auth.NewSecret()
	lonToken, _ := auth.NewSecret()
	seeds := []control.RegionSeed{
		{Name: "fra1", Provider: "digitalocean", Location: "fra1", TokenHash: auth.Hash(fraToken)},
		{Name: "lon1", Provider: "digitalocean", Location: "lon1", TokenHash: auth.Hash(lonToken)},
	}
	if err := h.plane.BootstrapRegions(ctx, seeds); err != nil {
		t.Fatal(err)
	}

	fra, err := h.store.GetRegion(ctx, "fra1")
	if err != nil {
		t.Fatalf("fra1 was not created: %v", err)
	}
	if fra.Provider != "digitalocean" || fra.Location != "fra1" {
		t.Errorf("fra1 = %s %s, want digitalocean fra1", fra.Provider, fra.Location)
	}
	lon, err := h.store.GetRegion(ctx, "lon1")
	if err != nil {
		t.Fatal(err)
	}
	if lon.GatewayEndpoint != "https://lon1.example.dev" || lon.Provider != "digitalocean" {
		t.Errorf("lon1 = %+v: want the registered gateway kept and the seed's provider", lon)
	}
	if _, err := h.store.RegionByTokenHash(ctx, auth.Hash(apiToken)); !platform.IsNotFound(err) {
		t.Errorf("the token issued through the API still finds a region (err %v): the seed must win", err)
	}

	t.Run("the seeded token connects the agent", func(t *testing.T) {
		h.connectRegion(srv, "fra1", fraToken, fake.NewHost())
		h.eventually("fra1 connected", func() bool { return h.health("fra1") == platform.RegionConnected })
	})
	t.Run("again changes nothing", func(t *testing.T) {
		before, _ := h.store.GetRegion(ctx, "lon1")
		if err := h.plane.BootstrapRegions(ctx, seeds); err != nil {
			t.Fatal(err)
		}
		after, _ := h.store.GetRegion(ctx, "lon1")
		if !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Errorf("lon1 updated at %v, then %v: a second bootstrap rewrote it", before.UpdatedAt, after.UpdatedAt)
		}
		if health := h.health("fra1"); health != platform.RegionConnected {
			t.Errorf("fra1 is %s after a second bootstrap, want still connected", health)
		}
	})
	t.Run("refused seeds", func(t *testing.T) {
		err := h.plane.BootstrapRegions(ctx, []control.RegionSeed{
			{Name: "local", Provider: "local", TokenHash: auth.Hash("a")},
			{Name: "nyc1", Provider: "local", TokenHash: auth.Hash(fraToken)},
		})
		if platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(err.Error(), "region local: ") || !strings.Contains(err.Error(), "region nyc1: ") {
			t.Errorf("err = %v, want EINVALID naming local (the in-process region) and nyc1 (fra1's hash)", err)
		}
	})
	log := logs.String()
	if !strings.Contains(log, "region=lon1") || !strings.Contains(log, "token replaced") {
		t.Errorf("the replaced API token of lon1 is not logged:\n%s", log)
	}
	for _, secret := range []string{fraToken, lonToken, apiToken, auth.Hash(fraToken), auth.Hash(lonToken)} {
		if strings.Contains(log, secret) {
			t.Errorf("the log holds a token or its hash:\n%s", log)
		}
	}
}
