package http_test

import (
	"reflect"
	"strings"
	"testing"

	platform "github.com/micro/platform"
)

// TestCreateTokenScopesAndTools checks that POST /v1/tokens hands a token's scopes and
// tools to the control plane.
func TestCreateTokenScopesAndTools(t *testing.T) {
	t.Parallel()
	cp := &fakeControlPlane{tokenSec: "s3cret"}
	ts := newTestServer(t, cp, nil)
	resp, body := ts.do(t, "POST", "/v1/tokens", adminSecret,
		strings.NewReader(`{"name":"agent","role":"developer","namespaces":["acme"],"scopes":["mail:read","*"],"tools":["mail.Mail.Read","billing.*"]}`))
	if resp.StatusCode != 201 {
		t.Fatalf("status = %d, body %s", resp.StatusCode, body)
	}
	want := platform.CreateTokenRequest{Name: "agent", Role: platform.RoleDeveloper, Namespaces: []string{"acme"},
		Scopes: []string{"mail:read", "*"}, Tools: []string{"mail.Mail.Read", "billing.*"}}
	if got := cp.LastArg(); !reflect.DeepEqual(got, want) {
		t.Fatalf("ControlPlane got %#v, want %#v", got, want)
	}
}
