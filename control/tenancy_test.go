package control_test

import (
	"testing"

	platform "github.com/micro/platform"
)

// TestNamespaceNameReuse is the reuse of a namespace name across organisations: the
// default org deletes "staging", whose token narrowed to it must stop working at once
// (the authenticator here trusts its cache for an hour), and globex may not create a
// namespace of that name, whose mesh and registry credentials derive from the name.
// The default org may create it again.
func TestNamespaceNameReuse(t *testing.T) {
	t.Parallel()
	h := newAccounts(t)
	h.namespace("staging", "prod")
	globex := h.orgOwner("globex", "gina")
	_, only, err := h.plane.CreateToken(h.owner, platform.CreateTokenRequest{Name: "ci-staging", Role: platform.RoleDeveloper, Namespaces: []string{"staging"}})
	if err != nil {
		t.Fatal(err)
	}
	_, both, err := h.plane.CreateToken(h.owner, platform.CreateTokenRequest{Name: "ci-both", Role: platform.RoleDeveloper, Namespaces: []string{"staging", "prod"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.plane.DeleteNamespace(h.owner, "staging"); err != nil {
		t.Fatal(err)
	}

	_, err = h.auth.Authenticate(t.Context(), only)
	wantErr(t, err, platform.EUNAUTHENTICATED, "invalid or revoked token")
	tok, err := h.auth.Authenticate(t.Context(), both)
	if err != nil || len(tok.Namespaces) != 1 || tok.Namespaces[0] != "prod" {
		t.Fatalf("token narrowed to staging and prod = %+v, %v; want prod only", tok, err)
	}
	_, err = h.plane.CreateNamespace(globex, "staging")
	wantErr(t, err, platform.ECONFLICT, `namespace name "staging" belongs to another organisation`)
	if _, err := h.plane.CreateNamespace(h.owner, "staging"); err != nil {
		t.Fatalf("the org that used the name recreates it: %v", err)
	}
}
