// Command platform is the command-line interface of Micro Platform: it deploys go-micro
// services, inspects them and runs the platform server and the agents of its regions. The
// verbs live in package cli, `platform server` and `platform agent` in package server; main
// adds the one to the other, so that the CLI, a client of the API, does not import the
// server.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/micro/platform/cli"
	"github.com/micro/platform/runtime/local/sandbox"
	"github.com/micro/platform/server"
)

func main() {
	// The local runtime starts this binary again as the init of each instance's sandbox.
	sandbox.Init()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(code)
}

// run runs the platform command: the CLI's verbs, `platform server` and `platform agent`.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env []string) int {
	return cli.Run(ctx, args, stdin, stdout, stderr, env, server.Command, server.AgentCommand)
}
