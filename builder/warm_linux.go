package builder

import (
	"errors"
	"fmt"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// I/O priority (ioprio_set(2)): the idle class, for the calling thread.
const (
	ioprioWhoProcess = 1
	ioprioClassIdle  = 3
	ioprioClassShift = 13
)

// runIdle runs cmd at the lowest priority Linux has: nice 19, the SCHED_IDLE policy
// (it runs only on CPUs nothing else wants) and the idle I/O class. Linux keeps these
// per thread and a child inherits them from the thread that forks it, so cmd is started
// and waited for on a locked OS thread that lowers its own priority first, and that
// thread is never handed back to the Go runtime: it exits with the goroutine. The
// server's other threads keep their priority, and cmd's whole process tree (the
// compiler and linker processes) inherits the low one. Waiting on the same thread also
// keeps Pdeathsig, which fires when the forking thread exits, for the server's death.
//
// idleErr says which part of the priority could not be lowered (cmd runs anyway);
// runErr is cmd.Run's error.
func runIdle(cmd *exec.Cmd) (idleErr, runErr error) {
	done := make(chan idleResult, 1)
	go runOnIdleThread(cmd, done, nil)
	r := <-done
	return r.idle, r.run
}

type idleResult struct{ idle, run error }

// runOnIdleThread runs cmd for runIdle on the calling goroutine's thread, which it locks
// (closing locked, if not nil, once it has) and never unlocks. The process's main thread
// is the exception: the runtime cannot end it, it would park it for good at low
// priority (and ps shows the main thread's nice value as the server's), so there it
// starts another goroutine, which cannot get the main thread while this one holds it,
// and lets the main thread go once that one has its own.
func runOnIdleThread(cmd *exec.Cmd, done chan<- idleResult, locked chan<- struct{}) {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		other := make(chan struct{})
		go runOnIdleThread(cmd, done, other)
		<-other
		runtime.UnlockOSThread()
		if locked != nil {
			close(locked)
		}
		return
	}
	if locked != nil {
		close(locked)
	}
	// No UnlockOSThread: this thread's priority stays low, so it must not run other
	// goroutines; it ends with this one.
	idle := lowerThreadPriority()
	done <- idleResult{idle, cmd.Run()}
}

// lowerThreadPriority sets the calling thread's nice value to 19, its policy to
// SCHED_IDLE and its I/O class to idle; all three are allowed without privileges.
func lowerThreadPriority() error {
	var errs []error
	if err := unix.Setpriority(unix.PRIO_PROCESS, 0, 19); err != nil {
		errs = append(errs, fmt.Errorf("nice 19: %w", err))
	}
	if err := unix.SchedSetAttr(0, &unix.SchedAttr{Policy: unix.SCHED_IDLE, Nice: 19}, 0); err != nil {
		errs = append(errs, fmt.Errorf("SCHED_IDLE: %w", err))
	}
	if _, _, e := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, ioprioClassIdle<<ioprioClassShift); e != 0 {
		errs = append(errs, fmt.Errorf("idle I/O class: %w", e))
	}
	return errors.Join(errs...)
}
