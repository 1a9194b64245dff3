package gitops

import (
	"context"
	"fmt"
	"slices"
	"strings"

	platform "github.com/micro/platform"
	"github.com/micro/platform/billing"
)

// PreviewName is the namespace of pull request pr of a link to ns: "acme-pr-42".
func PreviewName(ns string, pr int) string {
	return fmt.Sprintf("%s-pr-%d", ns, pr)
}

// previewMarker finds the pull request comment the platform keeps up to date.
func previewMarker(ns string) string {
	return "<!-- micro-platform:preview " + ns + " -->"
}

// pullRequest keeps a pull request's preview: made or updated when it is opened,
// reopened or pushed to, deleted with everything in it when it is closed or merged.
func (w *Worker) pullRequest(ctx context.Context, link *platform.RepoLink, d *platform.Delivery) (string, error) {
	ev, err := decode[pullRequestEvent](d.Body)
	if err != nil {
		return "", err
	}
	if ev.PR.Base.Ref != link.Branch {
		return fmt.Sprintf("ignored: pull request #%d is against %s, the link follows %s", ev.Number, ev.PR.Base.Ref, link.Branch), nil
	}
	if !link.Previews {
		return "ignored: previews are off for this link", nil
	}
	ns := PreviewName(link.Namespace, ev.Number)
	switch ev.Action {
	case "closed":
		return w.closePreview(ctx, link, ev, ns)
	case "opened", "reopened", "synchronize":
	default:
		return "nothing to do for pull_request " + ev.Action, nil
	}
	if err := platform.ValidateName("namespace", ns); err != nil {
		w.comment(ctx, link, ev.Number, ns, fmt.Sprintf("No preview: its namespace name %s is too long (namespaces have at most 40 characters).", ns))
		return "", platform.Errorf(platform.EINVALID, "no preview for #%d: %s", ev.Number, platform.ErrorMessage(err))
	}
	if !strings.EqualFold(ev.PR.Head.Repo.FullName, link.Repo) {
		w.comment(ctx, link, ev.Number, ns, "No preview: pull requests from forks are not deployed (their code would run with this repository's namespace rights).")
		return fmt.Sprintf("ignored: #%d comes from the fork %s", ev.Number, ev.PR.Head.Repo.FullName), nil
	}
	prev, err := w.opts.Store.GetPreview(ctx, link.ID, ev.Number)
	if err != nil && !platform.IsNotFound(err) {
		return "", err
	}
	if prev == nil {
		all, err := w.opts.Store.ListPreviews(ctx, link.Org)
		if err != nil {
			return "", err
		}
		if msg, err := w.previewRoom(ctx, link.Org, len(all)); err != nil {
			if msg != "" {
				w.comment(ctx, link, ev.Number, ns, msg)
			}
			return "", fmt.Errorf("no preview for #%d: %w", ev.Number, err)
		}
		if err := w.createPreviewNamespace(ctx, link, ns); err != nil {
			return "", err
		}
		prev = &platform.Preview{Namespace: ns, Org: link.Org, LinkID: link.ID, PR: ev.Number, CreatedAt: w.opts.Clock.Now().UTC()}
		if err := w.opts.Store.PutPreview(ctx, prev); err != nil {
			return "", err
		}
	}
	act := w.actor(ctx, link, ns, platform.RoleDeveloper)
	co, err := w.opts.Mirror.Checkout(ctx, link.ID, w.cloneURL(link), ev.PR.Head.Ref, ev.PR.Head.SHA)
	if err != nil {
		return "", err
	}
	origin := &platform.ReleaseOrigin{Kind: platform.OriginPullRequest, Repo: link.Repo, Ref: ev.PR.Head.Ref, Commit: ev.PR.Head.SHA,
		Author: co.Author(), Message: co.Message(), PR: ev.Number, Delivery: d.ID}
	changed, complete := co.Changed(prev.Commit)
	run := &deployRun{w: w, link: link, ns: ns, act: act, co: co, origin: origin, sha: ev.PR.Head.SHA, statusSuffix: " (preview)"}
	outcome, err := run.deploy(changed, complete)
	if err != nil {
		w.comment(ctx, link, ev.Number, ns, fmt.Sprintf("The preview of %s could not be deployed: %s", short(ev.PR.Head.SHA), platform.ErrorMessage(err)))
		return "", err
	}
	prev.Commit = ev.PR.Head.SHA
	if err := w.opts.Store.PutPreview(ctx, prev); err != nil {
		return "", err
	}
	w.comment(ctx, link, ev.Number, ns, w.previewBody(act, ns, ev.PR.Head.SHA, run))
	return outcome, nil
}

