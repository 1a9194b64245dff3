package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"text/tabwriter"
	"time"
)

// Version is the CLI's version, set at build time with
// -ldflags "-X github.com/micro/platform/cli.Version=v1.2.3"; when empty the module
// version from the build info is used.
var Version = ""

// version returns Version or the main module's version, "dev" for a local build.
func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// jsonOutput reports whether -o json was given.
func (a *app) jsonOutput() bool { return a.output == outputJSON }

// printJSON writes v as indented JSON: the form of single objects and lists.
func (a *app) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	_, err = fmt.Fprintf(a.stdout, "%s\n", b)
	return err
}

// printJSONLine writes v as one line of JSON: the form of stream items.
func (a *app) printJSONLine(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	_, err = fmt.Fprintf(a.stdout, "%s\n", b)
	return err
}

// table returns a tabwriter for aligned columns; call Flush when done.
func table(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
}

// fmtTime renders t in the user's time zone (TZ of Run's env), "-" when zero.
func (a *app) fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(a.loc).Format("2006-01-02 15:04:05")
}

// orDash returns s, or "-" when empty, so table cells are never blank.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// orEmpty returns s, or an empty slice when nil, so JSON lists print as [] not null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
