package github

import (
	"fmt"
	"strings"
	"testing"

	platform "github.com/micro/platform"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	good := Config{ClientID: "id", ClientSecret: "secret", RedirectURL: "https://p.example.com/auth/github/callback"}
	tests := []struct {
		name string
		cfg  func(Config) Config
		want []string
	}{
		{name: "good", cfg: func(c Config) Config { return c }},
		{name: "enterprise URLs", cfg: func(c Config) Config {
			c.WebURL, c.APIURL = "https://ghe.example.com/", "https://ghe.example.com/api/v3/"
			return c
		}},
		{name: "everything wrong at once", cfg: func(c Config) Config { return Config{RedirectURL: "/relative", APIURL: "ftp://x", SyncInterval: -1} },
			want: []string{"client id is not set", "client secret is not set", `redirect URL "/relative"`, `API URL "ftp://x"`, "sync interval -1ns is negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg(good).Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if platform.ErrorCode(err) != platform.EINVALID {
				t.Fatalf("code %q", platform.ErrorCode(err))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v\ndoes not say %q", err, w)
				}
			}
		})
	}
}

func TestConfigHidesSecrets(t *testing.T) {
	t.Parallel()
	c := Config{ClientID: "id", ClientSecret: "s3cret-client", SyncToken: "gho_s3cret", WebhookSecret: "s3cret-hook", RedirectURL: "https://p/cb"}
	for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %s", c, c, c)} {
		if strings.Contains(out, "s3cret") || !strings.Contains(out, "client_id=id") {
			t.Errorf("printed config: %s", out)
		}
	}
}
