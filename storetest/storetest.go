// Package storetest is the conformance suite of platform.Store. Every implementation runs
// it from its own tests, so that SQLite, PostgreSQL and any later store behave alike:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) (platform.Store, storetest.Reopen) {
//			path := filepath.Join(t.TempDir(), "platform.db")
//			open := func(t *testing.T) platform.Store { return mustOpen(t, path) }
//			return open(t), open
//		})
//	}
//
// The suite checks what callers of the store see: every method, its error codes, cascade
// deletes, version assignment, superseding and placement in Deploy, redeploying a build,
// builds' endpoint docs, instances per region, concurrent writers, usage arithmetic,
// resource samples, event filtering and paging, region tokens, repository links with
// their webhook deliveries and previews, alerting (rules, channels, silences, alerts
// written by key with compare-and-set, the event cursor, the notification outbox claimed
// under leases), metering, billing (plan history, invoices stored once and exported
// once, customers, spend thresholds announced once), and data surviving Close and reopen.
package storetest

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/micro/platform"
)

// Reopen opens another Store on the storage an OpenFunc created. The suite calls it after
// closing the first store, to check that data survives.
type Reopen func(t *testing.T) platform.Store

// OpenFunc opens a Store on new, empty storage of its own and returns it with a Reopen for
// that same storage. It fails t when it cannot open, and registers the removal of the
// storage with t.Cleanup; the suite closes every store it is given, before that cleanup
// runs.
type OpenFunc func(t *testing.T) (platform.Store, Reopen)

// Run runs the whole suite against stores from open, each part in a parallel subtest with
// a fresh store.
func Run(t *testing.T, open OpenFunc) {
	h := &harness{open: open}
	tests := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"Namespaces", testNamespaces},
		{"NamespaceRegions", testNamespaceRegions},
		{"NamespaceDev", testNamespaceDev},
		{"DeleteNamespaceCascades", testDeleteNamespaceCascades},
		{"NamespaceNamesStayWithTheirOrg", testNamespaceNamesStayWithTheirOrg},
		{"DeleteNamespaceUnscopesTokens", testDeleteNamespaceUnscopesTokens},
		{"Deploy", testDeploy},
		{"DeployServiceState", testDeployServiceState},
		{"DeploySupersedes", testDeploySupersedes},
		{"DeployRegions", testDeployRegions},
		{"DeployErrors", testDeployErrors},
		{"ConcurrentDeploys", testConcurrentDeploys},
		{"ConcurrentWriters", testConcurrentWriters},
		{"Services", testServices},
		{"DeleteService", testDeleteService},
		{"Builds", testBuilds},
		{"Uploads", testUploads},
		{"BuildSealedURL", testBuildSealedURL},
		{"Releases", testReleases},
		{"ReleaseOrigins", testReleaseOrigins},
		{"DeployReusedBuild", testDeployReusedBuild},
		{"BuildDigest", testBuildDigest},
		{"RepoLinks", testRepoLinks},
		{"RepoLinkLastDelivery", testRepoLinkLastDelivery},
		{"Deliveries", testDeliveries},
		{"DeliveryQueue", testDeliveryQueue},
		{"Previews", testPreviews},
		{"RepoCascades", testRepoCascades},
		{"RepoReopen", testRepoReopen},
		{"Instances", testInstances},
		{"InstanceRegions", testInstanceRegions},
		{"Events", testEvents},
		{"EventPaging", testEventPaging},
		{"EventStream", testEventStream},
		{"Tokens", testTokens},
		{"DefaultAccounts", testDefaultAccounts},
		{"Orgs", testOrgs},
		{"Users", testUsers},
		{"Memberships", testMemberships},
		{"TokenOwners", testTokenOwners},
		{"Audit", testAudit},
		{"Usage", testUsage},
		{"ResourceUsage", testResourceUsage},
		{"Regions", testRegions},
		{"RegionTokens", testRegionTokens},
		{"AlertRules", testAlertRules},
		{"AlertChannels", testAlertChannels},
		{"Silences", testSilences},
		{"AlertUpsertByKey", testAlertUpsertByKey},
		{"AlertCursor", testAlertCursor},
		{"EventsAfter", testEventsAfter},
		{"NotificationClaims", testNotificationClaims},
		{"NotificationHistory", testNotificationHistory},
		{"Metering", testMetering},
		{"Billing", testBilling},
		{"Reopen", testReopen},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, h)
		})
	}
}

// harness hands out stores and closes them when a test ends.
type harness struct {
	open OpenFunc
}

// fresh returns a store on new storage, closed when t ends.
func (h *harness) fresh(t *testing.T) platform.Store {
	t.Helper()
	s, _, _ := h.openWithReopen(t)
	return s
}

// openWithReopen returns a store on new storage, a function closing it, and a way to
// open the storage again. Every store is closed exactly once: through its close function
// or when t ends.
func (h *harness) openWithReopen(t *testing.T) (s platform.Store, closeS func(), reopen func() (platform.Store, func())) {
	t.Helper()
	s, r := h.open(t)
	reopen = func() (platform.Store, func()) {
		t.Helper()
		s2 := r(t)
		return s2, closeOnce(t, s2)
	}
	return s, closeOnce(t, s), reopen
}

// closeOnce registers s.Close with t.Cleanup and returns a function closing it now; the
// store is closed once either way, and a failing Close fails t.
func closeOnce(t *testing.T, s platform.Store) func() {
	var once sync.Once
	closeFn := func() {
		once.Do(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	t.Cleanup(closeFn)
	return closeFn
}

// wantCode fails t unless err carries code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := platform.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (err: %v), want %q", got, err, code)
	}
}

// must fails t on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// sameJSON fails t unless got and want encode to the same JSON: the form a user sees.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	must(t, err)
	w, err := json.Marshal(want)
	must(t, err)
	if string(g) != string(w) {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// sameTime fails t unless got is want at microsecond precision.
func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want.Truncate(time.Microsecond)) {
		t.Fatalf("%s = %v, want %v", what, got, want.Truncate(time.Microsecond))
	}
}

// testTime is a fixed time with nanoseconds, which a store keeps to the microsecond.
var testTime = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

// mustNamespace creates namespace name in s.
func mustNamespace(t *testing.T, s platform.Store, name string) {
	t.Helper()
	must(t, s.CreateNamespace(t.Context(), &platform.Namespace{Name: name}))
}

// deploy deploys a build of an archive to ns/svc with the given version ("" for the next
// one) and returns what the store wrote back.
func deploy(t *testing.T, s platform.Store, ns, svc, version string) (*platform.Build, *platform.Release) {
	t.Helper()
	b, r := newDeploy(ns, svc, version)
	must(t, s.Deploy(t.Context(), b, r))
	return b, r
}

// newDeploy returns a build and release for Deploy.
func newDeploy(ns, svc, version string) (*platform.Build, *platform.Release) {
	b := &platform.Build{
		ID:        platform.NewID("b"),
		Namespace: ns,
		Service:   svc,
		Source:    platform.Source{Kind: platform.SourceArchive, Archive: "sha256-" + svc},
	}
	r := &platform.Release{
		ID:        platform.NewID("r"),
		Namespace: ns,
		Service:   svc,
		Version:   version,
		BuildID:   b.ID,
		Replicas:  2,
		Size:      platform.SizeMedium,
		Env:       map[string]string{"GREETING": "hello"},
	}
	return b, r
}
