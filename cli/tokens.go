package cli

import (
	"fmt"
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
		Short:   "Create, list and revoke API tokens (admin token)",
		Args:    args(0, 0, "a subcommand (create, list, delete)"),
		RunE:    a.run(a.listTokens),
	}
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List tokens",
		Args:    args(0, 0, "no arguments"),
		RunE:    a.run(a.listTokens),
	}
	del := &cobra.Command{
		Use:     "delete ID",
		Aliases: []string{"rm", "revoke"},
		Short:   "Revoke a token",
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
				return a.printJSON(map[string]string{"id": args[0], "status": "deleted"})
			}
			fmt.Fprintf(a.stdout, "Revoked token %s.\n", args[0])
			return nil
		}),
	}
	cmd.AddCommand(list, a.createTokenCmd(), del)
	return cmd
}

func (a *app) createTokenCmd() *cobra.Command {
	var (
		admin      bool
		namespaces []string
		ttl        time.Duration
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a token; its secret is shown only once",
		Example: `  platform tokens create ci --namespace acme --ttl 720h
  platform tokens create ops --admin`,
		Args: args(1, 1, "NAME"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			if ttl < 0 {
				return usageErrorf("--ttl %s: must not be negative", ttl)
			}
			if !admin && len(namespaces) == 0 {
				return usageErrorf("token %q would have no access: pass --namespace NS (repeatable) or --admin", args[0])
			}
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			tok, secret, err := c.CreateToken(cmd.Context(), platform.CreateTokenRequest{
				Name: args[0], Admin: admin, Namespaces: namespaces, TTL: ttl,
			})
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(createdToken{Token: tok, Secret: secret})
			}
			fmt.Fprintf(a.stdout, "Created token %s (%s) with access to %s, expiring %s.\n",
				tok.Name, tok.ID, tokenScope(tok), a.fmtExpiry(tok.ExpiresAt))
			fmt.Fprintf(a.stdout, "\n    %s\n\n", secret)
			fmt.Fprintln(a.stderr, "warning: copy the secret now: it is shown only once and cannot be recovered.")
			return nil
		}),
	}
	cmd.Flags().BoolVar(&admin, "admin", false, "may do everything, in every namespace")
	cmd.Flags().StringSliceVar(&namespaces, "namespace", nil, "namespace the token may use (repeatable)")
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "lifetime, e.g. 720h (default: no expiry)")
	return cmd
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
	fmt.Fprintln(tw, "ID\tNAME\tACCESS\tCREATED\tEXPIRES")
	for _, t := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, tokenScope(t), a.fmtTime(t.CreatedAt), a.fmtExpiry(t.ExpiresAt))
	}
	return tw.Flush()
}

// tokenScope says what a token may access.
func tokenScope(t *platform.Token) string {
	if t.Admin {
		return "admin"
	}
	return orDash(strings.Join(t.Namespaces, ","))
}

func (a *app) fmtExpiry(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return a.fmtTime(*t)
}
