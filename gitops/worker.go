package gitops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sethvargo/go-retry"

	platform "github.com/micro/platform"
	"github.com/micro/platform/billing"
)

// Status is a commit status the worker reports for one service.
type Status struct {
	// State is pending, success, failure or error (GitHub's).
	State       string
	Context     string
	Description string
	TargetURL   string
}

// Reporter tells GitHub how a commit's services went: package github's Repos, adapted
// by the server. A nil Reporter reports nothing (no repo token configured).
type Reporter interface {
	Status(ctx context.Context, repo, sha string, s Status) error
	// Comment creates or edits the pull request comment that carries marker.
	Comment(ctx context.Context, repo string, pr int, marker, body string) error
}

// Store is what the worker and the receiver keep: links, deliveries, previews.
type Store = platform.RepoStore

// QuotaChecker says whether an organisation's plan allows more of a quota
// (control.Plane.CheckQuota): EQUOTA when it does not.
type QuotaChecker interface {
	CheckQuota(ctx context.Context, org string, kind billing.QuotaKind, current, adding int64) error
}

// Options configure a Worker.
type Options struct {
	Store Store
	// Plane is what the worker acts through, with a token of the link's (see actor):
	// uploads, deploys, namespaces of previews.
	Plane platform.ControlPlane
	// Mirror keeps the links' clones.
	Mirror   *Mirror
	Reporter Reporter
	// PublicURL is the platform's address for links in statuses and comments.
	PublicURL string
	// GitHubWebURL builds a link's default clone URL ("" is github.com).
	GitHubWebURL string
	// MaxPreviews caps the preview namespaces of one organisation (default 5).
	MaxPreviews int
	// Quotas, when set, also bounds them by the organisation's plan (billing's
	// previews quota).
	Quotas QuotaChecker
	// ReleaseTimeout bounds how long one delivery waits for a release (default 30m).
	ReleaseTimeout time.Duration
	// Poll is how often a waited-for release is looked at (default 100ms).
	Poll   time.Duration
	Logger *slog.Logger
	Clock  platform.Clock
}

// Worker processes stored deliveries: one goroutine per link with queued deliveries,
// each in the order received. Start runs those a crash left queued.
type Worker struct {
	opts   Options
	log    *slog.Logger
	kick   chan struct{}
	mu     sync.Mutex
	active map[string]bool // links with a running goroutine
	wg     sync.WaitGroup
}

// NewWorker returns a worker; Start runs it.
func NewWorker(opts Options) *Worker {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = platform.SystemClock{}
	}
	if opts.MaxPreviews <= 0 {
		opts.MaxPreviews = 5
	}
	if opts.ReleaseTimeout <= 0 {
		opts.ReleaseTimeout = 30 * time.Minute
	}
	if opts.Poll <= 0 {
		opts.Poll = 100 * time.Millisecond
	}
	return &Worker{opts: opts, log: opts.Logger.With("component", "gitops"), kick: make(chan struct{}, 1), active: map[string]bool{}}
}

// Kick makes the worker look for queued deliveries now.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Start processes queued deliveries until ctx ends: at once (those a crash left), on
// Kick, and every few seconds.
func (w *Worker) Start(ctx context.Context) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			w.dispatch(ctx)
			select {
			case <-ctx.Done():
				return
			case <-w.kick:
			case <-t.C:
			}
		}
	}()
}

// Wait returns once every goroutine Start began has returned.
func (w *Worker) Wait() { w.wg.Wait() }

// dispatch starts a goroutine for each link with queued deliveries and none running.
func (w *Worker) dispatch(ctx context.Context) {
	queued, err := w.opts.Store.ListDeliveries(ctx, "", platform.DeliveryQueued, 0)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error("list queued deliveries", "err", err)
		}
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, d := range queued {
		if w.active[d.LinkID] {
			continue
		}
		w.active[d.LinkID] = true
		w.wg.Add(1)
		go w.runLink(ctx, d.LinkID)
	}
}

// runLink processes link's queued deliveries oldest first until none is left.
func (w *Worker) runLink(ctx context.Context, link string) {
	defer w.wg.Done()
	defer func() {
		w.mu.Lock()
		delete(w.active, link)
		w.mu.Unlock()
		// A delivery recorded after the last look, while this goroutine still counted
		// as running, is dispatched now rather than at the next tick.
		w.Kick()
	}()
	for ctx.Err() == nil {
		next, err := w.opts.Store.ListDeliveries(ctx, link, platform.DeliveryQueued, 1)
		if err != nil || len(next) == 0 {
			if err != nil && ctx.Err() == nil {
				w.log.Error("list queued deliveries", "link", link, "err", err)
			}
			return
		}
		w.process(ctx, next[0])
	}
}

