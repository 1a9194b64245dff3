// Command logflood is a go-micro service that, once started, writes 1,000 lines a second
// to stdout (10 lines every 10 ms, each with a counter), for the dashboard's log-tail
// benchmark (TestDashboardPerformance). Flood.Count answers how many lines it has written.
package main

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"os"
	"sync/atomic"
	"time"

	micro "go-micro.dev/v5"
)

// tick is how often the lines due are written: 10 every 10 ms.
const tick = 10 * time.Millisecond

var written atomic.Int64

// Request is the (empty) body of Flood.Count.
type Request struct{}

// Response says how many lines have been written.
type Response struct {
	Lines int64 `json:"lines"`
}

// Flood is the service's handler.
type Flood struct{}

// Count answers how many lines have been written so far.
func (f *Flood) Count(ctx context.Context, req *Request, rsp *Response) error {
	rsp.Lines = written.Load()
	return nil
}

// flood writes one line per millisecond since it started, the lines due written every
// tick in one write, until the process ends. A late tick (a busy or throttled CPU)
// catches up, so the rate stays 1,000 lines/s on average.
func flood() {
	w := bufio.NewWriterSize(os.Stdout, 64<<10)
	start := time.Now()
	t := time.NewTicker(tick)
	defer t.Stop()
	for now := range t.C {
		due := int64(now.Sub(start) / time.Millisecond)
		for written.Load() < due {
			n := written.Add(1)
			fmt.Fprintf(w, "logflood line %d: the quick brown fox jumps over the lazy dog\n", n)
		}
		if err := w.Flush(); err != nil {
			log.Printf("logflood: %v", err)
		}
	}
}

func main() {
	service := micro.New("logflood")
	service.Init()
	if err := service.Handle(new(Flood)); err != nil {
		log.Fatal(err)
	}
	go flood()
	if err := service.Run(); err != nil {
		log.Fatal(err)
	}
}
