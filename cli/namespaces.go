package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func (a *app) namespacesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "namespaces",
		Aliases: []string{"ns", "namespace"},
		Short:   "Create, list and delete namespaces",
		Args:    args(0, 0, "a subcommand (create, list, delete)"),
		RunE:    a.run(a.listNamespaces),
	}
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the namespaces your token may access",
		Args:    args(0, 0, "no arguments"),
		RunE:    a.run(a.listNamespaces),
	}
	var regions []string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a namespace (admin token)",
		Long: "create makes a namespace. --regions names where its services run unless a deploy\n" +
			"names its own (`platform deploy --regions`); without it they run in the platform's\n" +
			"default region.",
		Example: `  platform namespaces create acme
  platform namespaces create acme --regions lon1,fra1`,
		Args: args(1, 1, "NAME"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			regions, err := parseRegions(regions)
			if err != nil {
				return usageErrorf("%v", err)
			}
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			ns, err := c.CreateNamespace(cmd.Context(), args[0], regions...)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(ns)
			}
			fmt.Fprintf(a.stdout, "Created namespace %s%s.\n", ns.Name, inRegions(ns.Regions))
			return nil
		}),
	}
	create.Flags().StringSliceVar(&regions, "regions", nil, "regions its services run in, comma separated (default: the platform's default region)")
	del := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a namespace, stopping every service in it (admin token)",
		Args:    args(1, 1, "NAME"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			if err := c.DeleteNamespace(cmd.Context(), args[0]); err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]string{"namespace": args[0], "status": "deleted"})
			}
			fmt.Fprintf(a.stdout, "Deleted namespace %s.\n", args[0])
			return nil
		}),
	}
	cmd.AddCommand(list, create, del)
	return cmd
}

func (a *app) listNamespaces(cmd *cobra.Command, _ []string) error {
	c, err := a.connect(cmd)
	if err != nil {
		return err
	}
	list, err := c.ListNamespaces(cmd.Context())
	if err != nil {
		return err
	}
	if a.jsonOutput() {
		return a.printJSON(orEmpty(list))
	}
	if len(list) == 0 {
		fmt.Fprintln(a.stdout, "No namespaces. Create one with `platform namespaces create NAME`.")
		return nil
	}
	tw := table(a.stdout)
	fmt.Fprintln(tw, "NAME\tREGIONS\tCREATED")
	for _, ns := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", ns.Name, orDash(strings.Join(ns.Regions, ",")), a.fmtTime(ns.CreatedAt))
	}
	return tw.Flush()
}