// transient marks an error worth trying again (GitHub or the repository unreachable).
func transient(err error) bool {
	return platform.ErrorCode(err) == platform.EUNAVAILABLE
}

// process runs one delivery to its end and records how it went. A transient failure is
// tried again with backoff, up to five attempts in all; a delivery stopped by shutdown
// stays queued for the next start.
func (w *Worker) process(ctx context.Context, d *platform.Delivery) {
	start := w.opts.Clock.Now()
	var outcome string
	b := retry.WithMaxRetries(4, retry.NewExponential(time.Second))
	err := retry.Do(ctx, b, func(ctx context.Context) error {
		d.Attempts++
		var err error
		outcome, err = w.handle(ctx, d)
		if err != nil && transient(err) && ctx.Err() == nil {
			w.log.Warn("delivery failed; trying again", "delivery", d.ID, "attempt", d.Attempts, "err", err)
			return retry.RetryableError(err)
		}
		return err
	})
	if ctx.Err() != nil {
		return // left queued: the next start runs it again
	}
	now := w.opts.Clock.Now().UTC()
	d.DoneAt = &now
	d.Status, d.Error = platform.DeliveryDone, outcome
	if err != nil {
		d.Status, d.Error = platform.DeliveryFailed, platform.ErrorMessage(err)
		w.log.Warn("delivery failed", "delivery", d.ID, "event", d.Event, "err", err)
	} else {
		w.log.Info("delivery processed", "delivery", d.ID, "event", d.Event, "outcome", outcome, "took", now.Sub(start).Round(time.Millisecond))
	}
	if err := w.opts.Store.UpdateDelivery(context.WithoutCancel(ctx), d); err != nil {
		w.log.Error("record delivery outcome", "delivery", d.ID, "err", err)
	}
}

// handle processes d and says what came of it.
func (w *Worker) handle(ctx context.Context, d *platform.Delivery) (string, error) {
	link, err := w.opts.Store.GetRepoLink(ctx, d.LinkID)
	if platform.IsNotFound(err) {
		return "", platform.Errorf(platform.ENOTFOUND, "the link was deleted before the delivery was processed")
	} else if err != nil {
		return "", err
	}
	switch d.Event {
	case "push":
		return w.push(ctx, link, d)
	case "pull_request":
		return w.pullRequest(ctx, link, d)
	default:
		return "nothing to do for " + d.Event, nil
	}
}

// push deploys the services a push to the linked branch changed.
func (w *Worker) push(ctx context.Context, link *platform.RepoLink, d *platform.Delivery) (string, error) {
	ev, err := decode[pushEvent](d.Body)
	if err != nil {
		return "", err
	}
	switch {
	case ev.Ref != "refs/heads/"+link.Branch:
		return fmt.Sprintf("ignored: a push to %s, the link follows %s", ev.Ref, link.Branch), nil
	case ev.Deleted || ev.After == "" || ev.After == zeroCommit:
		return "ignored: the branch was deleted", nil
	}
	act := w.actor(ctx, link, link.Namespace, platform.RoleDeveloper)
	co, err := w.opts.Mirror.Checkout(ctx, link.ID, w.cloneURL(link), link.Branch, ev.After)
	if err != nil {
		return "", err
	}
	origin := ev.origin(d.ID)
	if origin.Message == "" {
		origin.Message = co.Message()
	}
	if origin.Author == "" {
		origin.Author = co.Author()
	}
	changed, complete := ev.changedPaths()
	if !complete {
		changed, complete = co.Changed(ev.Before)
	}
	run := &deployRun{w: w, link: link, ns: link.Namespace, act: act, co: co, origin: origin, sha: ev.After, statusSuffix: ""}
	return run.deploy(changed, complete)
}

// deployRun is the deploy of one commit's services into one namespace.
type deployRun struct {
	w            *Worker
	link         *platform.RepoLink
	ns           string
	act          context.Context
	co           *Checkout
	origin       *platform.ReleaseOrigin
	sha          string
	statusSuffix string // " (preview)" for previews

	archive string
	project *Project
	results map[string]*platform.Release // service → its release of this run
	failed  map[string]string            // service → why it was not deployed or failed
}

