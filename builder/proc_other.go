//go:build !linux

package builder

import "os/exec"

// killGroupOnCancel leaves cmd as it is: only the go command itself is killed when its
// context ends (exec.CommandContext's default).
func killGroupOnCancel(cmd *exec.Cmd) {}
