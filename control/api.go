package control

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	platform "github.com/micro/platform"
	"golang.org/x/sync/errgroup"

	"github.com/micro/platform/authz"
	"github.com/micro/platform/region"
	"github.com/micro/platform/runtime"
	"github.com/micro/platform/runtimeapi"
)

// CreateNamespace implements platform.ControlPlane. With regions, the namespace's
// services run there unless a deploy names its own; every region named must be
// registered. Each connected region of the namespace's placement is asked first whether
// it can take the namespace (the embedded NATS checks the room on its disk); a refusal is
// EUNAVAILABLE (or the region's own code) with its reason and hint, audited with outcome
// "failed", and nothing is stored. The regions then create the namespace's account from
// their desired state.
func (p *Plane) CreateNamespace(ctx context.Context, name string, regions ...string) (*platform.Namespace, error) {
	if err := p.authorize(ctx, authz.NamespaceCreate); err != nil {
		return nil, err
	}
	if err := platform.ValidateName("namespace", name); err != nil {
		return nil, err
	}
	if err := p.checkRegions(ctx, regions); err != nil {
		return nil, err
	}
	tok := platform.TokenFromContext(ctx)
	ns := &platform.Namespace{Name: name, Org: tok.OrgName(), Regions: regions, CreatedAt: p.opts.Clock.Now().UTC()}
	p.nsMu.Lock()
	defer p.nsMu.Unlock()
	// A namespace that exists is a conflict, whatever a region would say.
	if _, err := p.store.GetNamespace(ctx, name); platform.IsNotFound(err) {
		// The organisation's plan bounds its namespaces (a name taken is a conflict, below).
		if err := p.checkNamespaceQuota(ctx, ns.Org); err != nil {
			return nil, err
		}
		for _, r := range p.placement(&platform.Service{}, ns) {
			c := p.links.client(r)
			if c == nil {
				continue
			}
			pctx, cancel := runtimeapi.WithTimeout(ctx)
			err := c.PrepareNamespace(pctx, name)
			cancel()
			if err != nil {
				return nil, p.namespaceRefused(ctx, name, err)
			}
		}
	}
	if err := p.store.CreateNamespace(ctx, ns); err != nil {
		return nil, err
	}
	p.links.kick()
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditNamespaceCreate, Target: "namespace/" + name})
	p.events.Publish(ctx, &platform.Event{Namespace: name, Type: platform.EventNamespaceCreated, Message: fmt.Sprintf("namespace %s created", name)})
	return ns, nil
}

// SetNamespaceDev implements platform.ControlPlane: it turns the namespace's dev mode on
// or off (authorised and audited as creating a namespace is: an admin's), and the
// regions get the change with their next desired state.
func (p *Plane) SetNamespaceDev(ctx context.Context, name string, dev bool) (*platform.Namespace, error) {
	if err := p.authorizeNamespace(ctx, authz.NamespaceCreate, name); err != nil {
		return nil, err
	}
	p.nsMu.Lock()
	err := p.store.SetNamespaceDev(ctx, name, dev)
	p.nsMu.Unlock()
	if err != nil {
		return nil, err
	}
	ns, err := p.store.GetNamespace(ctx, name)
	if err != nil {
		return nil, err
	}
	p.links.kick()
	mode := "off"
	if dev {
		mode = "on"
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditNamespaceDev, Target: "namespace/" + name, Detail: "dev mode " + mode})
	return ns, nil
}

// checkDev refuses a dev deploy (DeployRequest.Dev) into a namespace that is not a dev
// namespace: a development loop must not replace releases there without MinReady and
// the drain delay, nor deploy there the ordinary way unasked.
func (p *Plane) checkDev(ctx context.Context, req platform.DeployRequest) error {
	if !req.Dev {
		return nil
	}
	ns, err := p.store.GetNamespace(ctx, req.Namespace)
	if err != nil {
		return err
	}
	if !ns.Dev {
		return platform.Errorf(platform.EINVALID, "namespace %s is not a dev namespace: `platform dev` deploys only into one", req.Namespace).
			WithHint("create one with `platform namespaces create %s-dev --dev`, or deploy here with `platform deploy`", req.Namespace)
	}
	return nil
}

// namespaceDev reports whether namespace name is a dev namespace (false when it cannot
// be read: the ordinary path is always safe).
func (p *Plane) namespaceDev(ctx context.Context, name string) bool {
	ns, err := p.store.GetNamespace(ctx, name)
	return err == nil && ns.Dev
}

