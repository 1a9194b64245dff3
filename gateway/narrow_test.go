package gateway

import (
	"net/http"
	"testing"

	platform "github.com/micro/platform"
)

// A token narrowed to some tools calls only those, and the mesh is told which scopes the
// caller holds so that it can refuse an endpoint that declares others.
func TestTokenNarrowing(t *testing.T) {
	t.Parallel()
	auth := fakeAuth{
		"mp_hello": {ID: "t-hello", Name: "hello-only", Namespaces: []string{"acme"}, Tools: []string{"helloworld.*"}, Scopes: []string{"mail:read"}},
		"mp_other": {ID: "t-other", Name: "other-only", Namespaces: []string{"acme"}, Tools: []string{"users.Users.Get"}},
	}
	tg := newTestGateway(t, func(o *Options) { o.Auth = auth })
	headers := func(secret string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + secret, HeaderNamespace: "acme"}
	}

	if w := tg.do(req{headers: headers("mp_hello")}); w.Code != http.StatusOK {
		t.Fatalf("a token narrowed to helloworld.* calling helloworld: %d %s", w.Code, w.Body)
	}
	calls := tg.mesh.Calls()
	if len(calls) != 1 || !calls[0].Scoped || len(calls[0].Scopes) != 1 || calls[0].Scopes[0] != "mail:read" {
		t.Fatalf("the mesh got %+v, want one scoped call with the token's scopes", calls)
	}

	w := tg.do(req{headers: headers("mp_other")})
	if w.Code != http.StatusForbidden || errorOf(t, w).Code != platform.EFORBIDDEN {
		t.Fatalf("a token narrowed to users.Users.Get calling helloworld: %d %s", w.Code, w.Body)
	}
	if n := len(tg.mesh.Calls()); n != 1 {
		t.Errorf("the refused call reached the mesh (%d calls)", n)
	}
}
