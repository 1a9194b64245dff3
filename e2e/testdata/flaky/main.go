// Command flaky is a go-micro service for the alerting tests (TestAlerting): with
// CRASH_AFTER set (a duration), every instance exits with status 3 and a panic's last
// words that long after it started, so the platform restarts it until it is
// crash-looping; without it, it serves. Flaky.Ping answers "pong".
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	micro "go-micro.dev/v5"
)

// Request is the (empty) body of Flaky.Ping.
type Request struct{}

// Response is Flaky.Ping's answer.
type Response struct {
	Msg string `json:"msg"`
}

// Flaky is the service's handler.
type Flaky struct{}

// Ping answers "pong".
func (f *Flaky) Ping(ctx context.Context, req *Request, rsp *Response) error {
	rsp.Msg = "pong"
	return nil
}

func main() {
	service := micro.New("flaky")
	service.Init()
	if err := service.Handle(new(Flaky)); err != nil {
		log.Fatal(err)
	}
	if v := os.Getenv("CRASH_AFTER"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			log.Fatalf("CRASH_AFTER: %v", err)
		}
		go func() {
			time.Sleep(d)
			fmt.Fprintln(os.Stderr, "panic: lost the connection to the database")
			os.Exit(3)
		}()
	}
	if err := service.Run(); err != nil {
		log.Fatal(err)
	}
}
