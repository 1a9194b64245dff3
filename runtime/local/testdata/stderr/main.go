// Command stderr prints "to stdout" on stdout and "to stderr" on stderr, then runs until
// SIGTERM.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	fmt.Println("to stdout")
	fmt.Fprintln(os.Stderr, "to stderr")
	<-term
}
