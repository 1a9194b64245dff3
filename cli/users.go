package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
)

func init() { register((*app).usersCmd) }

// usersCmd is `platform users`: the members of your organisation and, for owners, local
// accounts and roles.
func (a *app) usersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "users",
		Aliases: []string{"user"},
		Short:   "List members; owners create local users, set roles and disable users",
		Args:    args(0, 0, "a subcommand (list, create, set-role, disable, enable, whoami)"),
		RunE:    a.run(a.listUsers),
	}
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the members of your organisation",
		Args:    args(0, 0, "no arguments"),
		RunE:    a.run(a.listUsers),
	}
	var name, email, role string
	create := &cobra.Command{
		Use:     "create LOGIN --role ROLE",
		Short:   "Create a local user (owners) and print their first token, once",
		Example: `  platform users create alice --role developer --email alice@example.com`,
		Args:    args(1, 1, "LOGIN"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			r, err := flagRole(role)
			if err != nil {
				return err
			}
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			m, secret, err := c.CreateUser(cmd.Context(), platform.CreateUserRequest{Login: args[0], Name: name, Email: email, Role: r})
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(struct {
					User   *platform.Member `json:"user"`
					Secret string           `json:"secret"`
				}{m, secret})
			}
			fmt.Fprintf(a.stdout, "Created user %s with the %s role. Their first token:\n\n    %s\n\n", m.Login, m.Role, secret)
			fmt.Fprintf(a.stderr, "warning: hand the token to %s now: it is shown only once. They log in with `platform login --token TOKEN`.\n", m.Login)
			return nil
		}),
	}
	create.Flags().StringVar(&role, "role", "", "viewer, developer, admin or owner (required)")
	create.Flags().StringVar(&name, "name", "", "full name")
	create.Flags().StringVar(&email, "email", "", "email address")
	var newRole string
	setRole := &cobra.Command{
		Use:     "set-role LOGIN ROLE",
		Short:   "Change a member's role (owners); it applies to their tokens at once",
		Example: `  platform users set-role alice admin`,
		Args:    args(2, 2, "LOGIN and ROLE"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			newRole = args[1]
			r, err := flagRole(newRole)
			if err != nil {
				return err
			}
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			m, err := c.SetUserRole(cmd.Context(), args[0], r)
			if err != nil {
				return err
			}
			return a.printMember(m, fmt.Sprintf("%s now has the %s role.", m.Login, m.Role))
		}),
	}
	disable := a.setDisabledCmd("disable", true, "Disable a user (owners): their tokens and sessions stop working at once")
	enable := a.setDisabledCmd("enable", false, "Enable a disabled user again (owners)")
	whoami := &cobra.Command{
		Use:   "whoami",
		Short: "Show who your token acts as",
		Args:  args(0, 0, "no arguments"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			w, err := c.Whoami(cmd.Context())
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(w)
			}
			who := "token " + w.Token.Name
			if w.User != nil {
				who = w.User.Login
			}
			fmt.Fprintf(a.stdout, "%s, %s of organisation %s, through token %s (%s) with access to %s.\n",
				who, w.Role, w.Org, w.Token.Name, w.Token.ID, tokenScope(w.Token))
			return nil
		}),
	}
	cmd.AddCommand(list, create, setRole, disable, enable, whoami)
	return cmd
}

func (a *app) setDisabledCmd(verb string, disabled bool, short string) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " LOGIN",
		Short: short,
		Args:  args(1, 1, "LOGIN"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			m, err := c.SetUserDisabled(cmd.Context(), args[0], disabled)
			if err != nil {
				return err
			}
			msg := fmt.Sprintf("Enabled %s.", m.Login)
			if disabled {
				msg = fmt.Sprintf("Disabled %s: their tokens and sessions no longer work.", m.Login)
			}
			return a.printMember(m, msg)
		}),
	}
}

// flagRole checks a role given on the command line.
func flagRole(s string) (platform.Role, error) {
	if s == "" {
		return "", usageErrorf("--role is required: viewer, developer, admin or owner")
	}
	r, err := platform.ParseRole(s)
	if err != nil {
		return "", usageErrorf("%s", platform.ErrorMessage(err))
	}
	return r, nil
}

func (a *app) printMember(m *platform.Member, msg string) error {
	if a.jsonOutput() {
		return a.printJSON(m)
	}
	fmt.Fprintln(a.stdout, msg)
	return nil
}

func (a *app) listUsers(cmd *cobra.Command, _ []string) error {
	c, err := a.connect(cmd)
	if err != nil {
		return err
	}
	list, err := c.ListUsers(cmd.Context())
	if err != nil {
		return err
	}
	if a.jsonOutput() {
		return a.printJSON(orEmpty(list))
	}
	tw := table(a.stdout)
	fmt.Fprintln(tw, "LOGIN\tROLE\tFROM\tSOURCE\tSTATE\tNAME\tCREATED")
	for _, m := range list {
		from := string(m.RoleSource)
		if len(m.Teams) > 0 {
			from = "github:" + strings.Join(m.Teams, ",")
		}
		state := "active"
		switch {
		case m.DeletedAt != nil:
			state = "deleted"
		case m.Disabled:
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Login, m.Role, from, m.Source, state, orDash(m.Name), a.fmtTime(m.CreatedAt))
	}
	return tw.Flush()
}
