package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) regionsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "regions",
		Aliases: []string{"region"},
		Short:   "List the regions the platform deploys to",
		Long: "regions lists the runtime environments the control plane knows: the local region of\n" +
			"`platform server` and the regions `platform infra apply` registers.",
		Args: args(0, 0, "no arguments"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			list, err := c.ListRegions(cmd.Context())
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(orEmpty(list))
			}
			tw := table(a.stdout)
			fmt.Fprintln(tw, "NAME\tPROVIDER\tLOCATION\tGATEWAY\tUPDATED\tISOLATION")
			for _, r := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Provider, orDash(r.Location), orDash(r.GatewayEndpoint), a.fmtTime(r.UpdatedAt), orDash(r.Isolation))
			}
			return tw.Flush()
		}),
	}
}
