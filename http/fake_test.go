package http_test

import (
	"context"
	"io"
	"net"
	"sync"
	"time"

	platform "github.com/micro/platform"
)

// t0 is the fixed time of every canned value.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// anyNamespace asks record for any valid token, as list methods filter rather than deny.
const anyNamespace = "*"

// fakeControlPlane answers with canned values after the real authorisation check, records
// what it was asked, and returns err from every method when set.
type fakeControlPlane struct {
	err         error // returned by every method once authorised
	getBuildErr error // returned by GetBuild only
	panicWith   any   // every method panics with it when set

	// Streams: when a channel is set it is returned as is; otherwise the canned slice is
	// sent and the channel closed.
	buildLines []string
	buildCh    chan string
	logs       []platform.LogEntry
	logsCh     chan platform.LogEntry
	events     []*platform.Event
	eventsCh   chan *platform.Event
	callResp   []byte
	callGate   chan struct{} // Call waits for it to close when set
	tokenSec   string
	tools      []platform.Tool // ListTools answers these; nil must still encode as []

	mu       sync.Mutex
	calls    []string
	lastArg  any
	upload   []byte
	streamCx []context.Context // contexts given to stream methods
}

var _ platform.ControlPlane = (*fakeControlPlane)(nil)

func (f *fakeControlPlane) record(ctx context.Context, method, ns string, arg any) error {
	f.mu.Lock()
	f.calls = append(f.calls, method)
	f.lastArg = arg
	f.mu.Unlock()
	if f.panicWith != nil {
		panic(f.panicWith)
	}
	if ns == anyNamespace {
		if platform.TokenFromContext(ctx) == nil {
			return platform.Authorize(ctx, ns)
		}
	} else if err := platform.Authorize(ctx, ns); err != nil {
		return err
	}
	return f.err
}

func (f *fakeControlPlane) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeControlPlane) LastArg() any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastArg
}

func (f *fakeControlPlane) keepCtx(ctx context.Context) {
	f.mu.Lock()
	f.streamCx = append(f.streamCx, ctx)
	f.mu.Unlock()
}

func (f *fakeControlPlane) StreamContexts() []context.Context {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]context.Context(nil), f.streamCx...)
}

func cannedNamespace(name string) *platform.Namespace {
	return &platform.Namespace{Name: name, CreatedAt: t0}
}

func cannedRelease(ns, svc string) *platform.Release {
	return &platform.Release{ID: "r-1", Namespace: ns, Service: svc, Version: "v1", BuildID: "b-1",
		Replicas: 1, Status: platform.ReleasePending, CreatedAt: t0, UpdatedAt: t0}
}

func cannedBuild(ns, id string) *platform.Build {
	return &platform.Build{ID: id, Namespace: ns, Service: "hello", Status: platform.BuildSucceeded,
		Source: platform.Source{Kind: platform.SourceArchive, Archive: "abc"}, CreatedAt: t0}
}

func cannedService(ns, name string) *platform.ServiceView {
	return &platform.ServiceView{
		Service: platform.Service{Namespace: ns, Name: name, Status: platform.ServiceDegraded, Regions: []string{"lon1", "fra1"},
			CreatedAt: t0, UpdatedAt: t0},
		Instances: []*platform.Instance{},
		Endpoints: []platform.Endpoint{{Name: "Hello.Call"}},
		PerRegion: []platform.ServiceRegion{
			{Region: "lon1", Status: platform.ServiceRunning, Version: "v1", Instances: 2, Running: 2},
			{Region: "fra1", Status: platform.ServiceDegraded, Version: "v1", Instances: 1, Running: 0, Reason: "region fra1 is lost"},
		},
	}
}

func (f *fakeControlPlane) CreateNamespace(ctx context.Context, name string, regions ...string) (*platform.Namespace, error) {
	if err := f.record(ctx, "CreateNamespace", "", platform.Namespace{Name: name, Regions: regions}); err != nil {
		return nil, err
	}
	ns := cannedNamespace(name)
	ns.Regions = regions
	return ns, nil
}

func (f *fakeControlPlane) SetNamespaceDev(ctx context.Context, name string, dev bool) (*platform.Namespace, error) {
	if err := f.record(ctx, "SetNamespaceDev", "", platform.Namespace{Name: name, Dev: dev}); err != nil {
		return nil, err
	}
	ns := cannedNamespace(name)
	ns.Dev = dev
	return ns, nil
}

