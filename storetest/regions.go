package storetest

import (
	"testing"
	"time"

	"github.com/micro/platform"
)

func testRegions(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	created := testTime.Truncate(time.Microsecond)
	lon := &platform.Region{Name: "lon1", Provider: "digitalocean", Location: "lon1",
		GatewayEndpoint: "https://lon1.example.dev", KubeconfigRef: "secret://kubeconfig/lon1", CreatedAt: created, UpdatedAt: created}
	local := &platform.Region{Name: "local", Provider: "local", CreatedAt: created, UpdatedAt: created}
	must(t, s.PutRegion(ctx, lon))
	must(t, s.PutRegion(ctx, local))

	got, err := s.GetRegion(ctx, "lon1")
	must(t, err)
	sameJSON(t, "lon1", got, lon)
	list, err := s.ListRegions(ctx)
	must(t, err)
	sameJSON(t, "ListRegions", list, []*platform.Region{local, lon})

	t.Run("put again replaces and keeps CreatedAt", func(t *testing.T) {
		later := created.Add(time.Hour)
		again := &platform.Region{Name: "lon1", Provider: "digitalocean", Location: "lon1",
			GatewayEndpoint: "https://gw.lon1.example.dev", UpdatedAt: later}
		must(t, s.PutRegion(ctx, again))
		got, err := s.GetRegion(ctx, "lon1")
		must(t, err)
		if !got.CreatedAt.Equal(created) || !got.UpdatedAt.Equal(later) || got.GatewayEndpoint != "https://gw.lon1.example.dev" || got.KubeconfigRef != "" {
			t.Errorf("after a second put: %+v", got)
		}
	})
	t.Run("errors", func(t *testing.T) {
		wantCode(t, s.PutRegion(ctx, &platform.Region{Name: "Bad_Name", Provider: "aws"}), platform.EINVALID)
		wantCode(t, s.PutRegion(ctx, &platform.Region{Name: "fra1", Provider: "awz"}), platform.EINVALID)
		wantCode(t, s.PutRegion(ctx, &platform.Region{Name: "fra1", Provider: "aws", GatewayEndpoint: "ftp://x"}), platform.EINVALID)
		_, err := s.GetRegion(ctx, "fra1")
		wantCode(t, err, platform.ENOTFOUND)
		wantCode(t, s.DeleteRegion(ctx, "fra1"), platform.ENOTFOUND)
	})
	t.Run("delete", func(t *testing.T) {
		must(t, s.DeleteRegion(ctx, "local"))
		_, err := s.GetRegion(ctx, "local")
		wantCode(t, err, platform.ENOTFOUND)
	})
}

