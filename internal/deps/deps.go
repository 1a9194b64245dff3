//go:build tools

// Package deps pins the modules the project builds on while packages are being written.
package deps

import (
	_ "github.com/go-chi/chi/v5"
	_ "github.com/go-git/go-git/v5"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/nats-io/nats-server/v2/server"
	_ "github.com/nats-io/nats.go"
	_ "github.com/pressly/goose/v3"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/cobra"
	_ "go-micro.dev/v5"
	_ "go-micro.dev/v5/broker/nats"
	_ "go-micro.dev/v5/registry/nats"
	_ "go-micro.dev/v5/transport/nats"
	_ "golang.org/x/sys/unix"
	_ "gopkg.in/yaml.v3"
	_ "modernc.org/sqlite"
)
