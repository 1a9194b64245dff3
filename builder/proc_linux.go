package builder

import (
	"os/exec"
	"syscall"
)

// killGroupOnCancel runs cmd in its own process group and kills the whole group when
// its context ends, so the compiler and linker processes go build starts die with it.
// The go command also dies with the server (Pdeathsig): a build the server no longer
// waits for, after a kill -9, is run again at the next start.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