// checkRegions refuses region names that are not registered (EINVALID, naming them).
func (p *Plane) checkRegions(ctx context.Context, names []string) error {
	if len(names) == 0 {
		return nil
	}
	known, err := p.store.ListRegions(ctx)
	if err != nil {
		return err
	}
	var unknown []string
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			return platform.Errorf(platform.EINVALID, "region %q is named twice", n)
		}
		seen[n] = true
		if !slices.ContainsFunc(known, func(r *platform.Region) bool { return r.Name == n }) {
			unknown = append(unknown, strconv.Quote(n))
		}
	}
	if len(unknown) > 0 {
		return platform.Errorf(platform.EINVALID, "unknown region %s", strings.Join(unknown, ", ")).
			WithHint("`platform regions` lists the regions; an operator adds one with `platform regions create`")
	}
	return nil
}

// auditFailed is the audit outcome of an action that was allowed but could not be done
// (a namespace the mesh had no room for).
const auditFailed = "failed"

// namespaceRefused audits a create the mesh refused and returns the error for the
// caller: the mesh's code, message and hint, EUNAVAILABLE if it gave no code (its
// detail is logged, not shown).
func (p *Plane) namespaceRefused(ctx context.Context, name string, err error) error {
	code, msg, hint := platform.ErrorCode(err), platform.ErrorMessage(err), platform.ErrorHint(err)
	if code == platform.EINTERNAL {
		p.logger.Error("create namespace: the mesh refused it", "namespace", name, "err", err)
		code, msg, hint = platform.EUNAVAILABLE, "the messaging layer could not take it", "try again; if it keeps failing, the region's log says why"
	}
	out := platform.Errorf(code, "namespace %s not created: %s", name, msg)
	if hint != "" {
		out = out.WithHint("%s", hint)
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditNamespaceCreate, Target: "namespace/" + name, Outcome: auditFailed, Detail: out.Message})
	return out
}

// ListNamespaces implements platform.ControlPlane: the namespaces of the caller's
// organisation that the caller's token reaches.
func (p *Plane) ListNamespaces(ctx context.Context) ([]*platform.Namespace, error) {
	if err := p.authorize(ctx, authz.NamespaceRead); err != nil {
		return nil, err
	}
	tok := platform.TokenFromContext(ctx)
	all, err := p.store.ListNamespaces(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(n *platform.Namespace) bool {
		return orgOf(n) != tok.OrgName() || !tok.InScope(n.Name)
	}), nil
}

// DeleteNamespace implements platform.ControlPlane. The namespace's state goes (and with
// it the namespace from the tokens narrowed to it; see platform.NamespaceStore), then its
// instances are stopped, then its messaging account.
func (p *Plane) DeleteNamespace(ctx context.Context, name string) error {
	if err := p.authorizeNamespace(ctx, authz.NamespaceDelete, name); err != nil {
		return err
	}
	svcs, err := p.store.ListServices(ctx, name)
	if err != nil {
		return err
	}
	// The store takes the namespace out of the tokens narrowed to it; their cached
	// lookups must go too, or they would keep it for the authenticator's TTL.
	toks, err := p.store.ListTokens(ctx)
	if err != nil {
		return err
	}
	narrowed := slices.DeleteFunc(toks, func(t *platform.Token) bool { return !slices.Contains(t.Namespaces, name) })
	builds, err := p.store.ListBuilds(ctx, name, "", 0)
	if err != nil {
		return err
	}
	// Desired state goes first: from then on every reconcile (and, after a crash, the
	// first resync) stops what is left of the namespace.
	p.nsMu.Lock()
	err = p.store.DeleteNamespace(ctx, name)
	p.nsMu.Unlock()
	if err != nil {
		return err
	}
	p.forgetTokens(narrowed)
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditNamespaceDelete, Target: "namespace/" + name})
	// The regions stop its services and remove its account from their desired state.
	p.links.kick()
	for _, s := range svcs {
		p.queue.Add(key(name, s.Name))
	}
	// Its builds' artifacts (binaries, images) and logs go too; instances still
	// stopping keep the binary they run (an unlinked file) until they exit.
	go p.removeBuilds(context.WithoutCancel(ctx), builds)
	return nil
}

