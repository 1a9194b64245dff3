// Command exit3 prints "exiting with 3" on stderr and exits with code 3.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "exiting with 3")
	os.Exit(3)
}
