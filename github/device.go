package github

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	platform "github.com/micro/platform"
)

// DeviceFlow runs GitHub's device flow on the CLI's side: Begin asks GitHub for a user
// code, which the person enters at the verification URL; Wait polls until they have,
// honouring the interval and slow_down, and returns a GitHub token. The token is meant
// for PlatformClient.ExchangeGitHubToken and nothing else.
type DeviceFlow struct {
	Config     DeviceConfig
	HTTPClient *http.Client
	// second is the unit of GitHub's intervals; tests shorten it.
	second time.Duration
}

// DeviceCode is what the person needs to approve the sign-in.
type DeviceCode struct {
	DeviceCode      string `json:"device_code"`
	UserCode        string `json:"user_code"`
	VerificationURI string `json:"verification_uri"`
	ExpiresIn       int    `json:"expires_in"`
	Interval        int    `json:"interval"`
}

func (d *DeviceFlow) client() *http.Client {
	if d.HTTPClient != nil {
		return d.HTTPClient
	}
	return &http.Client{Timeout: apiTimeout}
}

func (d *DeviceFlow) unit() time.Duration {
	if d.second > 0 {
		return d.second
	}
	return time.Second
}

// tokenReply is GitHub's answer to a token poll: a token, or an error code.
type tokenReply struct {
	AccessToken      string `json:"access_token"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	Interval         int    `json:"interval"`
}

// Begin starts a device sign-in.
func (d *DeviceFlow) Begin(ctx context.Context) (*DeviceCode, error) {
	var dc DeviceCode
	var reply tokenReply
	if err := d.post(ctx, d.Config.DeviceCodeURL, url.Values{"client_id": {d.Config.ClientID}, "scope": {d.Config.Scope}}, &dc, &reply); err != nil {
		return nil, err
	}
	if reply.Error != "" || dc.DeviceCode == "" {
		return nil, platform.Errorf(platform.EUNAVAILABLE, "GitHub refused to start the device sign-in: %s %s", reply.Error, reply.ErrorDescription).
			WithHint("the platform's GitHub OAuth app must have device flow enabled")
	}
	return &dc, nil
}

// Wait polls GitHub until the person approves (returning the GitHub token), denies
// (EFORBIDDEN), or the code expires (ETIMEOUT), or ctx ends.
func (d *DeviceFlow) Wait(ctx context.Context, dc *DeviceCode) (string, error) {
	interval := max(dc.Interval, 1)
	var deadline <-chan time.Time
	if dc.ExpiresIn > 0 {
		t := time.NewTimer(time.Duration(dc.ExpiresIn)*d.unit() + d.unit())
		defer t.Stop()
		deadline = t.C
	}
	expired := platform.Errorf(platform.ETIMEOUT, "the device code expired before the sign-in was approved").
		WithHint("run `platform login --device` again and enter the new code sooner")
	for {
		wait := time.NewTimer(time.Duration(interval) * d.unit())
		select {
		case <-ctx.Done():
			wait.Stop()
			return "", ctx.Err()
		case <-deadline:
			wait.Stop()
			return "", expired
		case <-wait.C:
		}
		var reply tokenReply
		form := url.Values{"client_id": {d.Config.ClientID}, "device_code": {dc.DeviceCode}, "grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}}
		if err := d.post(ctx, d.Config.TokenURL, form, &reply, nil); err != nil {
			return "", err
		}
		switch reply.Error {
		case "":
			if reply.AccessToken == "" {
				return "", platform.Errorf(platform.EUNAVAILABLE, "GitHub answered without a token")
			}
			return reply.AccessToken, nil
		case "authorization_pending":
		case "slow_down":
			if reply.Interval > interval {
				interval = reply.Interval
			} else {
				interval += 5
			}
		case "expired_token":
			return "", expired
		case "access_denied":
			return "", platform.Errorf(platform.EFORBIDDEN, "the sign-in was denied on GitHub")
		default:
			return "", platform.Errorf(platform.EUNAVAILABLE, "GitHub refused the device sign-in: %s (%s)", reply.Error, reply.ErrorDescription)
		}
	}
}

// post sends form to u asking for JSON and decodes a 2xx answer into out (and, when
// errOut is set, also into errOut, for endpoints that answer errors with 200).
func (d *DeviceFlow) post(ctx context.Context, u string, form url.Values, out, errOut any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return platform.Errorf(platform.EINVALID, "GitHub URL %q: %v", u, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := d.client().Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", platform.Errorf(platform.EUNAVAILABLE, "cannot reach GitHub at %s", req.URL.Host), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return platform.Errorf(platform.EUNAVAILABLE, "read GitHub's answer: %v", err)
	}
	if resp.StatusCode/100 != 2 {
		return platform.Errorf(platform.EUNAVAILABLE, "GitHub answered %s to %s", resp.Status, req.URL.Path)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return platform.Errorf(platform.EUNAVAILABLE, "GitHub's answer to %s is not JSON", req.URL.Path)
	}
	if errOut != nil {
		_ = json.Unmarshal(body, errOut)
	}
	return nil
}

// PlatformClient calls the platform's GitHub sign-in endpoints (DevicePath, TokenPath,
// CLIPath) for the CLI.
type PlatformClient struct {
	// Server is the platform's base URL, e.g. http://127.0.0.1:8080.
	Server     string
	HTTPClient *http.Client
}

// DeviceConfig asks the platform how to run the device flow against its GitHub.
// A platform without GitHub sign-in is ENOTFOUND, which makes it a cheap probe before
// a browser sign-in too.
func (p *PlatformClient) DeviceConfig(ctx context.Context) (DeviceConfig, error) {
	var dc DeviceConfig
	err := p.do(ctx, http.MethodGet, DevicePath, nil, &dc)
	switch platform.ErrorCode(err) {
	case "":
		if dc.ClientID == "" {
			return dc, errNoGitHub(p.Server)
		}
	case platform.ENOTFOUND, platform.EUNAUTHENTICATED, platform.EFORBIDDEN:
		return dc, errNoGitHub(p.Server)
	}
	return dc, err
}

func errNoGitHub(server string) error {
	return platform.Errorf(platform.ENOTFOUND, "the platform at %s does not offer GitHub sign-in", server).
		WithHint("the server needs GitHub configured; use --token instead")
}

// ExchangeGitHubToken trades a GitHub token for a platform API token in org ("" for
// the person's first organisation).
func (p *PlatformClient) ExchangeGitHubToken(ctx context.Context, githubToken, org string) (*LoginResponse, error) {
	var out LoginResponse
	if err := p.do(ctx, http.MethodPost, TokenPath, TokenRequest{GitHubToken: githubToken, Org: org}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CollectToken trades the one-time code of a browser sign-in and the PKCE verifier for
// a platform API token.
func (p *PlatformClient) CollectToken(ctx context.Context, code, verifier string) (*LoginResponse, error) {
	var out LoginResponse
	if err := p.do(ctx, http.MethodPost, CLIPath, CLIRequest{Code: code, Verifier: verifier}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (p *PlatformClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(p.Server, "/")+path, body)
	if err != nil {
		return platform.Errorf(platform.EINVALID, "server URL %q: %v", p.Server, err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := p.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: apiTimeout}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", platform.Errorf(platform.EUNAVAILABLE, "cannot reach the platform at %s", p.Server), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return platform.Errorf(platform.EUNAVAILABLE, "read the platform's answer: %v", err)
	}
	if resp.StatusCode/100 != 2 {
		var eb ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
			e := platform.Errorf(eb.Error.Code, "%s", eb.Error.Message)
			if eb.Error.Hint != "" {
				e = e.WithHint("%s", eb.Error.Hint)
			}
			return e
		}
		if resp.StatusCode == http.StatusNotFound {
			return errNoGitHub(p.Server)
		}
		return platform.Errorf(platform.EUNAVAILABLE, "the platform answered %s", resp.Status)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return platform.Errorf(platform.EUNAVAILABLE, "the platform's answer is not JSON")
	}
	return nil
}
