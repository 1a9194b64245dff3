// Command orders is a go-micro service written the way go-micro's own examples are: it
// fixes its own address (micro.Address(":8081")), registers several handlers in one
// service, and opens a listener of its own on a fixed port (an HTTP status page on :9090).
// The platform runs it unchanged: every instance is reachable whatever address it sets,
// and replicas (or another service with the same ports) never collide.
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"

	micro "go-micro.dev/v5"
)

// CreateRequest is the body of Orders.Create.
type CreateRequest struct {
	Item string `json:"item"`
}

// CreateResponse is the answer of Orders.Create.
type CreateResponse struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Host   string `json:"host"`
}

// Orders takes orders.
type Orders struct{}

// Create records an order for req.Item.
func (o *Orders) Create(ctx context.Context, req *CreateRequest, rsp *CreateResponse) error {
	rsp.ID = "order-" + req.Item
	rsp.Status = "created"
	rsp.Host, _ = os.Hostname()
	return nil
}

// StatusRequest is the body of Status.Check.
type StatusRequest struct{}

// StatusResponse says whether the status listener answers.
type StatusResponse struct {
	Listener string `json:"listener"`
}

// Status reports on the service's own listener.
type Status struct{ addr string }

// Check dials the service's own status listener.
func (s *Status) Check(ctx context.Context, req *StatusRequest, rsp *StatusResponse) error {
	resp, err := http.Get("http://" + s.addr + "/")
	if err != nil {
		return err
	}
	resp.Body.Close()
	rsp.Listener = fmt.Sprintf("%s %s", s.addr, resp.Status)
	return nil
}

func main() {
	service := micro.New("orders", micro.Address(":8081"))
	service.Init()

	l, err := net.Listen("tcp", ":9090")
	if err != nil {
		log.Fatalf("status listener: %v", err)
	}
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	}))

	if err := service.Handle(new(Orders)); err != nil {
		log.Fatal(err)
	}
	if err := service.Handle(&Status{addr: "127.0.0.1:9090"}); err != nil {
		log.Fatal(err)
	}
	log.Printf("orders starting on :8081, status on :9090")
	if err := service.Run(); err != nil {
		log.Fatal(err)
	}
}
