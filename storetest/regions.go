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