func (f *fakeControlPlane) ListNamespaces(ctx context.Context) ([]*platform.Namespace, error) {
	if err := f.record(ctx, "ListNamespaces", anyNamespace, nil); err != nil {
		return nil, err
	}
	return []*platform.Namespace{cannedNamespace("acme")}, nil
}

func (f *fakeControlPlane) DeleteNamespace(ctx context.Context, name string) error {
	return f.record(ctx, "DeleteNamespace", "", name)
}

func (f *fakeControlPlane) UploadSource(ctx context.Context, ns string, archive io.Reader) (string, error) {
	if err := f.record(ctx, "UploadSource", ns, ns); err != nil {
		return "", err
	}
	b, err := io.ReadAll(archive)
	if err != nil {
		// Like a real implementation might: the read error is reported without its chain.
		return "", platform.Errorf(platform.EINVALID, "bad archive")
	}
	f.mu.Lock()
	f.upload = b
	f.mu.Unlock()
	return "sha-of-upload", nil
}

func (f *fakeControlPlane) Deploy(ctx context.Context, req platform.DeployRequest) (*platform.Release, error) {
	if err := f.record(ctx, "Deploy", req.Namespace, req); err != nil {
		return nil, err
	}
	return cannedRelease(req.Namespace, req.Service), nil
}

func (f *fakeControlPlane) ListServices(ctx context.Context, ns string) ([]*platform.ServiceView, error) {
	if err := f.record(ctx, "ListServices", ns, ns); err != nil {
		return nil, err
	}
	return []*platform.ServiceView{cannedService(ns, "hello")}, nil
}

func (f *fakeControlPlane) GetService(ctx context.Context, ns, name string) (*platform.ServiceView, error) {
	if err := f.record(ctx, "GetService", ns, name); err != nil {
		return nil, err
	}
	return cannedService(ns, name), nil
}

func (f *fakeControlPlane) ServiceMetrics(ctx context.Context, ns, name string, since time.Duration) (*platform.ServiceMetrics, error) {
	if err := f.record(ctx, "ServiceMetrics", ns, since); err != nil {
		return nil, err
	}
	m0 := t0.Truncate(time.Minute)
	busy := &platform.MetricPoint{Minute: m0.Add(time.Minute), Requests: 120, Errors: 3, ClientErrors: 2,
		P50: 4 * time.Millisecond, P99: 64 * time.Millisecond, Mean: 5500 * time.Microsecond, Max: 80250 * time.Microsecond,
		CPU: 0.25, Memory: 64 << 20}
	total := *busy
	total.Minute = m0
	return &platform.ServiceMetrics{Namespace: ns, Service: name, From: m0, To: m0.Add(2 * time.Minute),
		Points: []*platform.MetricPoint{{Minute: m0}, busy}, Total: &total}, nil
}

func (f *fakeControlPlane) DeleteService(ctx context.Context, ns, name string) error {
	return f.record(ctx, "DeleteService", ns, name)
}

func (f *fakeControlPlane) Promote(ctx context.Context, ns, svc string) (*platform.Release, error) {
	if err := f.record(ctx, "Promote", ns, svc); err != nil {
		return nil, err
	}
	r := cannedRelease(ns, svc)
	r.Canary = 10
	return r, nil
}

func (f *fakeControlPlane) GetRelease(ctx context.Context, ns, id string) (*platform.Release, error) {
	if err := f.record(ctx, "GetRelease", ns, id); err != nil {
		return nil, err
	}
	r := cannedRelease(ns, "hello")
	r.ID = id
	return r, nil
}

func (f *fakeControlPlane) ListReleases(ctx context.Context, ns, svc string) ([]*platform.Release, error) {
	if err := f.record(ctx, "ListReleases", ns, svc); err != nil {
		return nil, err
	}
	return nil, nil // nil must still encode as []
}

func (f *fakeControlPlane) GetBuild(ctx context.Context, ns, id string) (*platform.Build, error) {
	if err := f.record(ctx, "GetBuild", ns, id); err != nil {
		return nil, err
	}
	if f.getBuildErr != nil {
		return nil, f.getBuildErr
	}
	return cannedBuild(ns, id), nil
}

func (f *fakeControlPlane) BuildLog(ctx context.Context, ns, id string, follow bool) (<-chan string, error) {
	if err := f.record(ctx, "BuildLog", ns, follow); err != nil {
		return nil, err
	}
	f.keepCtx(ctx)
	if f.buildCh != nil {
		return f.buildCh, nil
	}
	return sendAll(f.buildLines), nil
}

