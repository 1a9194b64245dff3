package stripetest

import (
	"os/exec"
	"syscall"
)

// setDeathSignal has the kernel kill stripe-mock when the test binary dies without
// running Stop (a panic, a -timeout), so no stripe-mock outlives its tests.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
