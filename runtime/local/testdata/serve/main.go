// Command serve prints "started <MICRO_SERVER_ID>", then "tick <n>" every second, and exits
// 0 on SIGTERM.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	fmt.Println("started", os.Getenv("MICRO_SERVER_ID"))
	tick := time.NewTicker(time.Second)
	for n := 1; ; n++ {
		select {
		case <-term:
			return
		case <-tick.C:
			fmt.Println("tick", n)
		}
	}
}
