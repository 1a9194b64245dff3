package local_test

import (
	"os"
	"testing"

	"github.com/micro/platform/runtime/local"
)

// sandboxHost returns the sandbox of this host for tests, skipping t where sandboxes
// cannot run (not root).
func sandboxHost(t *testing.T) local.Sandbox {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("sandboxes need root")
	}
	return local.Sandbox{Enabled: true}
}
