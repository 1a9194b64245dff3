package cli

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
	"github.com/micro/platform/client"
)

func init() { register((*app).alertsCmd) }

// alertsCmd is `platform alerts`: the organisation's alerts, and its rules, channels,
// silences and notification history (docs/alerting.md).
func (a *app) alertsCmd() *cobra.Command {
	var (
		ns, state string
		limit     int
	)
	list := func(cmd *cobra.Command, _ []string) error { return a.listAlerts(cmd, ns, state, limit) }
	cmd := &cobra.Command{
		Use:     "alerts",
		Aliases: []string{"alert"},
		Short:   "Alerts firing or pending; their rules, channels, silences and history",
		Long: "alerts lists the alerts of your organisation that are firing or pending (--state to see\n" +
			"resolved ones too), newest first: one per namespace, rule and service.\n\n" +
			"Built-in rules watch every namespace for failed builds and releases, crash loops,\n" +
			"services down and regions lost; metric rules (`platform alerts rules create`) watch\n" +
			"error rate, latency, request rate, CPU and memory. Each alert notifies the channels\n" +
			"that route it (`platform alerts channels`) when it fires, again while it fires, and\n" +
			"when it resolves, unless a silence matches it. Members read alerts, rules, silences\n" +
			"and history; admins manage rules, channels and silences. See docs/alerting.md.",
		Example: `  platform alerts
  platform alerts -n acme --state all
  platform alerts rules create --when 'error_rate > 5%' --window 5m --for 2m -n acme --severity critical
  platform alerts channels create ops --kind slack --secret-stdin < slack-webhook-url
  platform alerts test ops
  platform alerts silence -n acme --service api --for 2h --comment "deploying a fix"
  platform alerts history --status failed`,
		Args: args(0, 0, "no arguments (or a subcommand: list, rules, channels, test, silence, silences, unsilence, history)"),
		RunE: a.run(list),
	}
	flags := func(c *cobra.Command) {
		c.Flags().StringVarP(&ns, "namespace", "n", "", "only the alerts of this namespace (default: every namespace you reach)")
		c.Flags().StringVar(&state, "state", "", "pending, firing, resolved or all (default: pending and firing)")
		c.Flags().IntVar(&limit, "limit", 0, "at most this many alerts (1 to 1000; default: all)")
	}
	flags(cmd)
	ls := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List alerts (the same as `platform alerts`)",
		Args:    args(0, 0, "no arguments"),
		RunE:    a.run(list),
	}
	flags(ls)
	cmd.AddCommand(ls, a.alertRulesCmd(), a.alertChannelsCmd(), a.testChannelCmd(), a.silenceCmd(), a.silencesCmd(),
		a.unsilenceCmd(), a.alertHistoryCmd())
	return cmd
}

// alertView is an alert as -o json prints it: as the API answers it, with its repeat
// interval as a duration string.
type alertView struct {
	platform.Alert
	RepeatInterval string `json:"repeat_interval,omitempty"`
}

