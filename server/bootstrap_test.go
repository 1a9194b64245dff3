package server_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/micro/platform/auth"
	"github.com/micro/platform/server"
)

// TestServerBootstrapsRegions starts the server with a region tokens file, as the control
// region of `platform infra apply` has one, and one whose file is missing.
func TestServerBootstrapsRegions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole platform")
	}
	t.Parallel()
	t.Run("listed regions are created", func(t *testing.T) {
		t.Parallel()
		file := filepath.Join(t.TempDir(), "regions.json")
		token, _ := auth.NewSecret()
		seeds := `{"fra1":{"hash":"` + auth.Hash(token) + `","provider":"digitalocean","location":"fra1"}}`
		if err := os.WriteFile(file, []byte(seeds), 0o600); err != nil {
			t.Fatal(err)
		}
		_, c, out := startServer(t, t.TempDir(), func(c *server.Config) { c.RegionTokensFile = file })
		regions, err := c.ListRegions(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, r := range regions {
			if r.Name == "fra1" {
				found = r.Provider == "digitalocean" && r.Location == "fra1"
			}
		}
		if !found {
			t.Errorf("regions = %+v, want fra1 on digitalocean in fra1", regions)
		}
		if strings.Contains(out.String(), token) || strings.Contains(out.String(), auth.Hash(token)) {
			t.Error("the server's output holds the token or its hash")
		}
	})
	t.Run("a missing file seeds nothing", func(t *testing.T) {
		t.Parallel()
		_, c, out := startServer(t, t.TempDir(), func(c *server.Config) { c.RegionTokensFile = filepath.Join(t.TempDir(), "absent.json") })
		regions, err := c.ListRegions(context.Background())
		if err != nil || len(regions) != 1 || regions[0].Name != "local" {
			t.Errorf("regions = %+v (err %v), want local alone", regions, err)
		}
		if !strings.Contains(out.String(), "no region tokens file") {
			t.Errorf("the server does not say it found no region tokens file:\n%s", out)
		}
	})
}