// removeBuilds removes what the builds of a deleted namespace left: artifacts (when the
// builder can) and logs. A failure is logged: the namespace is gone either way.
func (p *Plane) removeBuilds(ctx context.Context, builds []*platform.Build) {
	remover, _ := p.opts.Builder.(interface {
		RemoveBuild(context.Context, *platform.Build) error
	})
	for _, b := range builds {
		if remover != nil {
			if err := remover.RemoveBuild(ctx, b); err != nil {
				p.logger.Warn("remove the artifact of a deleted namespace's build", "namespace", b.Namespace, "build", b.ID, "err", err)
			}
		}
		if err := p.logs.Remove(b.ID); err != nil {
			p.logger.Warn("remove the log of a deleted namespace's build", "namespace", b.Namespace, "build", b.ID, "err", err)
		}
	}
}

// UploadSource implements platform.ControlPlane. The archive is stored once per content
// (Sources), and recorded as the namespace's: Deploy builds only archives its namespace
// uploaded, so knowing another namespace's digest is not enough to build its code.
func (p *Plane) UploadSource(ctx context.Context, namespace string, archive io.Reader) (string, error) {
	if err := p.authorizeNamespace(ctx, authz.ServiceDeploy, namespace); err != nil {
		return "", err
	}
	digest, err := p.opts.Sources.StoreArchive(archive)
	if err != nil {
		return "", err
	}
	if err := p.store.RecordUpload(ctx, namespace, digest); err != nil {
		return "", fmt.Errorf("upload to %s: %w", namespace, err)
	}
	return digest, nil
}

// checkUploaded returns ENOTFOUND unless namespace uploaded the archive of src (an
// archive source): the same answer whether another namespace has it or nobody does.
func (p *Plane) checkUploaded(ctx context.Context, namespace string, src platform.Source) error {
	if src.Kind != platform.SourceArchive {
		return nil
	}
	ok, err := p.store.HasUpload(ctx, namespace, src.Archive)
	if err != nil {
		return err
	}
	if !ok {
		return platform.Errorf(platform.ENOTFOUND, "source archive %s was not uploaded to namespace %q", src.Archive[:12], namespace).
			WithHint("upload the source to this namespace (`platform deploy DIR -n %s` does) and deploy the digest it returns", namespace)
	}
	return nil
}

// sealSource returns src as the store keeps it: a git URL holding credentials becomes
// its PublicURL, and the URL as given is sealed (Source.SealedURL) for the builder.
func (p *Plane) sealSource(src platform.Source) platform.Source {
	src.SealedURL = ""
	if src.Kind == platform.SourceGit {
		if public := src.PublicURL(); public != src.URL {
			src.SealedURL, src.URL = p.opts.Secrets.Seal(src.URL), public
		}
	}
	return src
}

// openSource returns src with the URL the builder clones: the sealed one opened.
func (p *Plane) openSource(src platform.Source) (platform.Source, error) {
	if src.SealedURL == "" {
		return src, nil
	}
	url, err := p.opts.Secrets.Open(src.SealedURL)
	if err != nil {
		return src, platform.Errorf(platform.EINTERNAL, "the git URL of this build cannot be opened: %v", err).
			WithHint("was DATA/secret.key replaced? deploy again with the URL")
	}
	src.URL, src.SealedURL = url, ""
	return src, nil
}

// reservedEnv are variables the platform sets; a user may not override them.
var reservedEnv = []string{"MICRO_REGISTRY", "MICRO_REGISTRY_ADDRESS", "MICRO_BROKER", "MICRO_BROKER_ADDRESS",
	"MICRO_TRANSPORT", "MICRO_TRANSPORT_ADDRESS", "MICRO_SERVER_NAME", "MICRO_SERVER_VERSION", "MICRO_SERVER_ID", "MICRO_SERVER_ADDRESS"}