func (f *fakeControlPlane) Call(ctx context.Context, req platform.CallRequest) ([]byte, error) {
	if err := f.record(ctx, "Call", req.Namespace, req); err != nil {
		return nil, err
	}
	if f.callGate != nil {
		<-f.callGate
	}
	return f.callResp, nil
}

func (f *fakeControlPlane) ListTools(ctx context.Context, ns string) ([]platform.Tool, error) {
	if err := f.record(ctx, "ListTools", ns, ns); err != nil {
		return nil, err
	}
	return f.tools, nil
}

func (f *fakeControlPlane) Logs(ctx context.Context, q platform.LogQuery) (<-chan platform.LogEntry, error) {
	if err := f.record(ctx, "Logs", q.Namespace, q); err != nil {
		return nil, err
	}
	f.keepCtx(ctx)
	if f.logsCh != nil {
		return f.logsCh, nil
	}
	return sendAll(f.logs), nil
}

func (f *fakeControlPlane) Events(ctx context.Context, flt platform.EventFilter) ([]*platform.Event, error) {
	if err := f.record(ctx, "Events", flt.Namespace, flt); err != nil {
		return nil, err
	}
	return f.events, nil
}

func (f *fakeControlPlane) SubscribeEvents(ctx context.Context, flt platform.EventFilter) (<-chan *platform.Event, error) {
	if err := f.record(ctx, "SubscribeEvents", flt.Namespace, flt); err != nil {
		return nil, err
	}
	f.keepCtx(ctx)
	if f.eventsCh != nil {
		return f.eventsCh, nil
	}
	return sendAll(f.events), nil
}

func (f *fakeControlPlane) CreateToken(ctx context.Context, req platform.CreateTokenRequest) (*platform.Token, string, error) {
	if err := f.record(ctx, "CreateToken", "", req); err != nil {
		return nil, "", err
	}
	return &platform.Token{ID: "t-2", Name: req.Name, Admin: req.Admin, Namespaces: req.Namespaces, CreatedAt: t0}, f.tokenSec, nil
}

func (f *fakeControlPlane) ListTokens(ctx context.Context) ([]*platform.Token, error) {
	if err := f.record(ctx, "ListTokens", "", nil); err != nil {
		return nil, err
	}
	return []*platform.Token{{ID: "t-1", Name: "admin", Admin: true, CreatedAt: t0}}, nil
}

func (f *fakeControlPlane) DeleteToken(ctx context.Context, id string) error {
	return f.record(ctx, "DeleteToken", "", id)
}

func (f *fakeControlPlane) RegisterRegion(ctx context.Context, r *platform.Region) (*platform.Region, error) {
	if err := f.record(ctx, "RegisterRegion", "", *r); err != nil {
		return nil, err
	}
	c := *r
	c.CreatedAt, c.UpdatedAt = t0, t0
	return &c, nil
}

func (f *fakeControlPlane) ListRegions(ctx context.Context) ([]*platform.Region, error) {
	if err := f.record(ctx, "ListRegions", "", nil); err != nil {
		return nil, err
	}
	seen := t0
	return []*platform.Region{{Name: "local", Provider: "local", GatewayEndpoint: "http://127.0.0.1:8080", TokenHash: "never-serialised",
		Health: platform.RegionConnected, LastSeen: &seen, AgentVersion: "v1.2.3", Services: 3, Runtime: "local", CPUMillis: 4000, MemoryMB: 8192,
		CreatedAt: t0, UpdatedAt: t0}}, nil
}

func (f *fakeControlPlane) DeleteRegion(ctx context.Context, name string) error {
	return f.record(ctx, "DeleteRegion", "", name)
}

func (f *fakeControlPlane) IssueRegionToken(ctx context.Context, name string) (string, error) {
	if err := f.record(ctx, "IssueRegionToken", "", name); err != nil {
		return "", err
	}
	return f.tokenSec, nil
}

func sendAll[T any](list []T) <-chan T {
	ch := make(chan T, len(list))
	for _, v := range list {
		ch <- v
	}
	close(ch)
	return ch
}

// fakeAuth knows two secrets: an admin token and one scoped to namespace acme.
type fakeAuth struct {
	err error // returned for every secret when set
}

