package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
)

func init() {
	register((*app).releasesCmd)
	register((*app).rollbackCmd)
}

func (a *app) releasesCmd() *cobra.Command {
	var ns string
	cmd := &cobra.Command{
		Use:   "releases SERVICE",
		Short: "List the releases of a service, newest first, with what made each",
		Long: "releases lists every release of a service: its status, what made it (a deploy, a\n" +
			"push to a linked repository, a pull request's preview, a rollback), the commit it was\n" +
			"built from and the digest of its artifact. `platform rollback` goes back to one.",
		Example: `  platform releases hello -n acme
  platform rollback hello v3 -n acme`,
		Args: args(1, 1, "SERVICE"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, ns, err := a.connectNS(cmd, ns)
			if err != nil {
				return err
			}
			list, err := c.ListReleases(cmd.Context(), ns, args[0])
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(orEmpty(list))
			}
			if len(list) == 0 {
				fmt.Fprintf(a.stdout, "No releases of %s in %s. Deploy it with `platform deploy DIR -n %s`.\n", args[0], ns, ns)
				return nil
			}
			tw := table(a.stdout)
			fmt.Fprintln(tw, "VERSION\tSTATUS\tORIGIN\tCOMMIT\tAUTHOR\tCREATED\tDIGEST")
			for _, r := range list {
				var commit, author string
				if o := r.Origin; o != nil {
					commit, author = shortCommit(o.Commit), o.Author
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Version, releaseStatus(r), describeOrigin(r.Origin), orDash(commit),
					orDash(author), a.fmtTime(r.CreatedAt), orDash(shortArtifactDigest(r.Digest)))
			}
			return tw.Flush()
		}),
	}
	addNamespaceFlag(cmd, &ns)
	return cmd
}

// releaseStatus is a release's status, with its share of the calls for a canary.
func releaseStatus(r *platform.Release) string {
	if r.Status == platform.ReleaseCanary && r.Canary > 0 {
		return fmt.Sprintf("%s %d%%", r.Status, r.Canary)
	}
	return string(r.Status)
}

// describeOrigin says in a few words what made a release: "push", "rollback of v3",
// "deploy by alice", "pull_request #42"; "-" for a release recorded before origins.
func describeOrigin(o *platform.ReleaseOrigin) string {
	switch {
	case o == nil || o.Kind == "":
		return "-"
	case o.Kind == platform.OriginRollback && o.RollbackOf != "":
		return "rollback of " + o.RollbackOf
	case o.Kind == platform.OriginPullRequest && o.PR > 0:
		return fmt.Sprintf("%s #%d", o.Kind, o.PR)
	case o.Kind == platform.OriginDeploy && o.User != "":
		return "deploy by " + o.User
	}
	return string(o.Kind)
}

// shortCommit is the 7 characters of a commit people recognise, as git shows them.
func shortCommit(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// shortArtifactDigest renders "sha256:HEX" with the first 12 hex digits, enough to tell
// two artifacts apart (the full digest is in -o json).
func shortArtifactDigest(d string) string {
	algo, hex, ok := strings.Cut(d, ":")
	if !ok {
		return shortDigest(d)
	}
	return algo + ":" + shortDigest(hex)
}

func (a *app) rollbackCmd() *cobra.Command {
	var (
		ns     string
		noWait bool
	)
	cmd := &cobra.Command{
		Use:   "rollback SERVICE [VERSION]",
		Short: "Deploy an earlier release of a service again, without building",
		Long: "rollback makes a new release of a service (the next version) from an earlier release's\n" +
			"artifact, replicas, size and environment: nothing is built again. Without VERSION it goes\n" +
			"back to the release that was live before the current one. Like deploy, it follows the\n" +
			"rollout until the release is live or has failed, unless --no-wait; the current release\n" +
			"keeps serving until the new one is healthy. `platform releases SERVICE` lists the versions.",
		Example: `  platform rollback hello -n acme
  platform rollback hello v3 -n acme --no-wait`,
		Args: args(1, 2, "SERVICE and optionally the VERSION to go back to"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			version := ""
			if len(args) == 2 {
				version = args[1]
			}
			return a.rollback(cmd, ns, args[0], version, noWait)
		}),
	}
	addNamespaceFlag(cmd, &ns)
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the release is recorded, without following its rollout")
	return cmd
}

func (a *app) rollback(cmd *cobra.Command, nsFlag, service, version string, noWait bool) error {
	c, ns, err := a.connectNS(cmd, nsFlag)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	// As for deploy: follow from the newest event before the rollback, so that none of
	// the new release's is missed.
	var afterID int64
	if !noWait {
		latest, err := c.Events(ctx, platform.EventFilter{Namespace: ns, Limit: 1})
		if err != nil {
			return err
		}
		for _, e := range latest {
			afterID = e.ID
		}
	}
	rel, err := c.Rollback(ctx, ns, service, version)
	if err != nil {
		return err
	}
	target := version
	if rel.Origin != nil && rel.Origin.RollbackOf != "" {
		target = rel.Origin.RollbackOf
	}
	switch {
	case noWait && a.jsonOutput():
		return a.printJSON(rel)
	case a.jsonOutput():
		if err := a.printJSONLine(deployItem{Kind: "release", Release: rel}); err != nil {
			return err
		}
	default:
		fmt.Fprintf(a.stdout, "Rolling back %s to %s as %s (no build).\n", rel.Service, orDash(target), rel.Version)
	}
	if noWait {
		fmt.Fprintf(a.stdout, "Follow it with `platform events -n %s --service %s -f`.\n", ns, rel.Service)
		return nil
	}
	return a.followDeploy(ctx, c, rel, afterID)
}
