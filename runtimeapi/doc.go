// Package runtimeapi holds the runtime API between the control plane and a region's agent:
// the protobuf definitions in proto/platform/runtime/v1, the generated code in runtimev1 and
// runtimev1connect (regenerate with scripts/gen-proto).
package runtimeapi
