package server_test

import (
	"os"
	"testing"

	"github.com/micro/platform/runtime/local/sandbox"
)

// TestMain lets the servers these tests start run their instances' sandboxes: the local
// runtime starts this test binary again as the sandbox's init.
func TestMain(m *testing.M) {
	sandbox.Init()
	os.Exit(m.Run())
}
