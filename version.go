package platform

import "runtime/debug"

// Version returns the version of the running binary: the main module's version from its
// build info, "dev" for a local build.
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