func (a *app) listAlerts(cmd *cobra.Command, ns, state string, limit int) error {
	// Only -n narrows the list: a default namespace from the environment or the config
	// file would hide the alerts of the others.
	f := platform.AlertFilter{Namespace: ns, Limit: limit}
	active := false
	switch state {
	case "":
		active = true
		f.Limit = 0 // the limit applies once resolved alerts are left out
	case "all":
	case string(platform.AlertPending), string(platform.AlertFiring), string(platform.AlertResolved):
		f.State = platform.AlertState(state)
	default:
		return usageErrorf("--state %q: use pending, firing, resolved or all (default: pending and firing)", state)
	}
	if limit < 0 || limit > 1000 {
		return usageErrorf("--limit %d: use 1 to 1000", limit)
	}
	c, err := a.connect(cmd)
	if err != nil {
		return err
	}
	list, err := c.ListAlerts(cmd.Context(), f)
	if err != nil {
		return err
	}
	if active {
		list = slices.DeleteFunc(list, func(al *platform.Alert) bool { return al.State == platform.AlertResolved })
		if limit > 0 && len(list) > limit {
			list = list[:limit]
		}
	}
	if a.jsonOutput() {
		out := make([]alertView, 0, len(list))
		for _, al := range list {
			out = append(out, alertView{Alert: *al, RepeatInterval: platform.ShortDuration(al.RepeatInterval)})
		}
		return a.printJSON(out)
	}
	if len(list) == 0 {
		what := "No alerts"
		if active {
			what = "No alerts firing or pending"
		} else if f.State != "" {
			what = "No " + string(f.State) + " alerts"
		}
		if ns != "" {
			what += " in " + ns
		}
		fmt.Fprintln(a.stdout, what+".")
		return nil
	}
	now := time.Now()
	tw := table(a.stdout)
	fmt.Fprintln(tw, "STATE\tSEVERITY\tWHERE\tRULE\tSUMMARY\tSINCE")
	for _, al := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", al.State, al.Severity, scope(al.Namespace, al.Service, "-"), orDash(al.Rule),
			oneLine(al.Summary), age(now.Sub(al.Since))+" ago")
	}
	return tw.Flush()
}

// scope renders a namespace and service: "acme/api", "acme", "*/api", or all when both
// are empty.
func scope(ns, svc, all string) string {
	switch {
	case ns == "" && svc == "":
		return all
	case svc == "":
		return ns
	case ns == "":
		return "*/" + svc
	}
	return ns + "/" + svc
}

// oneLine keeps a table cell on one line and of a readable length.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 80 {
		s = string(r[:79]) + "…"
	}
	return orDash(s)
}

func (a *app) testChannelCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "test CHANNEL",
		Short: "Send a test notification to a channel (admins) and say how it went",
		Long: "test sends a test notification to the channel (by name or ID) through the outbox, like\n" +
			"any other notification, and waits up to about 20 seconds for its first attempt: it\n" +
			"was sent, it failed (with the provider's error; it is retried), or it is still\n" +
			"pending. The exit status is 0 only when it was sent.",
		Example: `  platform alerts test ops`,
		Args:    args(1, 1, "CHANNEL (a name or ID)"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			n, err := c.TestAlertChannel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				if err := a.printJSON(n); err != nil {
					return err
				}
			} else if n.Status == platform.NotificationSent {
				fmt.Fprintf(a.stdout, "Sent a test notification to %s (%s).\n", args[0], n.ID)
			}
			history := fmt.Sprintf("`platform alerts history --channel %s` shows how it goes", args[0])
			switch n.Status {
			case platform.NotificationSent:
				return nil
			case platform.NotificationFailed:
				return platform.Errorf(platform.EUNAVAILABLE, "the test notification to %s failed (attempt %d): %s", args[0], n.Attempts, orDash(n.LastError)).
					WithHint("it is retried from %s; %s", a.fmtTime(n.NextAttemptAt), history)
			case platform.NotificationDead:
				return platform.Errorf(platform.EUNAVAILABLE, "the test notification to %s failed for good after %d attempt(s): %s", args[0], n.Attempts, orDash(n.LastError)).
					WithHint("fix the channel's settings: delete it and create it again")
			}
			return platform.Errorf(platform.ETIMEOUT, "the test notification to %s (%s) is still %s: the platform has not tried to send it yet", args[0], n.ID, n.Status).
				WithHint("the alert dispatcher may be busy or stopped; %s", history)
		}),
	}
}

