package platform_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	platform "github.com/micro/platform"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"acme", true},
		{"a", true},
		{"hello-world2", true},
		{"", false},
		{"Acme", false},
		{"2fast", false},
		{"ends-", false},
		{"under_score", false},
		{"dot.ted", false},
		{"a234567890123456789012345678901234567890", true},
		{"a2345678901234567890123456789012345678901", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := platform.ValidateName("service", tt.name)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
			}
			if err != nil && platform.ErrorCode(err) != platform.EINVALID {
				t.Errorf("code = %s, want invalid", platform.ErrorCode(err))
			}
		})
	}
}

func TestErrorCodeAndMessage(t *testing.T) {
	coded := fmt.Errorf("deploy: %w", platform.Errorf(platform.ENOTFOUND, "namespace %q not found", "acme").WithHint("create it"))
	tests := []struct {
		name            string
		err             error
		code, msg, hint string
	}{
		{"nil", nil, "", "", ""},
		{"wrapped coded", coded, platform.ENOTFOUND, `namespace "acme" not found`, "create it"},
		{"uncoded hides its text", errors.New("dial tcp 10.0.0.1: secret detail"), platform.EINTERNAL, "internal error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := platform.ErrorCode(tt.err); got != tt.code {
				t.Errorf("code = %q, want %q", got, tt.code)
			}
			if got := platform.ErrorMessage(tt.err); got != tt.msg {
				t.Errorf("message = %q, want %q", got, tt.msg)
			}
			if got := platform.ErrorHint(tt.err); got != tt.hint {
				t.Errorf("hint = %q, want %q", got, tt.hint)
			}
		})
	}
}

func TestAuthorize(t *testing.T) {
	past := time.Now().Add(-time.Hour)
	admin := &platform.Token{Name: "admin", Admin: true}
	acme := &platform.Token{Name: "acme", Namespaces: []string{"acme"}}
	tests := []struct {
		name  string
		token *platform.Token
		ns    string
		code  string
	}{
		{"no token", nil, "acme", platform.EUNAUTHENTICATED},
		{"admin anywhere", admin, "globex", ""},
		{"admin platform-wide", admin, "", ""},
		{"own namespace", acme, "acme", ""},
		{"other namespace", acme, "globex", platform.EFORBIDDEN},
		{"platform-wide needs admin", acme, "", platform.EFORBIDDEN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.token != nil {
				ctx = platform.NewContextWithToken(ctx, tt.token)
			}
			if got := platform.ErrorCode(platform.Authorize(ctx, tt.ns)); got != tt.code {
				t.Errorf("Authorize = %q, want %q", got, tt.code)
			}
		})
	}
	if !(&platform.Token{ExpiresAt: &past}).Expired(time.Now()) {
		t.Error("a token past its expiry is not expired")
	}
}

func TestHighestRole(t *testing.T) {
	t.Parallel()
	links := []*platform.GitHubLink{
		{GitHubOrg: "Acme-Inc", Team: "devs", Role: platform.RoleDeveloper},
		{GitHubOrg: "acme-inc", Team: "SRE", Role: platform.RoleAdmin},
	}
	tests := []struct {
		name  string
		teams []string
		want  platform.Role
	}{
		{"no teams", nil, ""},
		{"unlinked team", []string{"acme-inc/design", "other/devs"}, ""},
		{"lowercased sign-in", []string{"acme-inc/devs"}, platform.RoleDeveloper},
		{"mixed case", []string{"ACME-INC/Devs"}, platform.RoleDeveloper},
		{"highest wins whatever the case", []string{"acme-inc/devs", "acme-inc/sre"}, platform.RoleAdmin},
		{"no slash", []string{"acme-incdevs"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := platform.HighestRole(links, tt.teams); got != tt.want {
				t.Fatalf("HighestRole(%v) = %q, want %q", tt.teams, got, tt.want)
			}
		})
	}
}
