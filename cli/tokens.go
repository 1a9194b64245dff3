package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
)

// createdToken is the -o json output of tokens create, as the API returns it.
type createdToken struct {
	Token  *platform.Token `json:"token"`
	Secret string          `json:"secret"`
}

func (a *app) tokensCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "tokens",
		Aliases: []string{"token"},
		Short:   "Create, list and revoke API tokens",
		Long: `Create, list and revoke API tokens.

A token acts for you in your organisation, with a role no higher than yours and only in
namespaces you can reach. A token for an agent can also hold go-micro scopes and be
narrowed to some tools (see tokens create). Admins list and revoke every token of the
organisation; others their own.`,
		Args: args(0, 0, "a subcommand (create, list, delete)"),
		RunE: a.run(a.listTokens),
	}
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List tokens",
		Args:    args(0, 0, "no arguments"),
		RunE:    a.run(a.listTokens),
	}
	del := a.revokeCmd("delete ID", []string{"rm", "revoke"}, "Revoke a token at once", "deleted", "Revoked token %s.\n")
	cmd.AddCommand(list, a.createTokenCmd(), del)
	return cmd
}

func (a *app) createTokenCmd() *cobra.Command {
	var (
		name       string
		role       string
		admin      bool
		namespaces []string
		scopes     []string
		tools      []string
		ttl        time.Duration
		expires    string
	)
	cmd := &cobra.Command{
		Use:   "create [NAME]",
		Short: "Create a token; its secret is shown only once",
		Long: `Create a token; its secret is shown only once.

The role defaults to yours and may not be higher (viewer, developer, admin, owner).
Without --namespace the token reaches the namespaces you reach.

--scopes gives the token go-micro scopes: an endpoint that declares scopes
(server.WithEndpointScopes) is called only with a token that holds one of them, or *.
Without --scopes the token holds none, and such endpoints refuse it. --tools narrows the
token to some endpoints (service.Type.Method, or service.* for every endpoint of a
service); without it the token calls every endpoint its role and namespaces allow.`,
		Example: `  platform tokens create --name ci --role developer --namespace acme --expires 30d
  platform tokens create readonly --role viewer --expires 2026-12-31
  platform tokens create agent --role developer --namespace acme --scopes mail:read
  platform tokens create support-bot --namespace acme --scopes '*' --tools 'mail.Mail.Read,billing.*'`,
		Args: args(0, 1, "NAME"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && name != "" && name != args[0]:
				return usageErrorf("give the name once: %q or --name %q", args[0], name)
			case len(args) == 1:
				name = args[0]
			case name == "":
				return usageErrorf("a token needs a name: pass --name NAME")
			}
			if ttl < 0 {
				return usageErrorf("--ttl %s: must not be negative", ttl)
			}
			if role != "" {
				if _, err := platform.ParseRole(role); err != nil {
					return usageErrorf("--role %s: want viewer, developer, admin or owner", role)
				}
			}
			if expires != "" {
				if ttl > 0 {
					return usageErrorf("give --expires or --ttl, not both")
				}
				d, err := parseExpiry(expires, time.Now(), a.loc)
				if err != nil {
					return err
				}
				ttl = d
			}
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			tok, secret, err := c.CreateToken(cmd.Context(), platform.CreateTokenRequest{
				Name: name, Role: platform.Role(role), Admin: admin, Namespaces: namespaces, TTL: ttl,
				Scopes: scopes, Tools: tools,
			})
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(createdToken{Token: tok, Secret: secret})
			}
			fmt.Fprintf(a.stdout, "Created token %s (%s) with access to %s, role %s%s, expiring %s.\n",
				tok.Name, tok.ID, tokenScope(tok), tok.EffectiveRole(), tokenNarrowing(tok), a.fmtExpiry(tok.ExpiresAt))
			fmt.Fprintf(a.stdout, "\n    %s\n\n", secret)
			fmt.Fprintln(a.stderr, "warning: copy the secret now: it is shown only once and cannot be recovered.")
			return nil
		}),
	}
	cmd.Flags().StringVar(&name, "name", "", "name of the token")
	cmd.Flags().StringVar(&role, "role", "", "viewer, developer, admin or owner (default: yours)")
	cmd.Flags().StringSliceVar(&namespaces, "namespace", nil, "namespace the token may use (repeatable; default: yours)")
	cmd.Flags().StringSliceVar(&scopes, "scopes", nil, "go-micro scopes the token holds, * for all (comma-separated or repeatable; default: none)")
	cmd.Flags().StringSliceVar(&tools, "tools", nil, "narrow the token to these tools: service.Type.Method or service.* (comma-separated or repeatable; default: all)")
	cmd.Flags().StringVar(&expires, "expires", "", "lifetime (720h, 30d) or date (2026-12-31, RFC 3339); default: never")
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "lifetime, e.g. 720h (same as --expires with a duration)")
	cmd.Flags().BoolVar(&admin, "admin", false, "every namespace of the organisation (the role stays --role or yours)")
	return cmd
}

