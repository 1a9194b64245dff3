package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
)

func (a *app) eventsCmd() *cobra.Command {
	var (
		ns, service, typ, region string
		follow                   bool
		limit                    int
	)
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Print what happened in a namespace: builds, releases, instances",
		Args:  args(0, 0, "no arguments"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			if limit < 1 {
				return usageErrorf("--limit %d: must be at least 1", limit)
			}
			c, ns, err := a.connectNS(cmd, ns)
			if err != nil {
				return err
			}
			f := platform.EventFilter{Namespace: ns, Service: service, Type: typ, Region: region, Limit: limit}
			list, err := c.Events(cmd.Context(), f)
			if err != nil {
				return err
			}
			if a.jsonOutput() && !follow {
				return a.printJSON(orEmpty(list))
			}
			if !a.jsonOutput() {
				if len(list) == 0 && !follow {
					fmt.Fprintf(a.stdout, "No events in %s.\n", ns)
					return nil
				}
				a.printEventHeader(a.stdout)
			}
			for _, e := range list {
				if err := a.printEvent(e); err != nil {
					return err
				}
				f.AfterID = max(f.AfterID, e.ID)
			}
			if !follow {
				return nil
			}
			if f.AfterID == 0 {
				// Nothing stored yet matched: start at the newest event of any kind, so
				// following does not replay history the filter did not ask for.
				latest, err := c.Events(cmd.Context(), platform.EventFilter{Namespace: ns, Limit: 1})
				if err != nil {
					return err
				}
				for _, e := range latest {
					f.AfterID = e.ID
				}
			}
			f.Limit = 0
			s, err := c.FollowEvents(cmd.Context(), f)
			if err != nil {
				return err
			}
			defer s.Close()
			for s.Next() {
				if err := a.printEvent(s.Value()); err != nil {
					return err
				}
			}
			return ignoreCancel(cmd, s.Err())
		}),
	}
	addNamespaceFlag(cmd, &ns)
	cmd.Flags().StringVar(&service, "service", "", "only events of this service")
	cmd.Flags().StringVar(&region, "region", "", "only events that happened in this region")
	cmd.Flags().StringVar(&typ, "type", "", `only events of this type, or of a type prefix ending in "." (e.g. build.)`)
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events until interrupted")
	cmd.Flags().IntVar(&limit, "limit", 20, "how many of the most recent events to print")
	return cmd
}

// Column widths of the events table: fixed, so that followed events line up with the
// ones printed before them.
const eventRowFormat = "%-19s   %-21s   %-16s   %-8s   %s\n"

func (a *app) printEventHeader(w io.Writer) {
	fmt.Fprintf(w, eventRowFormat, "TIME", "TYPE", "SERVICE", "REGION", "MESSAGE")
}

// printEvent writes one event as a table row or, with -o json, a JSON line.
func (a *app) printEvent(e *platform.Event) error {
	if a.jsonOutput() {
		return a.printJSONLine(e)
	}
	msg := strings.ReplaceAll(e.Message, "\n", "\n"+strings.Repeat(" ", 19+3+21+3+16+3+8+3))
	_, err := fmt.Fprintf(a.stdout, eventRowFormat, a.fmtTime(e.Time), e.Type, orDash(e.Service), orDash(e.Region), msg)
	return err
}
