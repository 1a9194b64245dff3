package cli

import (
	"fmt"

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
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a namespace (admin token)",
		Args:  args(1, 1, "NAME"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			ns, err := c.CreateNamespace(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(ns)
			}
			fmt.Fprintf(a.stdout, "Created namespace %s.\n", ns.Name)
			return nil
		}),
	}
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
	fmt.Fprintln(tw, "NAME\tCREATED")
	for _, ns := range list {
		fmt.Fprintf(tw, "%s\t%s\n", ns.Name, a.fmtTime(ns.CreatedAt))
	}
	return tw.Flush()
}