// parseExpiry reads --expires: a Go duration ("720h"), a number of days ("30d"), a date
// ("2026-12-31", midnight in loc) or an RFC 3339 time, and returns the lifetime from now.
func parseExpiry(s string, now time.Time, loc *time.Location) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err == nil && days > 0 {
			d = time.Duration(days) * 24 * time.Hour
		}
	} else if v, err := time.ParseDuration(s); err == nil {
		d = v
	} else if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
		d = t.Sub(now)
	} else if t, err := time.Parse(time.RFC3339, s); err == nil {
		d = t.Sub(now)
	} else {
		return 0, usageErrorf("--expires %q: want a duration (720h), days (30d), a date (2026-12-31) or an RFC 3339 time", s)
	}
	if d <= 0 {
		return 0, usageErrorf("--expires %q is not in the future", s)
	}
	return d, nil
}

func (a *app) listTokens(cmd *cobra.Command, _ []string) error {
	c, err := a.connect(cmd)
	if err != nil {
		return err
	}
	list, err := c.ListTokens(cmd.Context())
	if err != nil {
		return err
	}
	if a.jsonOutput() {
		return a.printJSON(orEmpty(list))
	}
	tw := table(a.stdout)
	fmt.Fprintln(tw, "ID\tNAME\tUSER\tROLE\tKIND\tACCESS\tSCOPES\tTOOLS\tCREATED\tEXPIRES")
	for _, t := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, orDash(t.User), t.EffectiveRole(), orDash(string(t.Kind)),
			tokenScope(t), orDash(strings.Join(t.Scopes, ",")), tokenTools(t), a.fmtTime(t.CreatedAt), a.fmtExpiry(t.ExpiresAt))
	}
	return tw.Flush()
}

// tokenScope says which namespaces a token reaches.
func tokenScope(t *platform.Token) string {
	if t.AllNamespaces() {
		return "all namespaces"
	}
	return orDash(strings.Join(t.Namespaces, ","))
}

// tokenTools says which tools a token may call.
func tokenTools(t *platform.Token) string {
	if len(t.Tools) == 0 {
		return "all"
	}
	return strings.Join(t.Tools, ",")
}

// tokenNarrowing is what tokens create adds about a token's scopes and tools, "" for a
// token with neither.
func tokenNarrowing(t *platform.Token) string {
	var s string
	if len(t.Scopes) > 0 {
		s += ", scopes " + strings.Join(t.Scopes, ",")
	}
	if len(t.Tools) > 0 {
		s += ", tools " + strings.Join(t.Tools, ",")
	}
	return s
}

func (a *app) fmtExpiry(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return a.fmtTime(*t)
}

// revokeCmd is a command that revokes the token whose ID is its argument (an API token,
// or a mesh credential): -o json prints {"id", "status": status}, text done with the ID.
func (a *app) revokeCmd(use string, aliases []string, short, status, done string) *cobra.Command {
	return &cobra.Command{
		Use:     use,
		Aliases: aliases,
		Short:   short,
		Args:    args(1, 1, "ID"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			if err := c.DeleteToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]string{"id": args[0], "status": status})
			}
			fmt.Fprintf(a.stdout, done, args[0])
			return nil
		}),
	}
}