// Deploy implements platform.ControlPlane.
func (p *Plane) Deploy(ctx context.Context, req platform.DeployRequest) (*platform.Release, error) {
	if err := p.authorizeNamespace(ctx, authz.ServiceDeploy, req.Namespace); err != nil {
		return nil, err
	}
	if err := validateDeploy(req); err != nil {
		return nil, err
	}
	if err := p.checkUploaded(ctx, req.Namespace, req.Source); err != nil {
		return nil, err
	}
	if err := p.checkRegions(ctx, req.Regions); err != nil {
		return nil, err
	}
	if err := p.checkCanary(ctx, req); err != nil {
		return nil, err
	}
	if err := p.checkDev(ctx, req); err != nil {
		return nil, err
	}
	regions := req.Regions
	if len(regions) == 0 {
		// A redeploy keeps the service's placement; a new service follows its namespace's.
		if svc, err := p.store.GetService(ctx, req.Namespace, req.Service); err == nil {
			regions = svc.Regions
		}
	}
	now := p.opts.Clock.Now().UTC()
	b := &platform.Build{
		ID: platform.NewID("b"), Namespace: req.Namespace, Service: req.Service,
		Source: p.sealSource(req.Source), Status: platform.BuildQueued, CreatedAt: now,
	}
	// Unfinished releases of the service are superseded by this one (in the store's
	// transaction); tell whoever follows them.
	earlier, err := p.store.ListReleases(ctx, req.Namespace, req.Service, 10)
	if err != nil {
		return nil, err
	}
	r := &platform.Release{
		ID: platform.NewID("r"), Namespace: req.Namespace, Service: req.Service, Version: req.Version,
		BuildID: b.ID, Replicas: deployReplicas(req.Replicas, earlier), Size: deploySize(req.Size, earlier),
		Env: p.sealEnv(req.Env), Regions: regions, Status: platform.ReleasePending, CreatedAt: now, UpdatedAt: now,
		Canary: req.Canary, Origin: deployOrigin(ctx, req),
	}
	if err := p.checkDeployQuota(ctx, req.Namespace, req.Service, r.Replicas, r.Regions, true); err != nil {
		return nil, err
	}
	if err := p.store.Deploy(ctx, b, r); err != nil {
		return nil, err
	}
	for _, e := range earlier {
		if !e.Status.Terminal() && e.Status != platform.ReleaseLive {
			p.publish(ctx, e, platform.EventReleaseSuperseded, fmt.Sprintf("release %s of %s was replaced by %s before it went live", e.Version, e.Service, r.Version))
		}
	}
	p.publish(ctx, r, platform.EventReleaseCreated, fmt.Sprintf("release %s of %s created from %s", r.Version, r.Service, describeSource(req.Source)))
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditDeploy, Target: "service/" + r.Namespace + "/" + r.Service,
		Detail: fmt.Sprintf("release %s from %s", r.Version, describeSource(req.Source))})
	p.queue.Add(key(r.Namespace, r.Service))
	return redacted(r), nil
}