func (a *app) silenceCmd() *cobra.Command {
	var (
		req   platform.SilenceRequest
		until string
	)
	cmd := &cobra.Command{
		Use:   "silence (--for DURATION | --until TIME)",
		Short: "Mute the notifications of matching alerts for a while (admins)",
		Long: "silence mutes the notifications of the alerts it matches until it ends: they still fire\n" +
			"and resolve, and their notifications are recorded as silenced instead of sent.\n" +
			"--namespace, --service and --rule (a rule's name or ID, or a kind such as crash_loop)\n" +
			"narrow it; without them it matches every alert of the organisation. It ends after\n" +
			"--for or at --until (at most 90 days ahead), or with `platform alerts unsilence ID`.",
		Example: `  platform alerts silence -n acme --service api --for 2h --comment "deploying a fix"
  platform alerts silence --rule region_lost --until 2026-03-05T09:00:00+01:00`,
		Args: args(0, 0, "no arguments"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			switch {
			case req.For == 0 && until == "":
				return usageErrorf("a silence needs an end: pass --for DURATION (2h) or --until TIME (RFC 3339)")
			case req.For != 0 && until != "":
				return usageErrorf("give --for or --until, not both")
			case req.For < 0:
				return usageErrorf("--for %s: must be positive", req.For)
			case until != "":
				t, err := time.Parse(time.RFC3339, until)
				if err != nil {
					return usageErrorf("--until %q: want an RFC 3339 time such as 2026-03-05T09:00:00Z", until)
				}
				req.Until = t
			}
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			s, err := c.CreateSilence(cmd.Context(), req)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(s)
			}
			fmt.Fprintf(a.stdout, "Silenced %s until %s (%s).\n", silenceMatches(s, "every alert of the organisation"), a.fmtTime(s.Until), s.ID)
			return nil
		}),
	}
	cmd.Flags().StringVarP(&req.Namespace, "namespace", "n", "", "only alerts of this namespace (default: every namespace)")
	cmd.Flags().StringVar(&req.Service, "service", "", "only alerts of this service")
	cmd.Flags().StringVar(&req.Rule, "rule", "", "only alerts of this rule: its name or ID, or a kind (crash_loop)")
	cmd.Flags().DurationVar(&req.For, "for", 0, "how long, e.g. 2h")
	cmd.Flags().StringVar(&until, "until", "", "when it ends, RFC 3339 (2026-03-05T09:00:00Z)")
	cmd.Flags().StringVar(&req.Comment, "comment", "", "why, for the others")
	return cmd
}

// silenceMatches says what a silence matches: "namespace acme, service api", or all.
func silenceMatches(s *platform.Silence, all string) string {
	var parts []string
	for _, f := range []struct{ name, v string }{{"namespace", s.Namespace}, {"service", s.Service}, {"rule", s.Rule}} {
		if f.v != "" {
			parts = append(parts, f.name+" "+f.v)
		}
	}
	if len(parts) == 0 {
		return all
	}
	return "alerts of " + strings.Join(parts, ", ")
}

func (a *app) silencesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "silences",
		Short: "List the silences in force",
		Args:  args(0, 0, "no arguments"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			list, err := c.ListSilences(cmd.Context())
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(orEmpty(list))
			}
			if len(list) == 0 {
				fmt.Fprintln(a.stdout, "No silences in force.")
				return nil
			}
			tw := table(a.stdout)
			fmt.Fprintln(tw, "ID\tMATCHES\tUNTIL\tBY\tCOMMENT")
			for _, s := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, strings.TrimPrefix(silenceMatches(s, "every alert"), "alerts of "),
					a.fmtTime(s.Until), orDash(s.CreatedBy), oneLine(s.Comment))
			}
			return tw.Flush()
		}),
	}
}

func (a *app) unsilenceCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "unsilence ID",
		Short:   "End a silence now (admins)",
		Example: `  platform alerts unsilence si-0a1b2c3d4e5f6a7b`,
		Args:    args(1, 1, "ID (from `platform alerts silences`)"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			if err := c.DeleteSilence(cmd.Context(), args[0]); err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]string{"id": args[0], "status": "ended"})
			}
			fmt.Fprintf(a.stdout, "Ended silence %s.\n", args[0])
			return nil
		}),
	}
}

// channelID matches a channel's ID, as the control plane makes them.
var channelID = regexp.MustCompile(`^ch-[0-9a-f]{16}$`)

