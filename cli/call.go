package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
)

func (a *app) callCmd() *cobra.Command {
	var ns, ver string
	cmd := &cobra.Command{
		Use:   "call SERVICE ENDPOINT [JSON|-]",
		Short: "Call an endpoint of a service and print its JSON response",
		Example: `  platform call helloworld Helloworld.Call '{"name": "Alice"}' -n acme
  echo '{"name": "Bob"}' | platform call helloworld Helloworld.Call - -n acme`,
		Args: args(2, 3, "SERVICE ENDPOINT [JSON|-]"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			body, err := a.callBody(args[2:])
			if err != nil {
				return err
			}
			c, ns, err := a.connectNS(cmd, ns)
			if err != nil {
				return err
			}
			resp, err := c.Call(cmd.Context(), ns, args[0], args[1], body, ver)
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if a.jsonOutput() {
				err = json.Compact(&buf, resp)
			} else {
				err = json.Indent(&buf, resp, "", "  ")
			}
			if err != nil {
				return platform.Errorf(platform.EINTERNAL, "the response of %s is not valid JSON: %v", args[1], err)
			}
			fmt.Fprintf(a.stdout, "%s\n", buf.Bytes())
			return nil
		}),
	}
	addNamespaceFlag(cmd, &ns)
	cmd.Flags().StringVar(&ver, "version", "", "call only instances of this version (e.g. v2)")
	return cmd
}

// callBody returns the request body: the argument, stdin for "-", or {} without one.
func (a *app) callBody(args []string) (json.RawMessage, error) {
	if len(args) == 0 {
		return json.RawMessage("{}"), nil
	}
	b := []byte(args[0])
	if args[0] == "-" {
		var err error
		if b, err = io.ReadAll(a.stdin); err != nil {
			return nil, fmt.Errorf("read request from stdin: %w", err)
		}
	}
	b = bytes.TrimSpace(b)
	if !json.Valid(b) {
		return nil, &usageError{err: platform.Errorf(platform.EINVALID, "the request is not valid JSON: %s", b).
			WithHint(`pass a JSON object, e.g. '{"name": "Alice"}', or - to read it from stdin`)}
	}
	return b, nil
}
