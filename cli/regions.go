package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
)

func (a *app) regionsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "regions",
		Aliases: []string{"region"},
		Short:   "List, create and delete regions, and issue their agents' tokens",
		Long: "regions lists the runtime environments the control plane knows: the local region of\n" +
			"`platform server`, the regions `platform infra apply` registers and those created\n" +
			"with `platform regions create`, each with whether its agent is connected.\n\n" +
			"A remote region is run by `platform agent`, which dials out to the control plane\n" +
			"with the region's token: create the region, issue its token, start the agent.",
		Example: `  platform regions
  platform regions create fra1 --provider local --location frankfurt
  platform regions token fra1
  platform agent --region fra1 --control https://platform.example.com --token <token>`,
		Args: args(0, 0, "a subcommand (list, create, token, delete)"),
		RunE: a.run(a.listRegions),
	}
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the regions and their health",
		Args:    args(0, 0, "no arguments"),
		RunE:    a.run(a.listRegions),
	}
	del := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Unregister a region (admin token)",
		Args:    args(1, 1, "NAME"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			if err := c.DeleteRegion(cmd.Context(), args[0]); err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]string{"region": args[0], "status": "deleted"})
			}
			fmt.Fprintf(a.stdout, "Deleted region %s.\n", args[0])
			return nil
		}),
	}
	cmd.AddCommand(list, a.createRegionCmd(), a.regionTokenCmd(), del)
	return cmd
}

func (a *app) listRegions(cmd *cobra.Command, _ []string) error {
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
	if len(list) == 0 {
		fmt.Fprintln(a.stdout, "No regions. Create one with `platform regions create NAME`.")
		return nil
	}
	tw := table(a.stdout)
	fmt.Fprintln(tw, "NAME\tPROVIDER\tLOCATION\tHEALTH\tSERVICES\tAGENT\tLAST SEEN\tGATEWAY\tISOLATION")
	for _, r := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Name, r.Provider, orDash(r.Location), orDash(string(r.Health)),
			r.Services, orDash(r.AgentVersion), a.fmtLastSeen(r), orDash(r.GatewayEndpoint), orDash(r.Isolation))
	}
	return tw.Flush()
}

// fmtLastSeen says when a region's agent was last connected: "now" while it is.
func (a *app) fmtLastSeen(r *platform.Region) string {
	switch {
	case r.Health == platform.RegionConnected:
		return "now"
	case r.LastSeen == nil:
		return "never"
	}
	return a.fmtTime(*r.LastSeen)
}

func (a *app) createRegionCmd() *cobra.Command {
	var provider, location, gateway string
	cmd := &cobra.Command{
		Use:     "create NAME",
		Aliases: []string{"register"},
		Short:   "Register a region, or update one (admin token)",
		Long: "create registers a region with the control plane, without `platform infra apply`: for a\n" +
			"machine you run `platform agent` on yourself. Registering a region that exists updates\n" +
			"its provider, location and gateway. Then issue its agent a token with\n" +
			"`platform regions token NAME`.",
		Example: `  platform regions create fra1 --provider local --location frankfurt --gateway https://fra1.example.com`,
		Args:    args(1, 1, "NAME"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			r := &platform.Region{Name: args[0], Provider: provider, Location: location, GatewayEndpoint: gateway}
			if err := r.Validate(); err != nil {
				return &usageError{err: err}
			}
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			r, err = c.RegisterRegion(cmd.Context(), r)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(r)
			}
			fmt.Fprintf(a.stdout, "Registered region %s (%s).\n", r.Name, r.Provider)
			fmt.Fprintf(a.stdout, "Issue its agent a token with `platform regions token %s`.\n", r.Name)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&provider, "provider", "local", "where the region runs: local, digitalocean, aws, azure or gcp")
	f.StringVar(&location, "location", "", "the provider's location of the region, e.g. lon1 or eu-west-1")
	f.StringVar(&gateway, "gateway", "", "public URL of the region's gateway, e.g. https://fra1.example.com")
	return cmd
}

// regionToken is the -o json output of regions token.
type regionToken struct {
	Region  string `json:"region"`
	Token   string `json:"token"`
	Command string `json:"command"`
}

func (a *app) regionTokenCmd() *cobra.Command {
	var control string
	cmd := &cobra.Command{
		Use:   "token NAME",
		Short: "Issue a new token for a region's agent; it is shown only once (admin token)",
		Long: "token issues the token `platform agent` presents for region NAME, and prints the command\n" +
			"that starts the agent. The region's previous token stops working at once, and an agent\n" +
			"connected with it is disconnected.\n\n" +
			"The command names the control plane as this CLI reaches it; pass --control with the\n" +
			"URL the agent's machine reaches it at when that differs.",
		Example: `  platform regions token fra1
  platform regions token fra1 --control https://platform.example.com`,
		Args: args(1, 1, "NAME"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			s, err := a.resolve(cmd, "")
			if err != nil {
				return err
			}
			if control == "" {
				control = s.Server
			}
			secret, err := a.newClient(s).IssueRegionToken(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			command := fmt.Sprintf("platform agent --region %s --control %s --token %s", args[0], control, secret)
			if a.jsonOutput() {
				return a.printJSON(regionToken{Region: args[0], Token: secret, Command: command})
			}
			fmt.Fprintf(a.stdout, "Issued a new token for region %s; its previous token no longer works.\n", args[0])
			fmt.Fprintf(a.stdout, "\n    %s\n\n", secret)
			fmt.Fprintf(a.stdout, "Start the region's agent on its machine with:\n\n    %s\n\n", command)
			fmt.Fprintln(a.stdout, "(or set PLATFORM_REGION_TOKEN instead of --token, to keep the token out of the process list)")
			fmt.Fprintln(a.stderr, "warning: copy the token now: it is shown only once and cannot be recovered.")
			return nil
		}),
	}
	cmd.Flags().StringVar(&control, "control", "", "the control plane's URL as the agent reaches it (default: this CLI's server)")
	return cmd
}

// parseRegions checks the region names of a --regions flag, reporting every problem at
// once; none is nil (the default placement).
func parseRegions(list []string) ([]string, error) {
	var (
		out  []string
		errs []error
	)
	for _, r := range list {
		r = strings.TrimSpace(r)
		if err := platform.ValidateName("region", r); err != nil {
			errs = append(errs, fmt.Errorf("--regions: %s", platform.ErrorMessage(err)))
			continue
		}
		if slices.Contains(out, r) {
			errs = append(errs, fmt.Errorf("--regions: %s is named twice", r))
			continue
		}
		out = append(out, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// placement renders a service's regions: each with its status and running/desired
// instances ("lon1:running 2/2, fra1:degraded 0/2"), or its placement alone when the
// server reports no per-region view.
func placement(s *platform.ServiceView) string {
	if len(s.PerRegion) == 0 {
		return orDash(strings.Join(s.Regions, ","))
	}
	parts := make([]string, len(s.PerRegion))
	for i, r := range s.PerRegion {
		parts[i] = fmt.Sprintf("%s:%s %s", r.Region, r.Status, regionInstances(s, r))
	}
	return strings.Join(parts, ", ")
}

// regionInstances renders the running/desired instances of a service in one region:
// each region of its placement runs the release's replicas.
func regionInstances(s *platform.ServiceView, r platform.ServiceRegion) string {
	desired := r.Instances
	if s.Release != nil {
		desired = max(s.Release.Replicas, 1)
	}
	return fmt.Sprintf("%d/%d", r.Running, desired)
}