// deployOrigin is the origin a deploy records: the GitOps worker's as it gives it; for
// anyone else a "deploy" by the caller, keeping the commit a CI job may name.
func deployOrigin(ctx context.Context, req platform.DeployRequest) *platform.ReleaseOrigin {
	tok := platform.TokenFromContext(ctx)
	if req.Origin != nil && tok != nil && tok.Kind == platform.TokenGitOps {
		o := *req.Origin
		return &o
	}
	o := &platform.ReleaseOrigin{Kind: platform.OriginDeploy}
	if tok != nil {
		o.User = tok.User
	}
	if req.Origin != nil {
		o.Repo, o.Ref, o.Commit = clip(req.Origin.Repo, 200), clip(req.Origin.Ref, 255), clip(req.Origin.Commit, 64)
		o.Message, o.Author = clip(req.Origin.Message, 200), clip(req.Origin.Author, 100)
	}
	if o.Commit == "" && req.Source.Kind == platform.SourceGit && validCommit(req.Source.Ref) {
		o.Commit = req.Source.Ref
	}
	return o
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// validCommit reports whether s is a full commit hash.
func validCommit(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// deployReplicas returns the instance count of a new release: the one asked for, else the
// count of the service's newest release (a redeploy keeps a scaled service's scale), else 1.
func deployReplicas(asked int, newestFirst []*platform.Release) int {
	switch {
	case asked > 0:
		return asked
	case len(newestFirst) > 0 && newestFirst[0].Replicas > 0:
		return newestFirst[0].Replicas
	}
	return 1
}

// deploySize returns the size of a new release: the one asked for, else the size of the
// service's newest release (what it is deploying or running; a redeploy keeps it), else
// DefaultSize. It is always written out, so a later change of DefaultSize does not resize
// running services.
func deploySize(asked platform.Size, newestFirst []*platform.Release) platform.Size {
	if asked != "" {
		return asked
	}
	if len(newestFirst) > 0 {
		return newestFirst[0].Size.OrDefault()
	}
	return platform.DefaultSize
}

// sealEnv seals every value of env for the store.
func (p *Plane) sealEnv(env map[string]string) map[string]string {
	if len(env) == 0 {
		return nil
	}
	sealed := make(map[string]string, len(env))
	for k, v := range env {
		sealed[k] = p.opts.Secrets.Seal(v)
	}
	return sealed
}

// openEnv opens the sealed values of a release's environment.
func (p *Plane) openEnv(env map[string]string) (map[string]string, error) {
	open := make(map[string]string, len(env))
	for k, v := range env {
		pt, err := p.opts.Secrets.Open(v)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", k, err)
		}
		open[k] = pt
	}
	return open, nil
}

// redactedValue stands for every environment value the API shows.
const redactedValue = "(sealed)"

// redacted returns a copy of r whose environment shows names only: values may be
// secrets, and are never shown back.
func redacted(r *platform.Release) *platform.Release {
	if r == nil || len(r.Env) == 0 {
		return r
	}
	c := *r
	c.Env = make(map[string]string, len(r.Env))
	for k := range r.Env {
		c.Env[k] = redactedValue
	}
	return &c
}

func validateDeploy(req platform.DeployRequest) error {
	var problems []string
	if err := platform.ValidateName("service", req.Service); err != nil {
		problems = append(problems, platform.ErrorMessage(err))
	}
	// The source is checked here, before anything is stored: a git URL, ref or path git
	// would take as an option or transport, or leaving the tree, never reaches a build.
	problems = append(problems, req.Source.Problems()...)
	if req.Replicas < 0 || req.Replicas > 100 {
		problems = append(problems, fmt.Sprintf("replicas %d: want 1 to 100", req.Replicas))
	}
	if req.Canary < 0 || req.Canary > 99 {
		problems = append(problems, fmt.Sprintf("canary %d%%: want a share of the calls from 1 to 99 (0: no canary)", req.Canary))
	}
	if err := req.Size.Validate(); err != nil {
		problems = append(problems, platform.ErrorMessage(err))
	}
	if req.Version != "" && !validVersion(req.Version) {
		problems = append(problems, fmt.Sprintf("version %q: use letters, digits, '.', '-' and '_' (at most 64)", req.Version))
	}
	for _, k := range slices.Sorted(maps.Keys(req.Env)) {
		if slices.Contains(reservedEnv, k) {
			problems = append(problems, fmt.Sprintf("env %s is set by the platform and cannot be overridden", k))
		} else if k == "" || strings.ContainsAny(k, "= \x00") {
			problems = append(problems, fmt.Sprintf("env name %q is not valid", k))
		}
	}
	if len(problems) > 0 {
		return platform.Errorf(platform.EINVALID, "invalid deploy: %s", strings.Join(problems, "; "))
	}
	return nil
}

func validVersion(v string) bool {
	if len(v) > 64 {
		return false
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ListServices implements platform.ControlPlane.
func (p *Plane) ListServices(ctx context.Context, namespace string) ([]*platform.ServiceView, error) {
	if err := p.authorizeNamespace(ctx, authz.ServiceRead, namespace); err != nil {
		return nil, err
	}
	svcs, err := p.store.ListServices(ctx, namespace)
	if err != nil {
		return nil, err
	}
	registered := p.registryOf(ctx, namespace, svcs)
	// Each view reads its release and instances and asks the region for their figures:
	// a few at a time, so that a namespace of many services lists in a few round trips.
	all := make([]*platform.ServiceView, len(svcs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, s := range svcs {
		g.Go(func() error {
			v, err := p.view(gctx, s, registered)
			if platform.IsNotFound(err) {
				return nil // deleted while we listed
			}
			all[i] = v
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	views := make([]*platform.ServiceView, 0, len(svcs))
	for _, v := range all {
		if v != nil {
			views = append(views, v)
		}
	}
	p.addBuildDocs(ctx, views)
	return views, nil
}

// GetService implements platform.ControlPlane.
func (p *Plane) GetService(ctx context.Context, namespace, name string) (*platform.ServiceView, error) {
	if err := p.authorizeNamespace(ctx, authz.ServiceRead, namespace); err != nil {
		return nil, err
	}
	s, err := p.store.GetService(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	v, err := p.view(ctx, s, p.registry(ctx, namespace, name))
	if err != nil {
		return nil, err
	}
	p.addBuildDocs(ctx, []*platform.ServiceView{v})
	return v, nil
}

// registry returns what is registered in the namespace, by service name, as the first
// connected region of the service's placement (or of the namespace's, for a listing)
// sees it. A registry that does not answer leaves endpoints empty rather than failing
// the listing.
func (p *Plane) registry(ctx context.Context, ns, service string) map[string]*platform.RegisteredService {
	out := map[string]*platform.RegisteredService{}
	c := p.regionFor(ctx, ns, service)
	if c == nil {
		return out
	}
	qctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	list, err := c.Services(qctx, ns, service)
	if err != nil {
		return out
	}
	for _, s := range list {
		out[s.Name] = s
	}
	return out
}

// registryOf is registry for the services of a listing: each looked up by name, a few at
// a time, from the region's registry cache (kept current by its watch). A listing of the
// whole registry waits out the registry's broadcast query (natsbus.RegistryTimeout, a
// quarter of a second) however few services answer.
func (p *Plane) registryOf(ctx context.Context, ns string, svcs []*platform.Service) map[string]*platform.RegisteredService {
	out := map[string]*platform.RegisteredService{}
	if len(svcs) == 0 {
		return out
	}
	c := p.regionFor(ctx, ns, "")
	if c == nil {
		return out
	}
	qctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(16)
	for _, s := range svcs {
		g.Go(func() error {
			list, err := c.Services(qctx, ns, s.Name)
			if err != nil {
				return nil // not registered (or the region did not answer): no endpoints
			}
			mu.Lock()
			defer mu.Unlock()
			for _, rs := range list {
				out[rs.Name] = rs
			}
			return nil
		})
	}
	_ = g.Wait()
	return out
}

// regionFor returns the client of the first connected region where service runs (with
// service "", of the namespace's placement), or nil when none is connected.
func (p *Plane) regionFor(ctx context.Context, ns, service string) *runtimeapi.AgentClient {
	var names []string
	if service != "" {
		if svc, err := p.store.GetService(ctx, ns, service); err == nil {
			names = p.placementOf(ctx, svc)
		}
	}
	if len(names) == 0 {
		n, err := p.store.GetNamespace(ctx, ns)
		if err != nil {
			n = nil
		}
		names = p.placement(&platform.Service{}, n)
	}
	return p.firstConnected(names)
}

func (p *Plane) view(ctx context.Context, s *platform.Service, registered map[string]*platform.RegisteredService) (*platform.ServiceView, error) {
	v := &platform.ServiceView{Service: *s, Instances: []*platform.Instance{}, Endpoints: []platform.Endpoint{}}
	relID := s.CurrentRelease
	if relID == "" {
		relID = s.DesiredRelease
	}
	if relID != "" {
		r, err := p.store.GetRelease(ctx, relID)
		if err != nil {
			return nil, err
		}
		v.Release, v.Version = redacted(r), r.Version
	}
	instances, err := p.store.ListInstances(ctx, s.Namespace, s.Name)
	if err != nil {
		return nil, err
	}
	if reg := registered[s.Name]; reg != nil {
		v.Nodes = reg.Nodes
		v.Endpoints = reg.Endpoints
	}
	p.addStats(ctx, instances, v.Nodes)
	v.Instances = instances
	v.Regions = p.placementOf(ctx, s)
	v.PerRegion = p.perRegion(s, v.Regions, instances)
	return v, nil
}

// perRegion summarises the service in each region of its placement.
func (p *Plane) perRegion(s *platform.Service, placed []string, instances []*platform.Instance) []platform.ServiceRegion {
	out := make([]platform.ServiceRegion, 0, len(placed))
	for _, name := range placed {
		sr := platform.ServiceRegion{Region: name}
		st := p.links.status(name, key(s.Namespace, s.Name))
		serving := s.CurrentRelease
		if st.observed != nil && st.observed.Serving != "" {
			serving = st.observed.Serving
		}
		var mine []*platform.Instance
		for _, i := range instances {
			if i.Region != name {
				continue
			}
			mine = append(mine, i)
			sr.Instances++
			if i.State == platform.InstanceRunning {
				sr.Running++
			}
			if i.ReleaseID == serving && sr.Version == "" {
				sr.Version = i.Version
			}
		}
		switch {
		case st.health == platform.RegionLost:
			sr.Status, sr.Reason = platform.ServiceDegraded, "region lost; instances as it last reported them"
		case st.health == platform.RegionWaiting:
			sr.Status, sr.Reason = platform.ServiceDeploying, "no agent of the region has connected yet"
		case st.observed != nil && st.observed.Rollout != nil && st.observed.Rollout.State == region.RolloutFailed && st.observed.Serving == "":
			sr.Status, sr.Reason = platform.ServiceFailed, st.observed.Rollout.Reason
		case st.observed != nil && st.observed.Rollout != nil && st.observed.Rollout.State == region.RolloutRunning:
			sr.Status = platform.ServiceDeploying
		default:
			sr.Status, sr.Reason = serviceStatus(s, nil, mine)
			if s.CurrentRelease == "" && s.Status == platform.ServiceFailed {
				// Nothing ever served and the release failed: failed here too, with why.
				sr.Status, sr.Reason = platform.ServiceFailed, s.Reason
			}
			if s.CurrentRelease != "" && sr.Running == 0 && sr.Status == platform.ServiceRunning {
				sr.Status = platform.ServiceDeploying
			}
		}
		out = append(out, sr)
	}
	return out
}

// addStats fills each instance's registration and resource use from its region.
func (p *Plane) addStats(ctx context.Context, instances []*platform.Instance, nodes []platform.RegistryNode) {
	type rel struct{ region, release string }
	byRelease := map[rel][]runtime.InstanceStats{}
	for _, i := range instances {
		for _, n := range nodes {
			if n.ID == i.Service+"-"+i.ID {
				i.Registered = true
			}
		}
		k := rel{i.Region, i.ReleaseID}
		stats, ok := byRelease[k]
		if !ok {
			if c := p.links.client(i.Region); c != nil {
				sctx, cancel := context.WithTimeout(ctx, time.Second)
				stats, _ = c.Stats(sctx, i.ReleaseID)
				cancel()
			}
			byRelease[k] = stats
		}
		for _, st := range stats {
			if st.InstanceID == i.ID {
				i.CPUPercent, i.MemoryBytes = st.CPUPercent, st.MemoryBytes
			}
		}
	}
}

// DeleteService implements platform.ControlPlane.
func (p *Plane) DeleteService(ctx context.Context, namespace, name string) error {
	if err := p.authorizeNamespace(ctx, authz.ServiceDelete, namespace); err != nil {
		return err
	}
	s, err := p.store.GetService(ctx, namespace, name)
	if err != nil {
		return err
	}
	if s.Deleted {
		return nil
	}
	s.Deleted = true
	s.Status = platform.ServiceDeleting
	if err := p.store.UpdateService(ctx, s); err != nil {
		return err
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditServiceDelete, Target: "service/" + namespace + "/" + name})
	p.queue.Add(key(namespace, name))
	return nil
}

// GetRelease implements platform.ControlPlane.
func (p *Plane) GetRelease(ctx context.Context, namespace, id string) (*platform.Release, error) {
	if err := p.authorizeNamespace(ctx, authz.ServiceRead, namespace); err != nil {
		return nil, err
	}
	r, err := p.store.GetRelease(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Namespace != namespace {
		return nil, platform.Errorf(platform.ENOTFOUND, "release %q not found in namespace %q", id, namespace)
	}
	return redacted(r), nil
}

// ListReleases implements platform.ControlPlane.
func (p *Plane) ListReleases(ctx context.Context, namespace, service string) ([]*platform.Release, error) {
	if err := p.authorizeNamespace(ctx, authz.ServiceRead, namespace); err != nil {
		return nil, err
	}
	if _, err := p.store.GetService(ctx, namespace, service); err != nil {
		return nil, err
	}
	list, err := p.store.ListReleases(ctx, namespace, service, 100)
	for i, r := range list {
		list[i] = redacted(r)
	}
	return list, err
}

// GetBuild implements platform.ControlPlane.
func (p *Plane) GetBuild(ctx context.Context, namespace, id string) (*platform.Build, error) {
	if err := p.authorizeNamespace(ctx, authz.ServiceRead, namespace); err != nil {
		return nil, err
	}
	b, err := p.store.GetBuild(ctx, id)
	if err != nil {
		return nil, err
	}
	if b.Namespace != namespace {
		return nil, platform.Errorf(platform.ENOTFOUND, "build %q not found in namespace %q", id, namespace)
	}
	// The builder needs the URL as given; readers see it without credentials.
	b.Source.URL = b.Source.PublicURL()
	return b, nil
}

// BuildLog implements platform.ControlPlane.
func (p *Plane) BuildLog(ctx context.Context, namespace, id string, follow bool) (<-chan string, error) {
	b, err := p.GetBuild(ctx, namespace, id)
	if err != nil {
		return nil, err
	}
	if follow && b.Status == platform.BuildQueued {
		// The build has not opened its log yet: wait for it so the follower sees it all.
		if err := p.waitBuildStarted(ctx, b.ID); err != nil {
			return nil, err
		}
	}
	return p.logs.Stream(ctx, id, follow)
}

func (p *Plane) waitBuildStarted(ctx context.Context, id string) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		b, err := p.store.GetBuild(ctx, id)
		if err != nil {
			return err
		}
		if b.Status != platform.BuildQueued {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Call implements platform.ControlPlane.
func (p *Plane) Call(ctx context.Context, req platform.CallRequest) ([]byte, error) {
	if err := p.authorizeNamespace(ctx, authz.ServiceCall, req.Namespace); err != nil {
		return nil, err
	}
	tok := platform.TokenFromContext(ctx)
	if !tok.AllowsTool(req.Service, req.Endpoint) {
		return nil, errToolNotAllowed(req.Service, req.Endpoint)
	}
	req.Scoped, req.Scopes = true, tok.Scopes
	c := p.regionFor(ctx, req.Namespace, req.Service)
	if c == nil {
		return nil, platform.Errorf(platform.EUNAVAILABLE, "no region where %s runs is connected", req.Service).
			WithHint("`platform regions` shows which regions are connected")
	}
	return c.Call(ctx, req)
}

// Logs implements platform.ControlPlane.
func (p *Plane) Logs(ctx context.Context, q platform.LogQuery) (<-chan platform.LogEntry, error) {
	if err := p.authorizeNamespace(ctx, authz.LogsRead, q.Namespace); err != nil {
		return nil, err
	}
	svc, err := p.store.GetService(ctx, q.Namespace, q.Service)
	if err != nil {
		return nil, err
	}
	regions := p.placementOf(ctx, svc)
	if q.Region != "" {
		if !slices.Contains(regions, q.Region) {
			return nil, platform.Errorf(platform.EINVALID, "%s does not run in region %s; it runs in %s", q.Service, q.Region, strings.Join(regions, ", "))
		}
		regions = []string{q.Region}
	}
	ch, err := p.regionLogs(ctx, q, regions)
	if err != nil {
		return nil, err
	}
	return redactLogs(ctx, ch), nil
}

// regionLogs merges the log streams of the connected regions of a service; a region that
// is away is skipped (its lines are there once it returns).
func (p *Plane) regionLogs(ctx context.Context, q platform.LogQuery, regions []string) (<-chan platform.LogEntry, error) {
	var streams []<-chan platform.LogEntry
	var firstErr error
	for _, name := range regions {
		c := p.links.client(name)
		if c == nil {
			continue
		}
		ch, err := c.Logs(ctx, q)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		streams = append(streams, ch)
	}
	if len(streams) == 0 {
		if firstErr != nil {
			return nil, firstErr
		}
		return nil, platform.Errorf(platform.EUNAVAILABLE, "no region where %s runs is connected", q.Service).
			WithHint("`platform regions` shows which regions are connected")
	}
	if len(streams) == 1 {
		return streams[0], nil
	}
	out := make(chan platform.LogEntry, 64)
	var wg sync.WaitGroup
	for _, ch := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range ch {
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	return out, nil
}

// Events implements platform.ControlPlane.
func (p *Plane) Events(ctx context.Context, f platform.EventFilter) ([]*platform.Event, error) {
	if err := p.authorizeNamespace(ctx, authz.EventsRead, f.Namespace); err != nil {
		return nil, err
	}
	return p.store.ListEvents(ctx, f)
}

// SubscribeEvents implements platform.ControlPlane.
func (p *Plane) SubscribeEvents(ctx context.Context, f platform.EventFilter) (<-chan *platform.Event, error) {
	if err := p.authorizeNamespace(ctx, authz.EventsRead, f.Namespace); err != nil {
		return nil, err
	}
	return p.events.Subscribe(ctx, f)
}
