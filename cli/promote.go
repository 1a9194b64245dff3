package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func init() { register((*app).promoteCmd) }

func (a *app) promoteCmd() *cobra.Command {
	var ns string
	cmd := &cobra.Command{
		Use:   "promote SERVICE",
		Short: "Make a service's canary its live release",
		Long: "promote makes the canary of a service (deployed with `platform deploy --canary PERCENT`)\n" +
			"its live release: the canary's running instances take every call, and the previous\n" +
			"release is drained, so no call fails, then stopped.",
		Example: `  platform deploy ./helloworld -n acme --canary 10%
  platform promote helloworld -n acme`,
		Args: args(1, 1, "SERVICE"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, ns, err := a.connectNS(cmd, ns)
			if err != nil {
				return err
			}
			rel, err := c.Promote(cmd.Context(), ns, args[0])
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(rel)
			}
			fmt.Fprintf(a.stdout, "Promoted %s %s in %s: it takes every call; the previous release is drained and stopped.\n", rel.Service, rel.Version, ns)
			return nil
		}),
	}
	addNamespaceFlag(cmd, &ns)
	return cmd
}
