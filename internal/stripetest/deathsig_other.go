//go:build !linux

package stripetest

import "os/exec"

// setDeathSignal does nothing here: only Linux kills a child with its parent.
func setDeathSignal(*exec.Cmd) {}
