package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
)

func (a *app) servicesCmd() *cobra.Command {
	var ns string
	cmd := &cobra.Command{
		Use:     "services",
		Aliases: []string{"svc", "service"},
		Short:   "List the services of a namespace",
		Args:    args(0, 0, "no arguments (or the subcommand get NAME)"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			c, ns, err := a.connectNS(cmd, ns)
			if err != nil {
				return err
			}
			list, err := c.ListServices(cmd.Context(), ns)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(orEmpty(list))
			}
			if len(list) == 0 {
				fmt.Fprintf(a.stdout, "No services in %s. Deploy one with `platform deploy DIR -n %s`.\n", ns, ns)
				return nil
			}
			tw := table(a.stdout)
			fmt.Fprintln(tw, "NAME\tVERSION\tSTATUS\tINSTANCES\tSIZE\tREGIONS\tENDPOINTS")
			for _, s := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, orDash(s.Version), s.Status, instanceCount(s), serviceSize(s),
					placement(s), endpointList(s.Endpoints))
			}
			return tw.Flush()
		}),
	}
	addNamespaceFlag(cmd, &ns)

	var getNS string
	get := &cobra.Command{
		Use:   "get NAME",
		Short: "Show one service: its release, regions, instances and endpoints",
		Args:  args(1, 1, "NAME"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, ns, err := a.connectNS(cmd, getNS)
			if err != nil {
				return err
			}
			s, err := c.GetService(cmd.Context(), ns, args[0])
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(s)
			}
			return a.printService(s)
		}),
	}
	addNamespaceFlag(get, &getNS)
	cmd.AddCommand(get)
	return cmd
}

// instanceCount renders running/desired instances, over every region of the service's
// placement (each runs the release's replicas).
func instanceCount(s *platform.ServiceView) string {
	running := 0
	for _, in := range s.Instances {
		if in.State == platform.InstanceRunning {
			running++
		}
	}
	desired := 0
	if s.Release != nil {
		desired = s.Release.Replicas * max(len(s.PerRegion), 1)
	}
	return fmt.Sprintf("%d/%d", running, desired)
}

// serviceSize renders the size of the service's release ("-" without one); a release
// recorded before sizes shows the default size it runs with.
func serviceSize(s *platform.ServiceView) string {
	if s.Release == nil {
		return "-"
	}
	return s.Release.Size.String()
}

// endpointList renders endpoint names, comma separated.
func endpointList(eps []platform.Endpoint) string {
	names := make([]string, len(eps))
	for i, e := range eps {
		names[i] = e.Name
	}
	return orDash(strings.Join(names, ","))
}

// printService writes the details of one service.
func (a *app) printService(s *platform.ServiceView) error {
	tw := table(a.stdout)
	fmt.Fprintf(tw, "Name:\t%s\n", s.Name)
	fmt.Fprintf(tw, "Namespace:\t%s\n", s.Namespace)
	fmt.Fprintf(tw, "Status:\t%s\n", s.Status)
	if s.Reason != "" {
		fmt.Fprintf(tw, "Reason:\t%s\n", s.Reason)
	}
	fmt.Fprintf(tw, "Version:\t%s\n", orDash(s.Version))
	fmt.Fprintf(tw, "Release:\t%s\n", orDash(s.CurrentRelease))
	if s.DesiredRelease != "" && s.DesiredRelease != s.CurrentRelease {
		fmt.Fprintf(tw, "Deploying:\t%s\n", s.DesiredRelease)
	}
	fmt.Fprintf(tw, "Regions:\t%s\n", orDash(strings.Join(s.Regions, ",")))
	fmt.Fprintf(tw, "Instances:\t%s\n", instanceCount(s))
	if s.Release != nil {
		fmt.Fprintf(tw, "Size:\t%s\n", s.Release.Size.Describe())
	}
	fmt.Fprintf(tw, "Endpoints:\t%s\n", endpointList(s.Endpoints))
	fmt.Fprintf(tw, "Created:\t%s\n", a.fmtTime(s.CreatedAt))
	fmt.Fprintf(tw, "Updated:\t%s\n", a.fmtTime(s.UpdatedAt))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(s.PerRegion) > 0 {
		fmt.Fprintln(a.stdout)
		tw = table(a.stdout)
		fmt.Fprintln(tw, "REGION\tSTATUS\tVERSION\tINSTANCES\tREASON")
		for _, r := range s.PerRegion {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Region, r.Status, orDash(r.Version), regionInstances(s, r), orDash(r.Reason))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(s.Instances) == 0 {
		return nil
	}
	fmt.Fprintln(a.stdout)
	return a.printInstances(s.Instances)
}

// printInstances writes a table of instances, with their regions when any has one.
func (a *app) printInstances(list []*platform.Instance) error {
	regions := slices.ContainsFunc(list, func(in *platform.Instance) bool { return in.Region != "" })
	tw := table(a.stdout)
	if regions {
		fmt.Fprint(tw, "REGION\t")
	}
	fmt.Fprintln(tw, "INSTANCE\tVERSION\tSTATE\tRESTARTS\tREGISTERED\tSTARTED\tMESSAGE")
	for _, in := range list {
		if regions {
			fmt.Fprintf(tw, "%s\t", orDash(in.Region))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%t\t%s\t%s\n", in.ID, in.Version, in.State, in.Restarts,
			in.Registered, a.fmtTime(in.StartedAt), orDash(in.Message))
	}
	return tw.Flush()
}
