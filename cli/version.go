package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

// versionInfo is the -o json output of version.
type versionInfo struct {
	Version string `json:"version"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of the platform command",
		Args:  args(0, 0, "no arguments"),
		RunE: a.run(func(*cobra.Command, []string) error {
			v := versionInfo{Version: version(), Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
			if a.jsonOutput() {
				return a.printJSON(v)
			}
			_, err := fmt.Fprintf(a.stdout, "platform %s (%s %s/%s)\n", v.Version, v.Go, v.OS, v.Arch)
			return err
		}),
	}
}
