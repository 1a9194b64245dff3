package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	platform "github.com/micro/platform"
)

// Secrets of the GitHub Actions login tests: none may ever be printed.
const (
	actionsRequestToken = "ghs-request-token-0123"
	actionsJWT          = "eyJhbGciOiJSUzI1NiJ9.eyJyZXBvc2l0b3J5IjoiYWNtZS9zZXJ2aWNlcyJ9.c2lnbmF0dXJl"
	actionsSecret       = "mp_actions_s3cr3t"
)

// actionsFake stands in for GitHub's OIDC token service (GET /token, as
// ACTIONS_ID_TOKEN_REQUEST_URL) and for the platform (the token exchange, and a
// namespace listing that takes the token it gives).
type actionsFake struct {
	*httptest.Server
	githubStatus   int // answer of GET /token: 0 is 200 with the JWT
	platformRefuse bool

	mu        sync.Mutex
	audiences []string // audience of each token request
	rawQuery  string
	exchanged []string // Authorization header of each exchange ("" expected)
}

func newActionsFake(t *testing.T) *actionsFake {
	t.Helper()
	f := &actionsFake{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /token", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.audiences = append(f.audiences, r.URL.Query().Get("audience"))
		f.rawQuery = r.URL.RawQuery
		f.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+actionsRequestToken {
			writeJSON(w, 401, map[string]string{"message": "bad request token"})
			return
		}
		if f.githubStatus != 0 {
			writeJSON(w, f.githubStatus, map[string]string{"message": "Can't issue ID_TOKEN for audience"})
			return
		}
		writeJSON(w, 200, map[string]any{"count": 1, "value": actionsJWT})
	})
	mux.HandleFunc("POST /v1/auth/github-actions", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.exchanged = append(f.exchanged, r.Header.Get("Authorization"))
		f.mu.Unlock()
		var body struct {
			Token string `json:"token"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		if f.platformRefuse || body.Token != actionsJWT {
			writeError(w, 401, platform.EUNAUTHENTICATED, "GitHub Actions token refused: no namespace links this repository at this branch (acme/services at refs/heads/dev (run 7))",
				"link the repository and branch with `platform repos link`; the workflow needs `permissions: id-token: write`")
			return
		}
		exp := t0.Add(15 * time.Minute)
		writeJSON(w, 201, platform.ActionsToken{Token: &platform.Token{ID: "t-actions", Name: "github-actions acme/services 7", Role: platform.RoleDeveloper,
			Namespaces: []string{"acme", "globex"}, CreatedAt: t0, ExpiresAt: &exp}, Secret: actionsSecret, Namespace: "acme"})
	})
	mux.HandleFunc("GET /v1/namespaces", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+actionsSecret {
			writeError(w, 401, platform.EUNAUTHENTICATED, "invalid token", "")
			return
		}
		writeJSON(w, 200, map[string]any{"namespaces": []platform.Namespace{{Name: "acme", CreatedAt: t0}}})
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func TestLoginGitHubOIDC(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		args           []string
		env            func(f *actionsFake) []string
		githubStatus   int
		platformRefuse bool
		wantCode       int
		wantStdout     string // with SERVER for the fake's URL and CONFIG for the config file
		wantStderr     string
		wantAudience   string
		wantQuery      string
		wantSaved      *fileConfig
	}{
		{
			name: "GitHub's URL has a query: the audience is appended with &",
			args: []string{"login", "--github-oidc"},
			env: func(f *actionsFake) []string {
				return []string{"ACTIONS_ID_TOKEN_REQUEST_URL=" + f.URL + "/token?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + actionsRequestToken,
					"PLATFORM_SERVER=" + f.URL}
			},
			wantStdout:   "Logged in to SERVER as github-actions for namespace acme (expires in 15m).\nSaved server and token to CONFIG\n",
			wantAudience: DefaultActionsAudience, wantQuery: "api-version=2.0&audience=micro-platform",
			wantSaved: &fileConfig{Token: actionsSecret, Namespace: "acme"},
		},
		{
			name: "a URL without a query gets ?audience=, a stale platform token is not sent",
			args: []string{"login", "--github-oidc", "--audience", "https://platform.example.com"},
			env: func(f *actionsFake) []string {
				return []string{"ACTIONS_ID_TOKEN_REQUEST_URL=" + f.URL + "/token", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + actionsRequestToken,
					"PLATFORM_SERVER=" + f.URL, "PLATFORM_TOKEN=revoked-long-ago"}
			},
			wantStdout:   "Logged in to SERVER as github-actions for namespace acme (expires in 15m).\n",
			wantAudience: "https://platform.example.com", wantQuery: "audience=https%3A%2F%2Fplatform.example.com",
			wantSaved: &fileConfig{Token: actionsSecret, Namespace: "acme"},
		},
		{
			name: "-n names the namespace saved",
			args: []string{"login", "--github-oidc", "-n", "globex"},
			env: func(f *actionsFake) []string {
				return []string{"ACTIONS_ID_TOKEN_REQUEST_URL=" + f.URL + "/token", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + actionsRequestToken, "PLATFORM_SERVER=" + f.URL}
			},
			wantStdout:   "Logged in to SERVER as github-actions for namespace globex (expires in 15m).\n",
			wantAudience: DefaultActionsAudience,
			wantSaved:    &fileConfig{Token: actionsSecret, Namespace: "globex"},
		},
		{
			name: "-n outside the token's namespaces",
			args: []string{"login", "--github-oidc", "-n", "staging"},
			env: func(f *actionsFake) []string {
				return []string{"ACTIONS_ID_TOKEN_REQUEST_URL=" + f.URL + "/token", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + actionsRequestToken, "PLATFORM_SERVER=" + f.URL}
			},
			wantCode: 1, wantAudience: DefaultActionsAudience,
			wantStderr: "error: the token GitHub Actions got reaches acme, globex, not namespace staging\n" +
				"hint: link the repository and branch to staging with `platform repos link`, or leave out -n\n",
		},
		{
			name:     "outside GitHub Actions, or without id-token: write",
			args:     []string{"login", "--github-oidc"},
			env:      func(f *actionsFake) []string { return []string{"PLATFORM_SERVER=" + f.URL} },
			wantCode: 1,
			wantStderr: "error: no GitHub Actions OIDC token here: ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set\n" +
				"hint: run `platform login --github-oidc` in a GitHub Actions job whose workflow (or job) has `permissions: id-token: write`\n",
		},
		{
			name: "GitHub refuses the token request",
			args: []string{"login", "--github-oidc"},
			env: func(f *actionsFake) []string {
				return []string{"ACTIONS_ID_TOKEN_REQUEST_URL=" + f.URL + "/token", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + actionsRequestToken, "PLATFORM_SERVER=" + f.URL}
			},
			githubStatus: 403, wantCode: 1, wantAudience: DefaultActionsAudience,
			wantStderr: "error: GitHub refused the job's OIDC token: 403 Forbidden\nhint: the workflow (or job) needs `permissions: id-token: write`\n",
		},
		{
			name: "the platform refuses the token",
			args: []string{"login", "--github-oidc"},
			env: func(f *actionsFake) []string {
				return []string{"ACTIONS_ID_TOKEN_REQUEST_URL=" + f.URL + "/token", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + actionsRequestToken, "PLATFORM_SERVER=" + f.URL}
			},
			platformRefuse: true, wantCode: 1, wantAudience: DefaultActionsAudience,
			wantStderr: "error: GitHub Actions token refused: no namespace links this repository at this branch (acme/services at refs/heads/dev (run 7))\n" +
				"hint: link the repository and branch with `platform repos link`; the workflow needs `permissions: id-token: write`\n",
		},
		{
			name:     "--token cannot be combined",
			args:     []string{"login", "--github-oidc", "--token", "x"},
			env:      func(f *actionsFake) []string { return []string{"PLATFORM_SERVER=" + f.URL} },
			wantCode: 2, wantStderr: "error: --token cannot be combined with --github-oidc: it gets a new token\n",
		},
		{
			name:     "--github cannot be combined",
			args:     []string{"login", "--github-oidc", "--github"},
			env:      func(f *actionsFake) []string { return []string{"PLATFORM_SERVER=" + f.URL} },
			wantCode: 2, wantStderr: "error: if any flags in the group [github-oidc github] are set none of the others can be",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newActionsFake(t)
			f.githubStatus, f.platformRefuse = tt.githubStatus, tt.platformRefuse
			dir := t.TempDir()
			r := runCLI(t, append(tt.env(f), "XDG_CONFIG_HOME="+dir), "", tt.args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.wantCode, r.stdout, r.stderr)
			}
			p := filepath.Join(dir, "micro-platform", "config.json")
			want := strings.NewReplacer("SERVER", f.URL, "CONFIG", p).Replace(tt.wantStdout)
			if !strings.HasPrefix(r.stdout, want) || !strings.HasPrefix(r.stderr, tt.wantStderr) {
				t.Errorf("stdout:\n%s\nstderr:\n%s\nwant stdout prefix:\n%s\nwant stderr prefix:\n%s", r.stdout, r.stderr, want, tt.wantStderr)
			}
			for _, secret := range []string{actionsJWT, actionsSecret, actionsRequestToken} {
				if strings.Contains(r.stdout+r.stderr, secret) {
					t.Errorf("printed a secret %q:\n%s%s", secret, r.stdout, r.stderr)
				}
			}
			f.mu.Lock()
			if tt.wantAudience != "" && (len(f.audiences) != 1 || f.audiences[0] != tt.wantAudience) {
				t.Errorf("GitHub was asked for audiences %q, want [%s]", f.audiences, tt.wantAudience)
			}
			if tt.wantQuery != "" && f.rawQuery != tt.wantQuery {
				t.Errorf("token request query %q, want %q", f.rawQuery, tt.wantQuery)
			}
			for _, h := range f.exchanged {
				if h != "" {
					t.Errorf("the exchange carried Authorization %q: it needs no platform token", h)
				}
			}
			f.mu.Unlock()

			b, err := os.ReadFile(p)
			if tt.wantSaved == nil {
				if err == nil {
					t.Errorf("config file written on failure: %s", b)
				}
				return
			}
			var got fileConfig
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("config file: %v", err)
			}
			tt.wantSaved.Server = f.URL
			if got != *tt.wantSaved {
				t.Errorf("saved %+v, want %+v", got, *tt.wantSaved)
			}
			// A later step of the job uses the saved token without flags or env.
			if r := runCLI(t, []string{"XDG_CONFIG_HOME=" + dir}, "", "namespaces"); r.code != 0 || !strings.Contains(r.stdout, "acme") {
				t.Errorf("after login, namespaces: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}

// TestLoginGitHubOIDCJSON checks -o json: who, where and until when, never the token.
func TestLoginGitHubOIDCJSON(t *testing.T) {
	t.Parallel()
	f := newActionsFake(t)
	dir := t.TempDir()
	r := runCLI(t, []string{"ACTIONS_ID_TOKEN_REQUEST_URL=" + f.URL + "/token", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + actionsRequestToken,
		"PLATFORM_SERVER=" + f.URL, "XDG_CONFIG_HOME=" + dir}, "", "login", "--github-oidc", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var got actionsLoginResult
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	if got.Namespace != "acme" || got.TokenID != "t-actions" || got.ExpiresAt == nil || !got.ExpiresAt.Equal(t0.Add(15*time.Minute)) ||
		got.ConfigFile != filepath.Join(dir, "micro-platform", "config.json") {
		t.Errorf("got %+v", got)
	}
	if strings.Contains(r.stdout, actionsSecret) || strings.Contains(r.stdout, actionsJWT) {
		t.Errorf("printed a secret: %s", r.stdout)
	}
}

// TestActionsIDTokenUnreachable: GitHub's token service down is unavailable, and the
// error does not repeat the request URL.
func TestActionsIDTokenUnreachable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "{}") }))
	url := srv.URL + "/token?secret-ish=1"
	srv.Close()
	r := runCLI(t, []string{"ACTIONS_ID_TOKEN_REQUEST_URL=" + url, "ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + actionsRequestToken, "PLATFORM_SERVER=" + url},
		"", "login", "--github-oidc")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "error: ask GitHub for the job's OIDC token: ") || strings.Contains(r.stderr, "secret-ish") {
		t.Errorf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
}

// TestActionCommands checks that the commands the shipped composite action
// (../action.yml) runs are ones this CLI takes: each `platform ...` line, with the
// inputs' defaults (or examples) filled in, parses with --help.
func TestActionCommands(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var action struct {
		Inputs map[string]struct {
			Default string `yaml:"default"`
		} `yaml:"inputs"`
		Runs struct {
			Using string `yaml:"using"`
			Steps []struct {
				Run string            `yaml:"run"`
				Env map[string]string `yaml:"env"`
			} `yaml:"steps"`
		} `yaml:"runs"`
	}
	if err := yaml.Unmarshal(b, &action); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	inputs := map[string]string{"server": "https://platform.example.com", "namespace": "acme"}
	for name, in := range action.Inputs {
		if in.Default != "" {
			inputs[name] = in.Default
		}
	}
	for _, name := range []string{"server", "namespace", "path", "audience", "version"} {
		if _, ok := inputs[name]; !ok {
			t.Errorf("action.yml has no input %s", name)
		}
	}
	if inputs["audience"] != DefaultActionsAudience || inputs["path"] != "." || inputs["version"] != "latest" {
		t.Errorf("input defaults %v, want audience %s, path . and version latest", inputs, DefaultActionsAudience)
	}
	expr := regexp.MustCompile(`\$\{\{\s*inputs\.(\w+)\s*\}\}`)
	var ran []string
	for _, step := range action.Runs.Steps {
		env := map[string]string{}
		for k, v := range step.Env {
			env[k] = expr.ReplaceAllStringFunc(v, func(m string) string { return inputs[expr.FindStringSubmatch(m)[1]] })
		}
		line := os.Expand(step.Run, func(k string) string { return env[k] })
		if !strings.HasPrefix(line, "platform ") {
			continue
		}
		args := strings.Fields(strings.ReplaceAll(strings.TrimPrefix(line, "platform "), `"`, ""))
		ran = append(ran, args[0])
		if r := runCLI(t, nil, "", append(args, "--help")...); r.code != 0 {
			t.Errorf("%s: exit %d\n%s", line, r.code, r.stderr)
		}
		if args[0] == "login" && !(slices.Contains(args, "--github-oidc") && slices.Contains(args, DefaultActionsAudience)) {
			t.Errorf("the action signs in with %q, want --github-oidc and the audience input", line)
		}
	}
	if action.Runs.Using != "composite" || strings.Join(ran, ",") != "login,deploy" {
		t.Errorf("action runs %q (%s), want a composite of login then deploy", ran, action.Runs.Using)
	}
}
