package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
)

func init() { register((*app).auditCmd) }

// auditCmd is `platform audit`: the organisation's audit log, newest first (admins).
func (a *app) auditCmd() *cobra.Command {
	var (
		actor, action, since string
		limit                int
		before               int64
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show your organisation's audit log, newest first (admins)",
		Long: `Show your organisation's audit log, newest first (admins).

Every change is there (sign-ins, tokens created and revoked, role changes, deploys,
deletes, namespaces, settings) and every refused attempt, with who, from where and when.`,
		Example: `  platform audit --actor alice --since 24h
  platform audit --action token. --limit 20
  platform audit --before 1234        # the next page`,
		Args: args(0, 0, "no arguments"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > 1000 {
				return usageErrorf("--limit %d: want 1 to 1000", limit)
			}
			f := platform.AuditFilter{Actor: actor, Action: action, BeforeID: before, Limit: limit}
			if since != "" {
				t, err := parseSince(since, time.Now(), a.loc)
				if err != nil {
					return err
				}
				f.Since = t
			}
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			page, err := c.ListAudit(cmd.Context(), f)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(page)
			}
			if len(page.Entries) == 0 {
				fmt.Fprintln(a.stdout, "No audit entries.")
				return nil
			}
			tw := table(a.stdout)
			fmt.Fprintln(tw, "ID\tTIME\tACTOR\tACTION\tTARGET\tOUTCOME\tSOURCE\tDETAIL")
			for _, e := range page.Entries {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, a.fmtTime(e.Time), orDash(e.Actor), e.Action,
					orDash(e.Target), e.Outcome, orDash(e.Source), orDash(e.Detail))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if page.NextBefore > 0 {
				fmt.Fprintf(a.stderr, "more: platform audit --before %d\n", page.NextBefore)
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&actor, "actor", "", "only entries by this login")
	cmd.Flags().StringVar(&action, "action", "", "only this action, or a prefix ending in '.' (token.)")
	cmd.Flags().StringVar(&since, "since", "", "only entries since a duration ago (24h, 7d) or a date/RFC 3339 time")
	cmd.Flags().Int64Var(&before, "before", 0, "only entries older than this id (the next page)")
	cmd.Flags().IntVar(&limit, "limit", 50, "entries per page (1 to 1000)")
	return cmd
}

// parseSince reads --since: a duration back from now ("24h", "7d"), a date or an RFC
// 3339 time.
func parseSince(s string, now time.Time, loc *time.Location) (time.Time, error) {
	if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := parseExpiry(s, now, loc)
	if err != nil {
		return time.Time{}, usageErrorf("--since %q: want a duration (24h, 7d), a date (2026-01-31) or an RFC 3339 time", s)
	}
	return now.Add(-d), nil
}