// deploy deploys the services the change touched, and those not deployed yet, in
// dependency order: a service waits for the services it depends on that this run
// deploys to serve, and is not deployed (failure status) when one of them failed.
func (r *deployRun) deploy(changed []string, complete bool) (string, error) {
	proj, err := LoadProject(r.co.Root, r.link.Path, repoName(r.link.Repo), "production")
	if err != nil {
		r.w.status(r.act, r.link, r.sha, Status{State: "failure", Context: "micro/" + r.ns, Description: platform.ErrorMessage(err)})
		return "", err
	}
	r.project = proj
	touched := proj.Affected(changed, complete, r.link.Path)
	missing, err := r.undeployed(touched)
	if err != nil {
		return "", err
	}
	touched = append(touched, missing...)
	// Keep the project's dependency order.
	slices.SortStableFunc(touched, func(a, b Service) int {
		return slices.IndexFunc(proj.Services, func(s Service) bool { return s.Name == a.Name }) -
			slices.IndexFunc(proj.Services, func(s Service) bool { return s.Name == b.Name })
	})
	if len(touched) == 0 {
		return fmt.Sprintf("no service changed at %s", short(r.sha)), nil
	}
	r.results, r.failed = map[string]*platform.Release{}, map[string]string{}
	names := make([]string, len(touched))
	for i, s := range touched {
		names[i] = s.Name
		r.w.status(r.act, r.link, r.sha, Status{State: "pending", Context: r.context(s.Name), Description: "queued"})
	}
	for _, s := range touched {
		if err := r.deployOne(s, names); err != nil {
			return "", err
		}
	}
	// Every service is deployed or refused: wait for the rest to end.
	for _, s := range touched {
		if _, ok := r.failed[s.Name]; !ok {
			if err := r.wait(s.Name); err != nil {
				return "", err
			}
		}
	}
	var out []string
	for _, s := range touched {
		if why, bad := r.failed[s.Name]; bad {
			out = append(out, s.Name+" failed: "+why)
		} else {
			out = append(out, s.Name+" "+r.results[s.Name].Version+" live")
		}
	}
	return strings.Join(out, "; "), nil
}

// undeployed returns the services of the project that touched leaves out and that the
// namespace does not have yet (they are deployed too). It asks ListReleases of each
// (ENOTFOUND: no such service), which the store answers alone, and only when one is
// missing ListServices, whose answer decides then as it always did: ListServices also
// asks the region's registry for the nodes of every service, a broadcast query that waits
// the registry's timeout (250 ms), and reads their instances' stats, none of which a push
// needs.
func (r *deployRun) undeployed(touched []Service) ([]Service, error) {
	var rest []Service
	for _, s := range r.project.Services {
		if !slices.ContainsFunc(touched, func(t Service) bool { return t.Name == s.Name }) {
			rest = append(rest, s)
		}
	}
	all := true
	for _, s := range rest {
		_, err := r.w.opts.Plane.ListReleases(r.act, r.ns, s.Name)
		if platform.IsNotFound(err) {
			all = false
			break
		} else if err != nil {
			return nil, err
		}
	}
	if all {
		return nil, nil
	}
	existing, err := r.w.opts.Plane.ListServices(r.act, r.ns)
	if err != nil {
		return nil, err
	}
	var out []Service
	for _, s := range rest {
		if !slices.ContainsFunc(existing, func(v *platform.ServiceView) bool { return v.Name == s.Name }) {
			out = append(out, s)
		}
	}
	return out, nil
}

// deployOne deploys s once the services it depends on in this run serve.
func (r *deployRun) deployOne(s Service, inRun []string) error {
	for _, dep := range s.Depends {
		if !slices.Contains(inRun, dep) {
			continue
		}
		if _, bad := r.failed[dep]; !bad {
			if err := r.wait(dep); err != nil {
				return err
			}
		}
		if why, bad := r.failed[dep]; bad {
			r.failed[s.Name] = fmt.Sprintf("not deployed: it depends on %s, which failed (%s)", dep, why)
			r.w.status(r.act, r.link, r.sha, Status{State: "failure", Context: r.context(s.Name), Description: r.failed[s.Name]})
			return nil
		}
	}
	// A delivery processed again after a crash finds the release it made.
	rels, err := r.w.opts.Plane.ListReleases(r.act, r.ns, s.Name)
	if err != nil && !platform.IsNotFound(err) {
		return err
	}
	for _, rel := range rels {
		if rel.Origin != nil && rel.Origin.Delivery == r.origin.Delivery && rel.Origin.Commit == r.sha {
			r.results[s.Name] = rel
			return nil
		}
	}
	if r.archive == "" {
		if r.archive, err = r.upload(); err != nil {
			return err
		}
	}
	rel, err := r.w.opts.Plane.Deploy(r.act, platform.DeployRequest{
		Namespace: r.ns, Service: s.Name, Env: r.project.Env, Origin: r.origin,
		Source: platform.Source{Kind: platform.SourceArchive, Archive: r.archive, Path: s.Path, Commit: r.sha},
	})
	if err != nil {
		if transient(err) {
			return err
		}
		r.failed[s.Name] = platform.ErrorMessage(err)
		r.w.status(r.act, r.link, r.sha, Status{State: "failure", Context: r.context(s.Name), Description: r.failed[s.Name]})
		return nil
	}
	r.results[s.Name] = rel
	r.w.status(r.act, r.link, r.sha, Status{State: "pending", Context: r.context(s.Name),
		Description: fmt.Sprintf("building %s", rel.Version), TargetURL: r.w.buildLogURL(r.ns, rel.BuildID)})
	return nil
}

