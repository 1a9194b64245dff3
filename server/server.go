// Package server wires every part of the platform into one process: store, embedded NATS,
// builder, runtime driver, reconciler, gateway and HTTP API. `platform server` is a thin
// wrapper over it, and end-to-end tests start it on :0 with a temp data dir.
package server