const (
	adminSecret  = "admin-secret-0123456789"
	scopedSecret = "scoped-secret-9876543210"
)

var _ platform.Authenticator = fakeAuth{}

func (a fakeAuth) Authenticate(_ context.Context, secret string) (*platform.Token, error) {
	if a.err != nil {
		return nil, a.err
	}
	switch secret {
	case adminSecret:
		return &platform.Token{ID: "t-1", Name: "admin", Admin: true, CreatedAt: t0}, nil
	case scopedSecret:
		return &platform.Token{ID: "t-3", Name: "ci", Namespaces: []string{"acme"}, CreatedAt: t0}, nil
	}
	return nil, platform.Errorf(platform.EUNAUTHENTICATED, "invalid token")
}

func (f *fakeControlPlane) Whoami(ctx context.Context) (*platform.Whoami, error) {
	if err := f.record(ctx, "Whoami", anyNamespace, nil); err != nil {
		return nil, err
	}
	tok := platform.TokenFromContext(ctx)
	return &platform.Whoami{Token: tok, Org: tok.OrgName(), Role: tok.EffectiveRole()}, nil
}

func (f *fakeControlPlane) ListUsers(ctx context.Context) ([]*platform.Member, error) {
	if err := f.record(ctx, "ListUsers", anyNamespace, nil); err != nil {
		return nil, err
	}
	return []*platform.Member{{User: platform.User{ID: "u-admin", Login: "admin", Source: platform.UserLocal, CreatedAt: t0, UpdatedAt: t0},
		Role: platform.RoleOwner, RoleSource: platform.MemberLocal}}, nil
}

func (f *fakeControlPlane) CreateUser(ctx context.Context, req platform.CreateUserRequest) (*platform.Member, string, error) {
	if err := f.record(ctx, "CreateUser", "", req); err != nil {
		return nil, "", err
	}
	return &platform.Member{User: platform.User{ID: "u-2", Login: req.Login, Source: platform.UserLocal, CreatedAt: t0, UpdatedAt: t0},
		Role: req.Role, RoleSource: platform.MemberLocal}, f.tokenSec, nil
}

func (f *fakeControlPlane) SetUserRole(ctx context.Context, login string, role platform.Role) (*platform.Member, error) {
	if err := f.record(ctx, "SetUserRole", "", []string{login, string(role)}); err != nil {
		return nil, err
	}
	return &platform.Member{User: platform.User{ID: "u-2", Login: login, Source: platform.UserLocal, CreatedAt: t0, UpdatedAt: t0},
		Role: role, RoleSource: platform.MemberLocal}, nil
}

func (f *fakeControlPlane) SetUserDisabled(ctx context.Context, login string, disabled bool) (*platform.Member, error) {
	if err := f.record(ctx, "SetUserDisabled", "", []any{login, disabled}); err != nil {
		return nil, err
	}
	return &platform.Member{User: platform.User{ID: "u-2", Login: login, Source: platform.UserLocal, Disabled: disabled, CreatedAt: t0, UpdatedAt: t0},
		Role: platform.RoleDeveloper, RoleSource: platform.MemberLocal}, nil
}

func (f *fakeControlPlane) ListAudit(ctx context.Context, flt platform.AuditFilter) ([]*platform.AuditEntry, error) {
	if err := f.record(ctx, "ListAudit", "", flt); err != nil {
		return nil, err
	}
	var list []*platform.AuditEntry
	for id := int64(7); id > 0 && len(list) < flt.Limit; id-- {
		list = append(list, &platform.AuditEntry{ID: id, Org: "default", Actor: "admin", Action: platform.AuditTokenCreate, Target: "token/t-2", Outcome: platform.AuditOK, Time: t0})
	}
	return list, nil
}

func (f *fakeControlPlane) GitHubLinks(ctx context.Context) ([]*platform.GitHubLink, error) {
	if err := f.record(ctx, "GitHubLinks", "", nil); err != nil {
		return nil, err
	}
	return []*platform.GitHubLink{{Org: "default", GitHubOrg: "acme-inc", Team: "sre", Role: platform.RoleAdmin}}, nil
}

func (f *fakeControlPlane) SetGitHubLinks(ctx context.Context, links []*platform.GitHubLink) ([]*platform.GitHubLink, error) {
	var arg []platform.GitHubLink
	for _, l := range links {
		arg = append(arg, *l)
	}
	if err := f.record(ctx, "SetGitHubLinks", "", arg); err != nil {
		return nil, err
	}
	return links, nil
}