// upload packs the checkout once and stores it as the namespace's upload.
func (r *deployRun) upload() (string, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(r.co.Pack(pw)) }()
	digest, err := r.w.opts.Plane.UploadSource(r.act, r.ns, pr)
	pr.CloseWithError(err)
	if err != nil {
		return "", fmt.Errorf("pack %s at %s: %w", r.link.Repo, short(r.sha), err)
	}
	return digest, nil
}

// wait waits for service's release of this run to end and reports it on the commit.
func (r *deployRun) wait(service string) error {
	rel := r.results[service]
	if rel == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(r.act, r.w.opts.ReleaseTimeout)
	defer cancel()
	t := time.NewTicker(r.w.opts.Poll)
	defer t.Stop()
	for {
		cur, err := r.w.opts.Plane.GetRelease(ctx, r.ns, rel.ID)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return err
		}
		if err == nil {
			r.results[service] = cur
			switch cur.Status {
			case platform.ReleaseLive, platform.ReleaseCanary:
				r.w.status(r.act, r.link, r.sha, Status{State: "success", Context: r.context(service),
					Description: fmt.Sprintf("%s %s is serving", service, cur.Version), TargetURL: r.w.buildLogURL(r.ns, cur.BuildID)})
				return nil
			case platform.ReleaseFailed, platform.ReleaseSuperseded:
				why := cur.Reason
				if cur.Status == platform.ReleaseSuperseded {
					why = "replaced by a newer release before it went live"
				}
				r.failed[service] = why
				r.w.status(r.act, r.link, r.sha, Status{State: "failure", Context: r.context(service),
					Description: fmt.Sprintf("%s %s: %s", service, cur.Version, why), TargetURL: r.w.buildLogURL(r.ns, cur.BuildID)})
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if r.act.Err() != nil {
				return r.act.Err()
			}
			r.failed[service] = fmt.Sprintf("not live after %s", r.w.opts.ReleaseTimeout)
			r.w.status(r.act, r.link, r.sha, Status{State: "error", Context: r.context(service), Description: r.failed[service]})
			return nil
		case <-t.C:
		}
	}
}

func (r *deployRun) context(service string) string {
	return "micro/" + service + r.statusSuffix
}

// actor returns ctx acting for link in namespace ns with role: a token of the link's
// organisation narrowed to ns (an admin one reaching the organisation creates and
// deletes previews).
func (w *Worker) actor(ctx context.Context, link *platform.RepoLink, ns string, role platform.Role) context.Context {
	t := &platform.Token{ID: "gitops-" + link.ID, Name: "github:" + link.Repo, Kind: platform.TokenGitOps, Org: link.Org, Role: role}
	if role != platform.RoleAdmin {
		t.Namespaces = []string{ns}
	}
	return platform.NewContextWithToken(ctx, t)
}

// status reports s on the commit; a failure to report is logged, never fatal.
func (w *Worker) status(ctx context.Context, link *platform.RepoLink, sha string, s Status) {
	if w.opts.Reporter == nil {
		return
	}
	if len(s.Description) > 140 {
		s.Description = s.Description[:137] + "..."
	}
	if err := w.opts.Reporter.Status(ctx, link.Repo, sha, s); err != nil {
		w.log.Warn("report a commit status to GitHub", "repo", link.Repo, "commit", short(sha), "context", s.Context, "err", err)
	}
}

// buildLogURL is the API address of a build's log.
func (w *Worker) buildLogURL(ns, build string) string {
	if w.opts.PublicURL == "" || build == "" {
		return ""
	}
	return strings.TrimSuffix(w.opts.PublicURL, "/") + "/v1/namespaces/" + ns + "/builds/" + build + "/log"
}

// cloneURL is where link's repository is fetched from.
func (w *Worker) cloneURL(link *platform.RepoLink) string {
	if link.CloneURL != "" {
		return link.CloneURL
	}
	return CloneURL(w.opts.GitHubWebURL, link.Repo)
}

// CloneURL is a GitHub repository's clone URL under webURL ("" is github.com).
func CloneURL(webURL, repo string) string {
	if webURL == "" {
		webURL = "https://github.com/"
	}
	return strings.TrimSuffix(webURL, "/") + "/" + repo + ".git"
}

// repoName is the name part of "owner/name".
func repoName(repo string) string {
	return path.Base(repo)
}
