// Package cli implements the `platform` command: one file per verb, each talking to the
// platform only through package client. `platform server`, which runs the platform, is
// not here: cmd/platform adds it as a Verb, so that the CLI does not import the server.
//
// Run takes its arguments, streams and environment as parameters, so tests call it in
// process with buffers; nothing in the package reads the process environment.
//
// Settings resolve in this order: flags, then PLATFORM_SERVER, PLATFORM_TOKEN and
// PLATFORM_NAMESPACE, then the config file `platform login` writes
// ($XDG_CONFIG_HOME/micro-platform/config.json or ~/.config/micro-platform/config.json),
// then the default server http://127.0.0.1:8080.
//
// Every command prints text for people by default and JSON with -o json (API objects as
// JSON, streams as JSON lines). Errors print "error: ..." and "hint: ..." on stderr; the
// exit status is 0 on success, 1 on an error and 2 on a usage error.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
)

// Exit statuses of Run.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// DefaultServer is the server used when nothing else names one.
const DefaultServer = "http://127.0.0.1:8080"

// Output formats of -o.
const (
	outputText = "text"
	outputJSON = "json"
)

// app is the state of one Run: streams, environment and global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            map[string]string
	loc            *time.Location

	// Global flags.
	server, token, output string
	// ran is set once a command's RunE starts: earlier errors are usage errors.
	ran bool
}

// Verb builds a command that Run adds to the tree without package cli implementing it.
// env is the environment Run was given; the command's streams are Run's
// (cmd.OutOrStdout and so on). As for every verb, an error before its RunE starts (flags,
// arguments) is a usage error.
type Verb func(env []string) *cobra.Command

// Run runs the platform command with args (without the program name) and returns the
// exit status. env is the environment as os.Environ returns it; verbs are added to the
// built-in ones. A verb that serves (mesh, server) runs until ctx ends.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env []string, verbs ...Verb) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, env: envMap(env)}
	a.loc = time.Local
	if tz, ok := a.env["TZ"]; ok {
		if loc, err := time.LoadLocation(tz); err == nil {
			a.loc = loc
		}
	}
	root := a.newRoot()
	for _, v := range verbs {
		cmd := v(env)
		a.adopt(cmd)
		root.AddCommand(cmd)
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	if es := (*exitStatus)(nil); errors.As(err, &es) {
		return es.code // a command `platform connect` ran: its status, said by itself
	}
	var ue *usageError
	usage := !a.ran || errors.As(err, &ue)
	if usage && ue == nil {
		err = &usageError{err: err}
	}
	path := "platform"
	if cmd != nil {
		path = cmd.CommandPath()
	}
	a.printError(err, path)
	if usage {
		return ExitUsage
	}
	return ExitError
}

// newRoot builds the command tree.
func (a *app) newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "platform",
		Short:         "Build, run and route go-micro services",
		Long:          "platform deploys go-micro services from source into isolated namespaces and routes HTTP to them.",
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if a.output != outputText && a.output != outputJSON {
				return usageErrorf("invalid output format %q: use text or json", a.output)
			}
			return nil
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err: err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.server, "server", "", "platform server URL (env PLATFORM_SERVER, default "+DefaultServer+")")
	pf.StringVar(&a.token, "token", "", "API token (env PLATFORM_TOKEN)")
	pf.StringVarP(&a.output, "output", "o", outputText, "output format: text or json")
	root.AddCommand(
		a.loginCmd(),
		a.namespacesCmd(),
		a.deployCmd(),
		a.devCmd(),
		a.servicesCmd(),
		a.callCmd(),
		a.logsCmd(),
		a.eventsCmd(),
		a.deleteCmd(),
		a.tokensCmd(),
		a.regionsCmd(),
		a.infraCmd(),
		a.versionCmd(),
	)
	for _, c := range commands {
		root.AddCommand(c(a))
	}
	return root
}

// commands are verbs that register themselves from their own file with register, so that a
// new verb is one new file (and its test).
var commands []func(*app) *cobra.Command

// register adds a verb to the command tree; call it from an init function.
func register(c func(*app) *cobra.Command) { commands = append(commands, c) }

// run adapts a command body to cobra's RunE and records that arguments were accepted.
func (a *app) run(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.ran = true
		return f(cmd, args)
	}
}

// adopt makes cmd and its subcommands record, like the built-in verbs, that their
// arguments were accepted.
func (a *app) adopt(cmd *cobra.Command) {
	if cmd.RunE != nil {
		cmd.RunE = a.run(cmd.RunE)
	}
	for _, c := range cmd.Commands() {
		a.adopt(c)
	}
}

// usageError is a mistake in how the command was called: exit status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &usageError{err: platform.Errorf(platform.EINVALID, format, args...)}
}

// args returns a cobra.PositionalArgs accepting between min and max arguments (max < 0:
// any number), with a message naming what is expected.
func args(min, max int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || (max >= 0 && len(args) > max) {
			return usageErrorf("%s: expected %s, got %d argument(s)", cmd.CommandPath(), what, len(args))
		}
		return nil
	}
}

// printError writes err for people ("error: ..." and "hint: ...") or, with -o json, as
// the API's error object.
func (a *app) printError(err error, cmdPath string) {
	msg, hint, code := strings.TrimRight(errorText(err), "\n"), platform.ErrorHint(err), platform.ErrorCode(err)
	var ue *usageError
	if errors.As(err, &ue) && hint == "" {
		hint = fmt.Sprintf("run '%s --help' for usage", cmdPath)
	}
	if a.output == outputJSON {
		b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": msg, "hint": hint}})
		fmt.Fprintf(a.stderr, "%s\n", b)
		return
	}
	fmt.Fprintf(a.stderr, "error: %s\n", msg)
	if hint != "" {
		fmt.Fprintf(a.stderr, "hint: %s\n", hint)
	}
}

// errorText is the message of the first *platform.Error in err's chain, or err's text:
// an uncoded error in the CLI comes from the user's own machine (a file, a flag) and its
// details are theirs to see.
func errorText(err error) string {
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	var pe *platform.Error
	if errors.As(err, &pe) {
		return pe.Message
	}
	return err.Error()
}

// envMap indexes an os.Environ-style slice; later entries win, as in the shell.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// envSlice turns the environment back into os.Environ form.
func envSlice(env map[string]string) []string {
	s := make([]string, 0, len(env))
	for k, v := range env {
		s = append(s, k+"="+v)
	}
	return s
}