func (a *app) alertHistoryCmd() *cobra.Command {
	var (
		f              platform.NotificationFilter
		channel, state string
	)
	cmd := &cobra.Command{
		Use:   "history",
		Short: "The notifications sent, failed, dead, pending or silenced, newest first",
		Long: "history lists the notifications of your organisation's alerts and channel tests, newest\n" +
			"first: sent, pending (being sent), failed (to be retried, with the provider's error),\n" +
			"dead (given up) or silenced. A token narrowed to namespaces sees their notifications.",
		Example: `  platform alerts history
  platform alerts history --channel ops --status failed --limit 20`,
		Args: args(0, 0, "no arguments"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			if state != "" && !slices.Contains([]string{"pending", "sent", "failed", "dead", "silenced"}, state) {
				return usageErrorf("--status %q: use pending, sent, failed, dead or silenced", state)
			}
			if f.Limit < 0 || f.Limit > 1000 {
				return usageErrorf("--limit %d: use 1 to 1000 (default 100)", f.Limit)
			}
			f.Status = platform.NotificationStatus(state)
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			// Channel names, for --channel NAME and the CHANNEL column, when the caller
			// may list channels (admins; others would only add refusals to the audit log).
			names := map[string]string{}
			var chs []*platform.AlertChannel
			manage, err := a.mayManageAlerts(cmd, c)
			if err != nil {
				return err
			}
			if manage {
				if chs, err = c.ListAlertChannels(cmd.Context()); err != nil {
					return err
				}
				for _, ch := range chs {
					names[ch.ID] = ch.Name
				}
			}
			f.ChannelID = channel
			if channel != "" && !channelID.MatchString(channel) {
				if f.ChannelID, err = channelByName(chs, channel); err != nil {
					return err
				}
			}
			list, err := c.AlertHistory(cmd.Context(), f)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(orEmpty(list))
			}
			if len(list) == 0 {
				fmt.Fprintln(a.stdout, "No notifications.")
				return nil
			}
			tw := table(a.stdout)
			fmt.Fprintln(tw, "TIME\tSTATUS\tKIND\tCHANNEL\tSEVERITY\tWHERE\tSUMMARY\tATTEMPTS\tERROR")
			for _, n := range list {
				at := n.CreatedAt
				if n.SentAt != nil {
					at = *n.SentAt
				}
				ch := names[n.ChannelID]
				if ch == "" {
					ch = n.ChannelID
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", a.fmtTime(at), n.Status, n.Kind, ch, orDash(string(n.Severity)),
					scope(n.Namespace, n.Service, "-"), oneLine(n.Summary), n.Attempts, oneLine(n.LastError))
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().StringVar(&f.AlertID, "alert", "", "only the notifications of this alert ID")
	cmd.Flags().StringVar(&channel, "channel", "", "only the notifications to this channel (ID, or name for admins)")
	cmd.Flags().StringVar(&state, "status", "", "pending, sent, failed, dead or silenced")
	cmd.Flags().IntVar(&f.Limit, "limit", 0, "at most this many (1 to 1000; default 100)")
	return cmd
}

// channelByName returns the ID of the channel named name among chs, nil when the caller
// may not list channels.
func channelByName(chs []*platform.AlertChannel, name string) (string, error) {
	if chs == nil {
		return "", usageErrorf("--channel %s: only admins look channels up by name; pass the channel's ID (channel_id in `platform alerts history -o json`)", name)
	}
	for _, ch := range chs {
		if ch.Name == name {
			return ch.ID, nil
		}
	}
	return "", platform.Errorf(platform.ENOTFOUND, "alert channel %q not found", name).
		WithHint("`platform alerts channels` lists them")
}

// mayManageAlerts reports whether the caller's token may manage alerting (an admin's for
// every namespace), so that it may list channels.
func (a *app) mayManageAlerts(cmd *cobra.Command, c *client.Client) (bool, error) {
	w, err := c.Whoami(cmd.Context())
	if err != nil {
		return false, err
	}
	return w.Token != nil && w.Role.AtLeast(platform.RoleAdmin) && w.Token.AllNamespaces(), nil
}
