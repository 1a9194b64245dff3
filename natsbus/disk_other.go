//go:build !linux

package natsbus

// diskFree returns -1: the free space is not known on this system, and the checks that
// use it are skipped.
func diskFree(string) int64 { return -1 }
