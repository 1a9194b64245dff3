package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) deleteCmd() *cobra.Command {
	var ns string
	cmd := &cobra.Command{
		Use:   "delete SERVICE",
		Short: "Delete a service: stop its instances and remove it",
		Args:  args(1, 1, "SERVICE"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, ns, err := a.connectNS(cmd, ns)
			if err != nil {
				return err
			}
			if err := c.DeleteService(cmd.Context(), ns, args[0]); err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]string{"namespace": ns, "service": args[0], "status": "deleting"})
			}
			fmt.Fprintf(a.stdout, "Deleting service %s in %s: its instances are being stopped.\n", args[0], ns)
			return nil
		}),
	}
	addNamespaceFlag(cmd, &ns)
	return cmd
}