// testRegionTokens checks the agent side of a region: its token hash, looked up and
// revoked, and kept with when and which agent was last connected when the region is
// registered again.
func testRegionTokens(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	register := func(name, endpoint string) *platform.Region {
		t.Helper()
		r := &platform.Region{Name: name, Provider: "digitalocean", GatewayEndpoint: endpoint}
		must(t, s.PutRegion(ctx, r))
		return r
	}
	get := func(name string) *platform.Region {
		t.Helper()
		r, err := s.GetRegion(ctx, name)
		must(t, err)
		return r
	}
	lon := register("lon1", "")
	register("fra1", "")
	if lon.TokenHash != "" || lon.LastSeen != nil || lon.AgentVersion != "" {
		t.Fatalf("new region = %+v, want no token, never seen", lon)
	}
	_, err := s.RegionByTokenHash(ctx, "")
	wantCode(t, err, platform.ENOTFOUND)

	t.Run("set and look up", func(t *testing.T) {
		must(t, s.SetRegionToken(ctx, "lon1", "hash-lon1"))
		got, err := s.RegionByTokenHash(ctx, "hash-lon1")
		must(t, err)
		if got.Name != "lon1" || got.TokenHash != "hash-lon1" {
			t.Fatalf("RegionByTokenHash = %+v, want lon1", got)
		}
		_, err = s.RegionByTokenHash(ctx, "hash-other")
		wantCode(t, err, platform.ENOTFOUND)
		// Regions without a token share the empty hash; it finds none of them.
		_, err = s.RegionByTokenHash(ctx, "")
		wantCode(t, err, platform.ENOTFOUND)
	})
	t.Run("touch", func(t *testing.T) {
		must(t, s.TouchRegion(ctx, "lon1", testTime, "v1.2.3"))
		got := get("lon1")
		if got.LastSeen == nil || got.AgentVersion != "v1.2.3" {
			t.Fatalf("region after touch = %+v, want last seen and agent v1.2.3", got)
		}
		sameTime(t, "LastSeen", *got.LastSeen, testTime)
		later := testTime.Add(time.Minute)
		must(t, s.TouchRegion(ctx, "lon1", later, "v1.2.4"))
		got = get("lon1")
		sameTime(t, "LastSeen", *got.LastSeen, later)
		if got.AgentVersion != "v1.2.4" || got.TokenHash != "hash-lon1" {
			t.Fatalf("region after a second touch = %+v, want agent v1.2.4 and its token", got)
		}
	})
	t.Run("put again keeps the token and last contact", func(t *testing.T) {
		again := register("lon1", "https://gw.lon1.example.dev")
		if again.TokenHash != "hash-lon1" || again.AgentVersion != "v1.2.4" || again.LastSeen == nil {
			t.Fatalf("written back region = %+v, want its token, agent and last contact kept", again)
		}
		got, err := s.RegionByTokenHash(ctx, "hash-lon1")
		must(t, err)
		if got.GatewayEndpoint != "https://gw.lon1.example.dev" || got.AgentVersion != "v1.2.4" {
			t.Fatalf("region after a second put = %+v, want the new endpoint and the agent kept", got)
		}
		sameTime(t, "LastSeen", *got.LastSeen, testTime.Add(time.Minute))
	})
	t.Run("put with a token sets it", func(t *testing.T) {
		r := &platform.Region{Name: "fra1", Provider: "digitalocean", TokenHash: "hash-fra1"}
		must(t, s.PutRegion(ctx, r))
		if got := get("fra1"); got.TokenHash != "hash-fra1" {
			t.Fatalf("token hash = %q, want hash-fra1", got.TokenHash)
		}
	})
	t.Run("a hash names one region", func(t *testing.T) {
		wantCode(t, s.SetRegionToken(ctx, "fra1", "hash-lon1"), platform.ECONFLICT)
		wantCode(t, s.PutRegion(ctx, &platform.Region{Name: "fra1", Provider: "aws", TokenHash: "hash-lon1"}), platform.ECONFLICT)
		if got := get("fra1"); got.TokenHash != "hash-fra1" || got.Provider != "digitalocean" {
			t.Fatalf("fra1 after rejected writes = %+v, want it unchanged", got)
		}
	})
	t.Run("revoke", func(t *testing.T) {
		must(t, s.SetRegionToken(ctx, "lon1", ""))
		must(t, s.SetRegionToken(ctx, "fra1", ""))
		_, err := s.RegionByTokenHash(ctx, "hash-lon1")
		wantCode(t, err, platform.ENOTFOUND)
		if got := get("lon1"); got.TokenHash != "" || got.AgentVersion != "v1.2.4" {
			t.Fatalf("revoked region = %+v, want no token and its last agent", got)
		}
	})
	t.Run("missing", func(t *testing.T) {
		wantCode(t, s.SetRegionToken(ctx, "nope", "hash-nope"), platform.ENOTFOUND)
		wantCode(t, s.TouchRegion(ctx, "nope", testTime, "v1"), platform.ENOTFOUND)
		_, err := s.RegionByTokenHash(ctx, "hash-nope")
		wantCode(t, err, platform.ENOTFOUND)
	})
}
