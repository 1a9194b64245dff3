package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
	"github.com/micro/platform/client"
)

// DefaultActionsAudience is the audience `platform login --github-oidc` asks GitHub's
// OIDC token for unless --audience names another: what the platform's
// github.oidc_audience is set to.
const DefaultActionsAudience = "micro-platform"

// The variables GitHub sets in a job with `permissions: id-token: write`.
const (
	envActionsTokenURL   = "ACTIONS_ID_TOKEN_REQUEST_URL"
	envActionsTokenToken = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
)

// actionsTokenTimeout bounds the request for the job's OIDC token.
const actionsTokenTimeout = 30 * time.Second

// actionsLogin holds the flags of `platform login` that sign in from GitHub Actions.
type actionsLogin struct {
	enabled  bool
	audience string
}

// flags adds --github-oidc and --audience to the login command.
func (o *actionsLogin) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&o.enabled, "github-oidc", false, "in a GitHub Actions job: sign in with the job's OIDC token (the workflow needs `permissions: id-token: write`)")
	f.StringVar(&o.audience, "audience", DefaultActionsAudience, "audience of the OIDC token, as the platform expects it (with --github-oidc)")
	cmd.MarkFlagsMutuallyExclusive("github-oidc", "github")
	cmd.MarkFlagsMutuallyExclusive("github-oidc", "device")
}

// actionsLoginResult is the -o json output of a GitHub Actions login. The token itself
// is in the config file only.
type actionsLoginResult struct {
	Server     string     `json:"server"`
	ConfigFile string     `json:"config_file"`
	Namespace  string     `json:"namespace"`
	TokenID    string     `json:"token_id"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
}

// loginWithActions gets the job's OIDC token from GitHub, trades it for a platform token
// and saves that like `platform login --token` does. Neither the OIDC token nor the
// platform token is ever printed: job logs are often readable by many.
func (a *app) loginWithActions(cmd *cobra.Command, s settings, o *actionsLogin) error {
	if cmd.Flags().Changed("token") {
		return usageErrorf("--token cannot be combined with --github-oidc: it gets a new token")
	}
	if o.audience == "" {
		return usageErrorf("--audience must not be empty")
	}
	ctx := cmd.Context()
	jwt, err := a.actionsIDToken(ctx, o.audience)
	if err != nil {
		return err
	}
	// No platform token: a stale one from the environment or the config file has no
	// business on this request.
	c := client.New(s.Server, client.WithUserAgent("platform-cli/"+version()))
	at, err := c.ExchangeActionsToken(ctx, jwt)
	if err != nil {
		return err
	}
	ns := first(s.Namespace, at.Namespace)
	if !slices.Contains(at.Token.Namespaces, ns) {
		return platform.Errorf(platform.EFORBIDDEN, "the token GitHub Actions got reaches %s, not namespace %s", strings.Join(at.Token.Namespaces, ", "), ns).
			WithHint("link the repository and branch to %s with `platform repos link`, or leave out -n", ns)
	}
	path, err := a.saveConfig(fileConfig{Server: s.Server, Token: at.Secret, Namespace: ns})
	if err != nil {
		return err
	}
	if a.jsonOutput() {
		return a.printJSON(actionsLoginResult{Server: s.Server, ConfigFile: path, Namespace: ns, TokenID: at.Token.ID, ExpiresAt: at.Token.ExpiresAt})
	}
	expires := ""
	if e := at.Token.ExpiresAt; e != nil && e.After(at.Token.CreatedAt) && !at.Token.CreatedAt.IsZero() {
		expires = " (expires in " + roundDuration(e.Sub(at.Token.CreatedAt)) + ")"
	}
	fmt.Fprintf(a.stdout, "Logged in to %s as github-actions for namespace %s%s.\n", s.Server, ns, expires)
	fmt.Fprintf(a.stdout, "Saved server and token to %s\n", path)
	return nil
}

// actionsIDToken asks GitHub for the job's OIDC token for audience, as
// actions/core's getIDToken does.
func (a *app) actionsIDToken(ctx context.Context, audience string) (string, error) {
	reqURL, bearer := a.env[envActionsTokenURL], a.env[envActionsTokenToken]
	if reqURL == "" || bearer == "" {
		return "", platform.Errorf(platform.EINVALID, "no GitHub Actions OIDC token here: %s and %s are not set", envActionsTokenURL, envActionsTokenToken).
			WithHint("run `platform login --github-oidc` in a GitHub Actions job whose workflow (or job) has `permissions: id-token: write`")
	}
	sep := "?"
	if strings.Contains(reqURL, "?") {
		sep = "&"
	}
	reqURL += sep + "audience=" + url.QueryEscape(audience)
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, actionsTokenTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reqURL, nil)
	if err != nil {
		return "", platform.Errorf(platform.EINVALID, "%s is not a URL: %v", envActionsTokenURL, err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "platform-cli/"+version())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if parent.Err() != nil {
			return "", parent.Err()
		}
		return "", platform.Errorf(platform.EUNAVAILABLE, "ask GitHub for the job's OIDC token: %v", stripURL(err)).
			WithHint("GitHub's token service may be down; re-run the job")
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return "", platform.Errorf(platform.EUNAUTHENTICATED, "GitHub refused the job's OIDC token: %s", resp.Status).
			WithHint("the workflow (or job) needs `permissions: id-token: write`")
	}
	var out struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Value == "" {
		return "", platform.Errorf(platform.EUNAVAILABLE, "GitHub answered the OIDC token request without a token").
			WithHint("re-run the job; if it keeps failing, GitHub's token service has changed")
	}
	return out.Value, nil
}

// stripURL drops the request URL from a transport error: it says nothing useful to
// the job's log, which is public for public repositories.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// roundDuration renders d in whole hours or minutes when it is one, "15m" rather than
// "15m0s".
func roundDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