// previewRoom says whether org, which has n previews, may have one more: the operator's
// cap (Options.MaxPreviews) and its plan's previews quota (Options.Quotas) allow it.
// When not, the error is EQUOTA and msg what the pull request's comment says.
func (w *Worker) previewRoom(ctx context.Context, org string, n int) (msg string, err error) {
	if n >= w.opts.MaxPreviews {
		return fmt.Sprintf("No preview: organisation %s has %d preview namespaces, the most it may have (%d). Close a pull request with a preview, or ask the operator to raise gitops.max_previews.",
				orgName(org), n, w.opts.MaxPreviews),
			platform.Errorf(platform.EQUOTA, "the organisation has %d previews (max %d)", n, w.opts.MaxPreviews)
	}
	if w.opts.Quotas == nil {
		return "", nil
	}
	err = w.opts.Quotas.CheckQuota(ctx, org, billing.QuotaPreviews, int64(n), 1)
	if platform.ErrorCode(err) == platform.EQUOTA {
		hint := strings.TrimSuffix(platform.ErrorHint(err), ".")
		if hint != "" {
			hint = strings.ToUpper(hint[:1]) + hint[1:] + "."
		}
		msg = strings.TrimSpace("No preview: " + platform.ErrorMessage(err) + ". " + hint)
	}
	return msg, err
}

// createPreviewNamespace creates ns in the link's organisation, in the regions of the
// link's namespace. A namespace of that name left by an earlier preview is reused.
func (w *Worker) createPreviewNamespace(ctx context.Context, link *platform.RepoLink, ns string) error {
	admin := w.actor(ctx, link, ns, platform.RoleAdmin)
	var regions []string
	if all, err := w.opts.Plane.ListNamespaces(admin); err == nil {
		if i := slices.IndexFunc(all, func(n *platform.Namespace) bool { return n.Name == link.Namespace }); i >= 0 {
			regions = all[i].Regions
		}
		if slices.ContainsFunc(all, func(n *platform.Namespace) bool { return n.Name == ns }) {
			return nil
		}
	}
	_, err := w.opts.Plane.CreateNamespace(admin, ns, regions...)
	if platform.ErrorCode(err) == platform.ECONFLICT {
		return platform.Errorf(platform.ECONFLICT, "the preview namespace %s is taken by another organisation or was not made by a preview", ns)
	}
	return err
}

// closePreview deletes the preview namespace with everything in it.
func (w *Worker) closePreview(ctx context.Context, link *platform.RepoLink, ev *pullRequestEvent, ns string) (string, error) {
	if _, err := w.opts.Store.GetPreview(ctx, link.ID, ev.Number); platform.IsNotFound(err) {
		return fmt.Sprintf("no preview to delete for #%d", ev.Number), nil
	} else if err != nil {
		return "", err
	}
	admin := w.actor(ctx, link, ns, platform.RoleAdmin)
	if err := w.opts.Plane.DeleteNamespace(admin, ns); err != nil && !platform.IsNotFound(err) {
		return "", err
	}
	if err := w.opts.Store.DeletePreview(ctx, ns); err != nil && !platform.IsNotFound(err) {
		return "", err
	}
	how := "closed"
	if ev.PR.Merged {
		how = "merged"
	}
	w.comment(ctx, link, ev.Number, ns, fmt.Sprintf("The pull request was %s: preview namespace `%s` and everything in it are deleted.", how, ns))
	return fmt.Sprintf("preview %s deleted", ns), nil
}

// previewBody is the pull request comment of a deployed preview.
func (w *Worker) previewBody(act context.Context, ns, sha string, run *deployRun) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**Preview** of %s in namespace `%s`\n\n", short(sha), ns)
	gw := strings.TrimSuffix(w.opts.PublicURL, "/")
	if gw == "" {
		gw = "http://PLATFORM"
	}
	fmt.Fprintf(&b, "Gateway: `%s/api/{service}/{Type.Method}` with header `Micro-Namespace: %s`\n\n", gw, ns)
	b.WriteString("| service | version | status |\n|---|---|---|\n")
	views, _ := w.opts.Plane.ListServices(act, ns)
	for _, v := range views {
		status := string(v.Status)
		if why, bad := run.failed[v.Name]; bad {
			status = "failed: " + why
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", v.Name, v.Version, strings.ReplaceAll(status, "|", "/"))
	}
	fmt.Fprintf(&b, "\n`curl -H \"Authorization: Bearer $PLATFORM_TOKEN\" -H 'Micro-Namespace: %s' -d '{}' %s/api/SERVICE/Type.Method`\n", ns, gw)
	return b.String()
}

// comment creates or updates the preview's comment; a failure is logged.
func (w *Worker) comment(ctx context.Context, link *platform.RepoLink, pr int, ns, body string) {
	if w.opts.Reporter == nil {
		return
	}
	if err := w.opts.Reporter.Comment(ctx, link.Repo, pr, previewMarker(ns), body); err != nil {
		w.log.Warn("comment on a pull request", "repo", link.Repo, "pr", pr, "err", err)
	}
}

func orgName(org string) string {
	if org == "" {
		return platform.DefaultOrg
	}
	return org
}
