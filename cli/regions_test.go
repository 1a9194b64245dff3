package cli

import (
	"encoding/json"
	"strings"
	"testing"

	platform "github.com/micro/platform"
)

// TestRegionsTokenNamesTheServer checks that the agent's command names the server the
// CLI talks to, unless --control says otherwise.
func TestRegionsTokenNamesTheServer(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	r := f.run(t, "regions", "token", "fra1")
	want := "platform agent --region fra1 --control " + f.URL + " --token mpr_r3g10n\n"
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Fatalf("exit %d, stdout:\n%s\nwant it to contain %q", r.code, r.stdout, want)
	}
	if strings.Contains(r.stderr, "mpr_r3g10n") {
		t.Errorf("stderr shows the token: %s", r.stderr)
	}
}

func TestRegionsCreate(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	r := f.run(t, "regions", "create", "fra1", "--location", "frankfurt", "--gateway", "https://fra1.example.dev")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	want := platform.Region{Name: "fra1", Provider: "local", Location: "frankfurt", GatewayEndpoint: "https://fra1.example.dev", CreatedAt: t0, UpdatedAt: t0}
	if len(f.regions) != 1 || f.regions[0] != want {
		t.Errorf("registered %+v, want %+v", f.regions, want)
	}
}

// TestRegionsCreateChecksFirst checks that a bad region is refused before any
// request.
func TestRegionsCreateChecksFirst(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	r := f.run(t, "regions", "create", "fra1", "--provider", "hetzner")
	if r.code != 2 || !strings.Contains(r.stderr, `provider "hetzner"`) {
		t.Fatalf("exit %d, stderr %s; want a usage error naming the provider", r.code, r.stderr)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, req := range f.requests {
		if strings.HasPrefix(req, "PUT ") {
			t.Errorf("sent %s", req)
		}
	}
}

// TestNamespacesCreateSendsRegions checks the body of POST /v1/namespaces.
func TestNamespacesCreateSendsRegions(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	if r := f.run(t, "namespaces", "create", "initech", "--regions", "lon1", "--regions", "fra1,nyc3"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var ns platform.Namespace
	if err := json.Unmarshal(f.recorded("POST /v1/namespaces"), &ns); err != nil {
		t.Fatal(err)
	}
	if ns.Name != "initech" || strings.Join(ns.Regions, ",") != "lon1,fra1,nyc3" {
		t.Errorf("request %+v, want initech in lon1,fra1,nyc3", ns)
	}
}
