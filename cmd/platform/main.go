// Command platform is the command-line interface of Micro Platform: it deploys go-micro
// services, inspects them and runs the platform server. All of it lives in package cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/micro/platform/cli"
	"github.com/micro/platform/runtime/local/sandbox"
)

func main() {
	// The local runtime starts this binary again as the init of each instance's sandbox.
	sandbox.Init()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(code)
}
