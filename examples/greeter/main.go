// Command greeter is a go-micro service that calls another one: Greeter.Hello asks
// helloworld's Helloworld.Call, through its own go-micro client, and returns
// {"greeting":"Hello Alice (via greeter)"}.
//
// Both services find each other through the registry configured by the MICRO_*
// environment in service.Init(), so they must run in the same platform namespace.
package main

import (
	"context"
	"log"

	micro "go-micro.dev/v5"
	"go-micro.dev/v5/client"
)

// HelloRequest is the body of Greeter.Hello.
type HelloRequest struct {
	Name string `json:"name"`
}

// HelloResponse is the answer of Greeter.Hello.
type HelloResponse struct {
	Greeting string `json:"greeting"`
}

// callRequest and callResponse are helloworld's Helloworld.Call messages.
type callRequest struct {
	Name string `json:"name"`
}

type callResponse struct {
	Message string `json:"message"`
}

// Greeter is the service's handler.
type Greeter struct {
	client client.Client
}

// Hello greets req.Name by way of helloworld.
func (g *Greeter) Hello(ctx context.Context, req *HelloRequest, rsp *HelloResponse) error {
	log.Printf("Greeter.Hello name=%q", req.Name)
	var out callResponse
	call := g.client.NewRequest("helloworld", "Helloworld.Call", &callRequest{Name: req.Name})
	if err := g.client.Call(ctx, call, &out); err != nil {
		return err
	}
	rsp.Greeting = out.Message + " (via greeter)"
	return nil
}

func main() {
	service := micro.New("greeter")
	service.Init()

	if err := service.Handle(&Greeter{client: service.Client()}); err != nil {
		log.Fatal(err)
	}
	log.Printf("greeter starting")
	if err := service.Run(); err != nil {
		log.Fatal(err)
	}
}
