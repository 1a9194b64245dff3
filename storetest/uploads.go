package storetest

import (
	"strings"
	"testing"

	platform "github.com/micro/platform"
)

// testUploads checks that uploads are recorded per namespace: a digest one namespace
// uploaded is not another's, recording twice is a no-op, and deleting a namespace
// forgets its uploads (a namespace of the same name starts with none).
func testUploads(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustNamespace(t, s, "a")
	mustNamespace(t, s, "b")
	digest := strings.Repeat("0f", 32)
	has := func(ns string) bool {
		t.Helper()
		ok, err := s.HasUpload(ctx, ns, digest)
		must(t, err)
		return ok
	}
	if has("a") {
		t.Fatal("a has an upload before any")
	}
	must(t, s.RecordUpload(ctx, "a", digest))
	must(t, s.RecordUpload(ctx, "a", digest))
	if !has("a") || has("b") {
		t.Fatalf("after a's upload: a %v, b %v; want a only", has("a"), has("b"))
	}
	wantCode(t, s.RecordUpload(ctx, "missing", digest), platform.ENOTFOUND)
	wantCode(t, s.RecordUpload(ctx, "a", "not-a-digest"), platform.EINVALID)
	must(t, s.DeleteNamespace(ctx, "a"))
	mustNamespace(t, s, "a")
	if has("a") {
		t.Fatal("a recreated still has the deleted namespace's upload")
	}
}

// testBuildSealedURL checks that a build's sealed git URL is kept as given, and that
// SetBuildSourceURL replaces the URL and its sealed form (and nothing else).
func testBuildSealedURL(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustNamespace(t, s, "acme")
	b, r := newDeploy("acme", "api", "")
	b.Source = platform.Source{Kind: platform.SourceGit, URL: "https://example.com/r.git", Ref: "main", SealedURL: "sealed-1"}
	must(t, s.Deploy(ctx, b, r))
	got, err := s.GetBuild(ctx, b.ID)
	must(t, err)
	if got.Source != b.Source {
		t.Fatalf("source = %+v, want %+v", got.Source, b.Source)
	}
	must(t, s.SetBuildSourceURL(ctx, b.ID, "https://example.com/other.git", "sealed-2"))
	got, err = s.GetBuild(ctx, b.ID)
	must(t, err)
	want := b.Source
	want.URL, want.SealedURL = "https://example.com/other.git", "sealed-2"
	if got.Source != want || got.Status != b.Status {
		t.Fatalf("after SetBuildSourceURL: %+v, want %+v", got.Source, want)
	}
	wantCode(t, s.SetBuildSourceURL(ctx, "b-missing", "x", ""), platform.ENOTFOUND)
}
