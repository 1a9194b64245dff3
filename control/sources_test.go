package control_test

import (
	"strings"
	"testing"

	platform "github.com/micro/platform"
)

// TestUploadsAreScopedToTheirNamespace is issue 9's finding 6a: archives were global, so
// a tenant who knew another namespace's upload digest could build its code. A namespace
// deploys only what it uploaded (not_found otherwise, as for a digest nobody uploaded);
// the same content uploaded by both is theirs both.
func TestUploadsAreScopedToTheirNamespace(t *testing.T) {
	t.Parallel()
	h := newAccounts(t)
	h.namespace("a", "b")
	dev := func(ns string) string {
		_, secret, err := h.plane.CreateToken(h.owner, platform.CreateTokenRequest{Name: "ci-" + ns, Role: platform.RoleDeveloper, Namespaces: []string{ns}})
		if err != nil {
			t.Fatal(err)
		}
		return secret
	}
	a, b := h.as(dev("a")), h.as(dev("b"))
	sum, err := h.plane.UploadSource(a, "a", strings.NewReader(digest("a5ec2e7")))
	if err != nil {
		t.Fatal(err)
	}
	deploy := func(ns string) error {
		ctx := a
		if ns == "b" {
			ctx = b
		}
		_, err := h.plane.Deploy(ctx, platform.DeployRequest{Namespace: ns, Service: "api", Source: platform.Source{Kind: platform.SourceArchive, Archive: sum}})
		return err
	}
	wantErr(t, deploy("b"), platform.ENOTFOUND, `was not uploaded to namespace "b"`)
	if svcs, err := h.plane.ListServices(b, "b"); err != nil || len(svcs) != 0 {
		t.Fatalf("b's services after the refusal = %v, %v; want none", svcs, err)
	}
	_, err = h.plane.Deploy(b, platform.DeployRequest{Namespace: "b", Service: "api", Source: platform.Source{Kind: platform.SourceArchive, Archive: digest("0b0d1e5")}})
	wantErr(t, err, platform.ENOTFOUND, `was not uploaded to namespace "b"`)
	if err := deploy("a"); err != nil {
		t.Fatalf("a deploys its own upload: %v", err)
	}
	if _, err := h.plane.UploadSource(b, "b", strings.NewReader(digest("a5ec2e7"))); err != nil {
		t.Fatal(err)
	}
	if err := deploy("b"); err != nil {
		t.Fatalf("b deploys the same content once it uploaded it: %v", err)
	}
	// Deleting a namespace forgets its uploads: a namespace of the same name starts with none.
	if err := h.plane.DeleteNamespace(h.owner, "a"); err != nil {
		t.Fatal(err)
	}
	h.namespace("a")
	_, err = h.plane.Deploy(h.owner, platform.DeployRequest{Namespace: "a", Service: "api", Source: platform.Source{Kind: platform.SourceArchive, Archive: sum}})
	wantErr(t, err, platform.ENOTFOUND, "was not uploaded")
}
