package cli

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"runtime"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/oauth2"

	platform "github.com/micro/platform"
	"github.com/micro/platform/github"
)

// browserLoginTimeout bounds how long `platform login --github` waits for the browser.
const browserLoginTimeout = 10 * time.Minute

// githubLogin holds the flags of `platform login` that sign in with GitHub.
type githubLogin struct {
	browser, device bool
	org             string
}

// flags adds --github, --device and --org to the login command.
func (g *githubLogin) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&g.browser, "github", false, "sign in with GitHub in the browser (the server must have GitHub configured)")
	f.BoolVar(&g.device, "device", false, "sign in with GitHub's device flow: enter a code on any device with a browser")
	f.StringVar(&g.org, "org", "", "organisation the saved token acts in (default: your first organisation by name)")
	cmd.MarkFlagsMutuallyExclusive("github", "device")
}

// enabled reports whether a GitHub sign-in was asked for.
func (g *githubLogin) enabled() bool { return g.browser || g.device }

// githubLoginResult is the -o json output of a GitHub login. The token itself is in
// the config file only.
type githubLoginResult struct {
	Server     string        `json:"server"`
	ConfigFile string        `json:"config_file"`
	Login      string        `json:"login"`
	Org        string        `json:"org"`
	Role       platform.Role `json:"role"`
	ExpiresAt  time.Time     `json:"expires_at"`
}

// loginWithGitHub signs in with GitHub (browser or device flow), gets a platform API
// token for it and saves it like `platform login --token` does.
func (a *app) loginWithGitHub(cmd *cobra.Command, s settings, g *githubLogin) error {
	if cmd.Flags().Changed("token") {
		return usageErrorf("--token cannot be combined with --github or --device: they get a new token")
	}
	ctx := cmd.Context()
	pc := &github.PlatformClient{Server: s.Server}
	var resp *github.LoginResponse
	var err error
	if g.device {
		resp, err = a.deviceLogin(ctx, pc, g.org)
	} else {
		resp, err = a.browserLogin(ctx, pc, s.Server, g.org)
	}
	if err != nil {
		return err
	}
	path, err := a.saveConfig(fileConfig{Server: s.Server, Token: resp.Token, Namespace: s.Namespace})
	if err != nil {
		return err
	}
	res := githubLoginResult{Server: s.Server, ConfigFile: path, Login: resp.Login, Org: resp.Org, Role: resp.Roles[resp.Org], ExpiresAt: resp.ExpiresAt}
	if a.jsonOutput() {
		return a.printJSON(res)
	}
	fmt.Fprintf(a.stdout, "Logged in to %s as %s (%s in %s).\n", s.Server, res.Login, res.Role, res.Org)
	fmt.Fprintf(a.stdout, "Saved server and token to %s (the token expires %s)\n", path, res.ExpiresAt.In(a.loc).Format("2006-01-02 15:04 MST"))
	return nil
}

// deviceLogin runs GitHub's device flow, telling the person where to enter the code.
func (a *app) deviceLogin(ctx context.Context, pc *github.PlatformClient, org string) (*github.LoginResponse, error) {
	cfg, err := pc.DeviceConfig(ctx)
	if err != nil {
		return nil, err
	}
	flow := &github.DeviceFlow{Config: cfg}
	dc, err := flow.Begin(ctx)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(a.stderr, "Open %s in a browser and enter the code %s\n", dc.VerificationURI, dc.UserCode)
	fmt.Fprintf(a.stderr, "Waiting for GitHub (the code expires in %s)...\n", time.Duration(dc.ExpiresIn)*time.Second)
	tok, err := flow.Wait(ctx, dc)
	if err != nil {
		return nil, err
	}
	return pc.ExchangeGitHubToken(ctx, tok, org)
}

// browserLogin sends the browser to the platform's /login, which signs in with GitHub
// and comes back to a listener on 127.0.0.1 with a one-time code; the CLI trades the code
// and its PKCE verifier for a token, so a code seen by anyone else is useless.
func (a *app) browserLogin(ctx context.Context, pc *github.PlatformClient, server, org string) (*github.LoginResponse, error) {
	if _, err := pc.DeviceConfig(ctx); err != nil { // fails clearly when the server has no GitHub sign-in
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the browser on 127.0.0.1: %w", err)
	}
	defer ln.Close()
	verifier, state := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	q := url.Values{
		"cli_port":      {strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)},
		"cli_state":     {state},
		"cli_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
	}
	if org != "" {
		q.Set("org", org)
	}
	loginURL := server + github.LoginPath + "?" + q.Encode()

	type result struct {
		code string
		err  error
	}
	got := make(chan result, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		cq := r.URL.Query()
		var res result
		switch {
		case cq.Get("state") != state:
			http.Error(w, "This sign-in does not belong to the waiting `platform login`.", http.StatusBadRequest)
			return // not ours: keep waiting
		case cq.Get("error") != "":
			res.err = platform.Errorf(platform.EFORBIDDEN, "%s", cq.Get("error_description")).WithHint("ask an owner of the GitHub organisation to add you to a linked team, or use --token")
		default:
			res.code = cq.Get("code")
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		msg := "You are signed in. You can close this tab and return to the terminal."
		if res.err != nil {
			w.WriteHeader(http.StatusForbidden)
			msg = platform.ErrorMessage(res.err)
		}
		fmt.Fprintf(w, "<!doctype html><title>platform login</title><p>%s</p>\n", html.EscapeString(msg))
		select {
		case got <- res:
		default:
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	if err := a.openBrowser(loginURL); err != nil {
		fmt.Fprintf(a.stderr, "Open this URL in a browser on this machine to sign in with GitHub:\n\n  %s\n\n", loginURL)
		fmt.Fprintf(a.stderr, "(no browser here? use `platform login --device`)\n")
	} else {
		fmt.Fprintf(a.stderr, "Opened your browser to sign in with GitHub. If it did not open, visit:\n\n  %s\n\n", loginURL)
	}
	timeout := time.NewTimer(browserLoginTimeout)
	defer timeout.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-timeout.C:
		return nil, platform.Errorf(platform.ETIMEOUT, "no sign-in from the browser within %s", browserLoginTimeout).
			WithHint("run `platform login --github` again, or use --device")
	case res := <-got:
		if res.err != nil {
			return nil, res.err
		}
		return pc.CollectToken(ctx, res.code, verifier)
	}
}

// errNoBrowser says there is no browser to open.
var errNoBrowser = errors.New("no browser")

// openBrowser opens url with $BROWSER, or the desktop's opener when there is a desktop.
func (a *app) openBrowser(u string) error {
	var name string
	var args []string
	switch {
	case a.env["BROWSER"] != "":
		name = a.env["BROWSER"]
	case runtime.GOOS == "darwin":
		name = "open"
	case runtime.GOOS == "windows":
		name, args = "rundll32", []string{"url.dll,FileProtocolHandler"}
	case a.env["DISPLAY"] != "" || a.env["WAYLAND_DISPLAY"] != "":
		name = "xdg-open"
	default:
		return errNoBrowser
	}
	cmd := exec.Command(name, append(args, u)...) // not tied to ctx: the browser outlives the CLI
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}