func (f *fakeControlPlane) Rollback(ctx context.Context, ns, svc, version string) (*platform.Release, error) {
	if err := f.record(ctx, "Rollback", ns, []string{svc, version}); err != nil {
		return nil, err
	}
	r := cannedRelease(ns, svc)
	r.Version = "v3"
	r.Origin = &platform.ReleaseOrigin{Kind: platform.OriginRollback, RollbackOf: "v1"}
	return r, nil
}

func cannedRepoLink(ns string) *platform.RepoLink {
	return &platform.RepoLink{ID: "l-1", Namespace: ns, Repo: "acme/services", Branch: "main", WebhookSecret: "never-serialised",
		Previews: true, CreatedAt: t0}
}

func (f *fakeControlPlane) LinkRepo(ctx context.Context, req platform.LinkRepoRequest) (*platform.RepoLink, *platform.LinkSetup, error) {
	if err := f.record(ctx, "LinkRepo", req.Namespace, req); err != nil {
		return nil, nil, err
	}
	return cannedRepoLink(req.Namespace), &platform.LinkSetup{WebhookURL: "https://platform.example.com/webhooks/github/links/l-1",
		WebhookSecret: f.tokenSec, Note: "add it by hand"}, nil
}

func (f *fakeControlPlane) ListRepoLinks(ctx context.Context, ns string) ([]*platform.RepoLink, error) {
	check := ns
	if ns == "" {
		check = anyNamespace
	}
	if err := f.record(ctx, "ListRepoLinks", check, ns); err != nil {
		return nil, err
	}
	if ns == "" {
		return nil, nil // nil must still encode as []
	}
	return []*platform.RepoLink{cannedRepoLink(ns)}, nil
}

func (f *fakeControlPlane) UnlinkRepo(ctx context.Context, ns, id string) error {
	return f.record(ctx, "UnlinkRepo", ns, id)
}

func (f *fakeControlPlane) ExchangeActionsToken(ctx context.Context, idToken string) (*platform.ActionsToken, error) {
	f.mu.Lock()
	f.calls = append(f.calls, "ExchangeActionsToken")
	f.lastArg = idToken
	f.streamCx = append(f.streamCx, ctx)
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return &platform.ActionsToken{Token: &platform.Token{ID: "t-9", Name: "github-actions acme/services 42", Role: platform.RoleDeveloper,
		Namespaces: []string{"acme"}, CreatedAt: t0}, Secret: f.tokenSec, Namespace: "acme"}, nil
}

// Alerting: reads need any token, changes and channels an admin token for every
// namespace (the fake's stand-in for alert.read and alert.manage).

func cannedAlertRules() []*platform.AlertRule {
	return []*platform.AlertRule{
		platform.BuiltinRule(platform.DefaultOrg, platform.AlertCrashLoop),
		{ID: "ar-1", Org: platform.DefaultOrg, Name: "api errors", Kind: platform.AlertErrorRate, Namespace: "acme", Service: "hello",
			Op: ">", Threshold: 5, Window: 5 * time.Minute, For: 2 * time.Minute, Severity: platform.SeverityCritical,
			RepeatInterval: 90 * time.Minute, CreatedAt: t0},
	}
}

func cannedNotification() *platform.Notification {
	sent := t0.Add(time.Second)
	return &platform.Notification{ID: "nt-1", Org: platform.DefaultOrg, AlertID: "al-1", ChannelID: "ch-1", Kind: platform.NotifyFiring,
		Key: "acme/builtin:crash_loop/hello", Rule: "crash loop", Severity: platform.SeverityCritical, Namespace: "acme", Service: "hello",
		Summary: "hello is crash-looping", Since: t0, Status: platform.NotificationSent, Attempts: 1, NextAttemptAt: t0, CreatedAt: t0,
		SentAt: &sent, Lease: "never-serialised"}
}

func (f *fakeControlPlane) ListAlertRules(ctx context.Context) ([]*platform.AlertRule, error) {
	if err := f.record(ctx, "ListAlertRules", anyNamespace, nil); err != nil {
		return nil, err
	}
	return cannedAlertRules(), nil
}

func (f *fakeControlPlane) CreateAlertRule(ctx context.Context, r *platform.AlertRule) (*platform.AlertRule, error) {
	if err := f.record(ctx, "CreateAlertRule", "", *r); err != nil {
		return nil, err
	}
	out := *r
	out.ID, out.Org, out.CreatedAt = "ar-2", platform.DefaultOrg, t0
	return &out, nil
}

