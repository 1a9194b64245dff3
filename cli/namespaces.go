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
	var (
		regions []string
		dev     bool
	)
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a namespace (admin token)",
		Long: "create makes a namespace. --regions names where its services run unless a deploy\n" +
			"names its own (`platform deploy --regions`); without it they run in the platform's\n" +
			"default region.\n\n" +
			"--dev makes a dev namespace, the one `platform dev` deploys into: its releases are\n" +
			"built without debug information and replace the running one as soon as they are\n" +
			"registered and healthy, without the 300 ms of MinReady or the drain delay.",
		Example: `  platform namespaces create acme
  platform namespaces create acme --regions lon1,fra1
  platform namespaces create acme-dev --dev`,
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
			create := c.CreateNamespace
			if dev {
				create = c.CreateDevNamespace
			}
			ns, err := create(cmd.Context(), args[0], regions...)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(ns)
			}
			kind := "namespace"
			if ns.Dev {
				kind = "dev namespace"
			}
			fmt.Fprintf(a.stdout, "Created %s %s%s.\n", kind, ns.Name, inRegions(ns.Regions))
			return nil
		}),
	}
	create.Flags().StringSliceVar(&regions, "regions", nil, "regions its services run in, comma separated (default: the platform's default region)")
	create.Flags().BoolVar(&dev, "dev", false, "make it a dev namespace, for `platform dev` (fast rollouts, dev builds)")
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
		name := ns.Name
		if ns.Dev {
			name += " (dev)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, orDash(strings.Join(ns.Regions, ",")), a.fmtTime(ns.CreatedAt))
	}
	return tw.Flush()
}
