//go:build !linux

package builder

import (
	"errors"
	"os/exec"
)

// runIdle runs cmd at normal priority: lowering one child's priority without lowering
// the server's is implemented on Linux only.
func runIdle(cmd *exec.Cmd) (idleErr, runErr error) {
	return errors.New("idle priority is implemented on Linux only"), cmd.Run()
}
