package github

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	gh "github.com/google/go-github/v93/github"
	"golang.org/x/oauth2"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/refusal"
)

// Routes the handler serves, besides the callback (the path of Config.RedirectURL).
const (
	LoginPath   = "/login"
	DevicePath  = "/auth/github/device"
	TokenPath   = "/auth/github/token"
	CLIPath     = "/auth/github/cli"
	WebhookPath = "/webhooks/github"
)

// Scope is the OAuth scope the platform asks for: reading team membership.
const Scope = "read:org"

// Options are the collaborators of an Integration; the zero value is usable.
type Options struct {
	// Logger receives what the integration does; it never receives a secret. nil
	// discards.
	Logger *slog.Logger
	// HTTPClient calls GitHub; nil means a client with a 30 s timeout.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RepoEvents, when set, takes the push, pull_request and installation deliveries
	// the webhook verified (the operator's GitHub App or organisation webhook), and
	// says what to answer: the GitOps receiver stores them for the repository's links.
	RepoEvents func(ctx context.Context, event, delivery string, body []byte) (int, string, error)
}

// Integration is the GitHub integration: an http.Handler for sign-in and webhooks (see
// Routes) and the membership sync (Start).
type Integration struct {
	cfg   Config
	dir   Directory
	log   *slog.Logger
	hc    *http.Client
	now   func() time.Time
	oauth *oauth2.Config
	mux   *http.ServeMux
	csrf  CSRF
	// repoEvents takes repository deliveries (Options.RepoEvents).
	repoEvents func(ctx context.Context, event, delivery string, body []byte) (int, string, error)

	callback string // path of the redirect URL
	states   *onceStore[pendingLogin]
	handoffs *onceStore[handoff]

	// refusals bound the audit entries of unauthenticated refusals, one per kind.
	refusals [numRefusalKinds]refusal.Limiter

	// exchanges bounds POST /auth/github/token per source address and checks caches
	// what GitHub said of each token, so that a flood cannot spend the app's quota.
	exchanges *sourceLimiter
	checks    tokenChecks

	// warned holds the keys of the warnings logged once (warnOnce).
	warnedMu sync.Mutex
	warned   map[string]bool

	// kick asks the sync loop to run now (webhooks); buffered 1, so bursts coalesce.
	kick chan struct{}
	// syncMu serialises syncs and guards sync.
	syncMu sync.Mutex
	// sync is the client of the sync token, made at the first sync.
	sync *gh.Client
	// refusedInactive holds the org and user ids of the disabled users the sync has
	// refused to add (refuseInactive); guarded by syncMu.
	refusedInactive map[string]bool
}

// pendingLogin is a sign-in between /login and the callback, keyed by its state.
type pendingLogin struct {
	nonce    string // the state cookie's value, which the callback must present
	verifier string // the PKCE verifier
	org      string // the organisation asked for, "" for the first
	cli      *cliLogin
}

// cliLogin is the CLI's part of a browser sign-in: where to send the browser back and
// what the CLI will prove when it collects its token.
type cliLogin struct {
	port      int
	state     string
	challenge string
}

// handoff is a signed-in CLI login waiting for the CLI to collect its token.
type handoff struct {
	acct      *signedIn
	org       string
	challenge string
}

// New returns the integration for cfg over dir. It validates cfg (EINVALID, every
// problem at once).
func New(cfg Config, dir Directory, opts Options) (*Integration, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if dir == nil {
		return nil, platform.Errorf(platform.EINVALID, "github: no directory")
	}
	redirect, _ := url.Parse(cfg.RedirectURL) // validated
	i := &Integration{
		cfg:             cfg,
		dir:             dir,
		log:             opts.Logger,
		hc:              opts.HTTPClient,
		now:             opts.Now,
		repoEvents:      opts.RepoEvents,
		callback:        redirect.Path,
		kick:            make(chan struct{}, 1),
		warned:          map[string]bool{},
		exchanges:       newSourceLimiter(),
		refusedInactive: map[string]bool{},
	}
	if i.log == nil {
		i.log = slog.New(slog.DiscardHandler)
	}
	i.log = i.log.With("component", "github")
	if i.hc == nil {
		i.hc = &http.Client{Timeout: apiTimeout}
	}
	if i.now == nil {
		i.now = time.Now
	}
	i.states = newOnceStore[pendingLogin](i.now)
	i.handoffs = newOnceStore[handoff](i.now)
	web := cfg.webURL()
	i.oauth = &oauth2.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		RedirectURL:  cfg.RedirectURL,
		Scopes:       []string{Scope},
		Endpoint: oauth2.Endpoint{
			AuthURL:       web + "login/oauth/authorize",
			TokenURL:      web + "login/oauth/access_token",
			DeviceAuthURL: web + "login/device/code",
			AuthStyle:     oauth2.AuthStyleInParams,
		},
	}
	i.csrf = CSRF{Origins: []string{redirect.Scheme + "://" + redirect.Host}, Secure: cfg.secureCookies()}
	i.mux = http.NewServeMux()
	i.mux.HandleFunc("GET "+LoginPath, i.handleLogin)
	i.mux.HandleFunc("GET "+i.callback, i.handleCallback)
	i.mux.HandleFunc("GET "+DevicePath, i.handleDevice)
	i.mux.HandleFunc("POST "+TokenPath, i.handleToken)
	i.mux.HandleFunc("POST "+CLIPath, i.handleCLI)
	i.mux.HandleFunc("POST "+WebhookPath, i.handleWebhook)
	return i, nil
}

// ServeHTTP serves the routes Routes lists.
func (i *Integration) ServeHTTP(w http.ResponseWriter, r *http.Request) { i.mux.ServeHTTP(w, r) }

// Routes are the paths the HTTP layer must send to the integration: /login, the
// callback (Config.RedirectURL's path), /auth/github/device, /auth/github/token,
// /auth/github/cli and /webhooks/github.
func (i *Integration) Routes() []string {
	return []string{LoginPath, i.callback, DevicePath, TokenPath, CLIPath, WebhookPath}
}

// CSRF returns the CSRF protection matching the integration's cookies and origin, for
// the HTTP layer to wrap state-changing cookie-authenticated routes with.
func (i *Integration) CSRF() CSRF { return i.csrf }

// audit appends e, logging (never failing the request) when the Directory cannot.
func (i *Integration) audit(ctx context.Context, e *platform.AuditEntry) {
	if e.Time.IsZero() {
		e.Time = i.now()
	}
	if err := i.dir.AppendAudit(ctx, e); err != nil {
		i.log.Error("audit entry not written", "action", e.Action, "org", e.Org, "err", err)
	}
}

var _ http.Handler = (*Integration)(nil)
