package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
)

func (a *app) logsCmd() *cobra.Command {
	var (
		ns, region string
		follow     bool
		tail       int
	)
	cmd := &cobra.Command{
		Use:   "logs SERVICE",
		Short: "Print the output of a service's instances",
		Long: "logs prints the most recent lines of every instance of a service, each prefixed with\n" +
			"the instance and the stream it came from, and the region when the service runs in\n" +
			"more than one; with -f it keeps printing new lines. --region prints only the lines\n" +
			"of that region's instances.",
		Example: `  platform logs hello -n acme
  platform logs hello -n acme --region fra1 -f`,
		Args: args(1, 1, "SERVICE"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			if tail < -1 {
				return usageErrorf("--tail %d: use a number of lines, 0 for the server's default or -1 for all", tail)
			}
			c, ns, err := a.connectNS(cmd, ns)
			if err != nil {
				return err
			}
			// Lines name their region when they may come from more than one. Whoever may
			// read logs may read the service; if that fails, Logs says why.
			var multiRegion bool
			if region == "" && !a.jsonOutput() {
				if svc, err := c.GetService(cmd.Context(), ns, args[0]); err == nil {
					multiRegion = len(svc.Regions) > 1 || len(svc.PerRegion) > 1
				}
			}
			s, err := c.Logs(cmd.Context(), platform.LogQuery{Namespace: ns, Service: args[0], Tail: tail, Follow: follow, Region: region})
			if err != nil {
				return err
			}
			defer s.Close()
			for s.Next() {
				e := s.Value()
				switch {
				case a.jsonOutput():
					err = a.printJSONLine(e)
				case multiRegion:
					_, err = fmt.Fprintf(a.stdout, "[%s %s %s] %s\n", orDash(e.Region), shortID(e.InstanceID), e.Stream, e.Line)
				default:
					_, err = fmt.Fprintf(a.stdout, "[%s %s] %s\n", shortID(e.InstanceID), e.Stream, e.Line)
				}
				if err != nil {
					return err
				}
			}
			return ignoreCancel(cmd, s.Err())
		}),
	}
	addNamespaceFlag(cmd, &ns)
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines until interrupted")
	cmd.Flags().IntVar(&tail, "tail", 0, "how many recent lines to print first (0: the server's default of 100, -1: all)")
	cmd.Flags().StringVar(&region, "region", "", "only the lines of this region's instances")
	return cmd
}

// shortID shortens an instance ID for log prefixes: IDs end in a random hex suffix
// ("helloworld-b7fde2c7699f1e96"), whose first 8 characters tell the instances of one
// service apart. Other IDs are kept whole.
func shortID(id string) string {
	suffix := id[strings.LastIndex(id, "-")+1:]
	if len(suffix) < 8 {
		return id
	}
	return suffix[:8]
}

// ignoreCancel returns nil for an error caused by the command's context ending (Ctrl-C
// during -f), which is how a followed stream is meant to stop.
func ignoreCancel(cmd *cobra.Command, err error) error {
	if err != nil && cmd.Context().Err() != nil {
		return nil
	}
	return err
}