func (f *fakeControlPlane) DeleteAlertRule(ctx context.Context, id string) error {
	return f.record(ctx, "DeleteAlertRule", "", id)
}

func (f *fakeControlPlane) ListAlertChannels(ctx context.Context) ([]*platform.AlertChannel, error) {
	if err := f.record(ctx, "ListAlertChannels", "", nil); err != nil {
		return nil, err
	}
	return []*platform.AlertChannel{{ID: "ch-1", Org: platform.DefaultOrg, Name: "ops", Kind: platform.ChannelSlack,
		Config: map[string]string{"channel": "#ops"}, Secret: "never-serialised", MinSeverity: platform.SeverityWarning, CreatedAt: t0}}, nil
}

func (f *fakeControlPlane) CreateAlertChannel(ctx context.Context, req platform.CreateAlertChannelRequest) (*platform.AlertChannel, error) {
	if err := f.record(ctx, "CreateAlertChannel", "", req); err != nil {
		return nil, err
	}
	return &platform.AlertChannel{ID: "ch-2", Org: platform.DefaultOrg, Name: req.Name, Kind: req.Kind, Config: req.Config,
		Secret: "never-serialised", Namespaces: req.Namespaces, Services: req.Services, MinSeverity: req.MinSeverity, CreatedAt: t0}, nil
}

func (f *fakeControlPlane) DeleteAlertChannel(ctx context.Context, id string) error {
	return f.record(ctx, "DeleteAlertChannel", "", id)
}

func (f *fakeControlPlane) TestAlertChannel(ctx context.Context, id string) (*platform.Notification, error) {
	if err := f.record(ctx, "TestAlertChannel", "", id); err != nil {
		return nil, err
	}
	return &platform.Notification{ID: "nt-2", Org: platform.DefaultOrg, ChannelID: "ch-1", Kind: platform.NotifyTest, Rule: "test",
		Severity: platform.SeverityInfo, Summary: "Test notification for channel ops, sent by admin", Since: t0,
		Status: platform.NotificationFailed, Attempts: 1, LastError: "slack: channel_not_found", NextAttemptAt: t0.Add(time.Second), CreatedAt: t0}, nil
}

func (f *fakeControlPlane) ListSilences(ctx context.Context) ([]*platform.Silence, error) {
	if err := f.record(ctx, "ListSilences", anyNamespace, nil); err != nil {
		return nil, err
	}
	return nil, nil // nil must still encode as []
}

func (f *fakeControlPlane) CreateSilence(ctx context.Context, req platform.SilenceRequest) (*platform.Silence, error) {
	if err := f.record(ctx, "CreateSilence", "", req); err != nil {
		return nil, err
	}
	until := req.Until
	if req.For > 0 {
		until = t0.Add(req.For)
	}
	return &platform.Silence{ID: "si-1", Org: platform.DefaultOrg, Namespace: req.Namespace, Service: req.Service, Rule: req.Rule,
		Until: until, Comment: req.Comment, CreatedBy: "admin", CreatedAt: t0}, nil
}

func (f *fakeControlPlane) DeleteSilence(ctx context.Context, id string) error {
	return f.record(ctx, "DeleteSilence", "", id)
}

func (f *fakeControlPlane) ListAlerts(ctx context.Context, flt platform.AlertFilter) ([]*platform.Alert, error) {
	if err := f.record(ctx, "ListAlerts", anyNamespace, flt); err != nil {
		return nil, err
	}
	fired := t0.Add(time.Minute)
	return []*platform.Alert{{ID: "al-1", Org: platform.DefaultOrg, Key: "acme/builtin:crash_loop/hello", RuleID: "builtin:crash_loop",
		Rule: "crash loop", Kind: platform.AlertCrashLoop, Severity: platform.SeverityCritical, Namespace: "acme", Service: "hello",
		Region: "lon1", State: platform.AlertFiring, Summary: "hello is crash-looping in lon1", Reason: "exit status 2", Since: t0,
		FiredAt: &fired, RepeatInterval: 4 * time.Hour, Version: 3, UpdatedAt: fired}}, nil
}

func (f *fakeControlPlane) AlertHistory(ctx context.Context, flt platform.NotificationFilter) ([]*platform.Notification, error) {
	if err := f.record(ctx, "AlertHistory", anyNamespace, flt); err != nil {
		return nil, err
	}
	return []*platform.Notification{cannedNotification()}, nil
}

