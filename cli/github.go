package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
)

func init() { register((*app).githubCmd) }

// githubCmd is `platform github`: the GitHub teams that grant access to your organisation,
// and the role each grants. Admins list them; owners change them.
func (a *app) githubCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "github",
		Short: "GitHub teams that grant access to your organisation, and their roles",
		Long: "Members of a linked GitHub team sign in with GitHub (platform login --github) and get\n" +
			"the highest role of their linked teams. A member removed from every linked team\n" +
			"loses access at the next sync or webhook.",
		Args: args(0, 0, "a subcommand (links, link, unlink)"),
		RunE: a.run(a.listGitHubLinks),
	}
	links := &cobra.Command{
		Use: "links", Short: "List the linked teams (admins)", Args: args(0, 0, "no arguments"),
		RunE: a.run(a.listGitHubLinks),
	}
	var role string
	link := &cobra.Command{
		Use:     "link GITHUB-ORG/TEAM --role ROLE",
		Short:   "Link a team, or change the role it grants (owners)",
		Example: `  platform github link acme-inc/platform-admins --role admin`,
		Args:    args(1, 1, "GITHUB-ORG/TEAM"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			r, err := flagRole(role)
			if err != nil {
				return err
			}
			org, team, err := parseTeam(args[0])
			if err != nil {
				return err
			}
			return a.changeGitHubLinks(cmd, func(ls []*platform.GitHubLink) []*platform.GitHubLink {
				ls = slices.DeleteFunc(ls, func(l *platform.GitHubLink) bool { return l.GitHubOrg == org && l.Team == team })
				return append(ls, &platform.GitHubLink{GitHubOrg: org, Team: team, Role: r})
			})
		}),
	}
	link.Flags().StringVar(&role, "role", "", "viewer, developer, admin or owner (required)")
	unlink := &cobra.Command{
		Use:     "unlink GITHUB-ORG/TEAM",
		Short:   "Unlink a team (owners); its members keep access only through other teams",
		Example: `  platform github unlink acme-inc/contractors`,
		Args:    args(1, 1, "GITHUB-ORG/TEAM"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			org, team, err := parseTeam(args[0])
			if err != nil {
				return err
			}
			found := false
			err = a.changeGitHubLinks(cmd, func(ls []*platform.GitHubLink) []*platform.GitHubLink {
				n := len(ls)
				ls = slices.DeleteFunc(ls, func(l *platform.GitHubLink) bool { return l.GitHubOrg == org && l.Team == team })
				found = len(ls) < n
				return ls
			})
			if err == nil && !found {
				return platform.Errorf(platform.ENOTFOUND, "team %s/%s is not linked", org, team).WithHint("list the linked teams with `platform github links`")
			}
			return err
		}),
	}
	cmd.AddCommand(links, link, unlink)
	return cmd
}

// parseTeam splits GITHUB-ORG/TEAM.
func parseTeam(s string) (org, team string, err error) {
	org, team, ok := strings.Cut(s, "/")
	if !ok || org == "" || team == "" || strings.Contains(team, "/") {
		return "", "", &usageError{err: fmt.Errorf("team %q: want GITHUB-ORG/TEAM-SLUG, e.g. acme-inc/platform-admins", s)}
	}
	return org, team, nil
}

func (a *app) listGitHubLinks(cmd *cobra.Command, _ []string) error {
	c, err := a.connect(cmd)
	if err != nil {
		return err
	}
	ls, err := c.GitHubLinks(cmd.Context())
	if err != nil {
		return err
	}
	return a.printGitHubLinks(ls)
}

// changeGitHubLinks reads the links, applies change and writes the result back: the API
// replaces the whole set, which it validates.
func (a *app) changeGitHubLinks(cmd *cobra.Command, change func([]*platform.GitHubLink) []*platform.GitHubLink) error {
	c, err := a.connect(cmd)
	if err != nil {
		return err
	}
	ls, err := c.GitHubLinks(cmd.Context())
	if err != nil {
		return err
	}
	next := change(slices.Clone(ls))
	if len(next) == len(ls) && slices.EqualFunc(next, ls, func(x, y *platform.GitHubLink) bool { return *x == *y }) {
		return a.printGitHubLinks(ls)
	}
	ls, err = c.SetGitHubLinks(cmd.Context(), next)
	if err != nil {
		return err
	}
	return a.printGitHubLinks(ls)
}

func (a *app) printGitHubLinks(ls []*platform.GitHubLink) error {
	if a.jsonOutput() {
		if ls == nil {
			ls = []*platform.GitHubLink{}
		}
		return a.printJSON(ls)
	}
	if len(ls) == 0 {
		fmt.Fprintln(a.stdout, "No GitHub team is linked: link one with `platform github link GITHUB-ORG/TEAM --role ROLE`.")
		return nil
	}
	tw := table(a.stdout)
	fmt.Fprintln(tw, "GITHUB TEAM\tROLE")
	for _, l := range ls {
		fmt.Fprintf(tw, "%s/%s\t%s\n", l.GitHubOrg, l.Team, l.Role)
	}
	return tw.Flush()
}