// Metering and billing: usage needs any token (a listing), the plan and invoices an
// admin token for every namespace (the fake's stand-in for billing.read and
// billing.manage).

func cannedInvoice(status platform.InvoiceStatus) *platform.Invoice {
	end := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	return &platform.Invoice{ID: "in-default-20260101", Org: platform.DefaultOrg, PeriodStart: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), PeriodEnd: end,
		Currency: "usd", Status: status, Total: 2150, CreatedAt: t0, Lines: []platform.InvoiceLine{
			{Plan: "pro", From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: end, Quantity: 2678400, UnitAmount: 2000, Per: 2678400, Amount: 2000,
				Description: "Plan pro"},
			{Meter: platform.MeterRequests, Plan: "pro", From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: end, Quantity: 13_000_000,
				Included: 10_000_000, UnitAmount: 50, Per: 1_000_000, Amount: 150, Description: "Requests"},
		}}
}

func (f *fakeControlPlane) Usage(ctx context.Context, q platform.UsageQuery) ([]platform.UsageRollup, error) {
	if err := f.record(ctx, "Usage", anyNamespace, q); err != nil {
		return nil, err
	}
	return []platform.UsageRollup{{Org: platform.DefaultOrg, Namespace: "acme", Service: "hello", Region: "local",
		Meter: platform.MeterRequests, Hour: t0.Truncate(time.Hour), Quantity: 1234}}, nil
}

func (f *fakeControlPlane) Plan(ctx context.Context) (*platform.PlanView, error) {
	if err := f.record(ctx, "Plan", "", nil); err != nil {
		return nil, err
	}
	return &platform.PlanView{Org: platform.DefaultOrg, Plan: platform.Plan{Name: "free", Currency: "usd", Quotas: platform.Quotas{Instances: 3}},
		Default: true, Since: t0, By: "platform", Catalog: []string{"free", "pro"}, DefaultPlan: "free"}, nil
}

func (f *fakeControlPlane) SetPlan(ctx context.Context, name string) (*platform.PlanAssignment, error) {
	if err := f.record(ctx, "SetPlan", "", name); err != nil {
		return nil, err
	}
	return &platform.PlanAssignment{Org: platform.DefaultOrg, Plan: platform.Plan{Name: name, Currency: "usd", BaseAmount: 2000},
		From: t0, By: "admin", CreatedAt: t0}, nil
}

func (f *fakeControlPlane) ListInvoices(ctx context.Context) ([]*platform.Invoice, error) {
	if err := f.record(ctx, "ListInvoices", "", nil); err != nil {
		return nil, err
	}
	return []*platform.Invoice{cannedInvoice(platform.InvoiceOpen)}, nil
}

func (f *fakeControlPlane) GetInvoice(ctx context.Context, id string) (*platform.Invoice, error) {
	if err := f.record(ctx, "GetInvoice", "", id); err != nil {
		return nil, err
	}
	if id != "draft" && id != "in-default-20260101" {
		return nil, platform.Errorf(platform.ENOTFOUND, "invoice %q not found", id)
	}
	return cannedInvoice(platform.InvoiceDraft), nil
}

func (f *fakeControlPlane) Connect(ctx context.Context, req platform.ConnectRequest) (*platform.MeshGrant, error) {
	if err := f.record(ctx, "Connect", req.Namespace, req); err != nil {
		return nil, err
	}
	exp := time.Now().Add(req.TTL)
	return &platform.MeshGrant{Token: &platform.Token{ID: "t_mesh", Kind: platform.TokenMesh, ExpiresAt: &exp},
		Secret: f.tokenSec, User: platform.MeshUser("t_mesh"), Env: map[string]string{"MICRO_REGISTRY": "nats"}}, nil
}

func (f *fakeControlPlane) ListConnections(ctx context.Context, ns string) ([]*platform.MeshConnection, error) {
	if err := f.record(ctx, "ListConnections", ns, ns); err != nil {
		return nil, err
	}
	return nil, nil
}

func (f *fakeControlPlane) DialMesh(ctx context.Context, ns string) (net.Conn, error) {
	if err := f.record(ctx, "DialMesh", ns, ns); err != nil {
		return nil, err
	}
	return nil, platform.Errorf(platform.EUNAVAILABLE, "no mesh in this fake")
}
