// Command helloworld is a minimal go-micro service: Helloworld.Call answers
// {"name":"Alice"} with {"message":"Hello Alice"}.
//
// It reads its registry, broker and transport from the MICRO_* environment in
// service.Init(), which is how the platform puts it into a namespace.
package main

import (
	"context"
	"log"

	micro "go-micro.dev/v5"
)

// Request is the body of Helloworld.Call.
type Request struct {
	Name string `json:"name"`
}

// Response is the answer of Helloworld.Call.
type Response struct {
	Message string `json:"message"`
}

// Helloworld is the service's handler.
type Helloworld struct{}

// Call greets a person by name.
//
// @example {"name": "Alice"}
func (h *Helloworld) Call(ctx context.Context, req *Request, rsp *Response) error {
	log.Printf("Helloworld.Call name=%q", req.Name)
	rsp.Message = "Hello " + req.Name
	return nil
}

func main() {
	service := micro.New("helloworld")
	service.Init()

	if err := service.Handle(new(Helloworld)); err != nil {
		log.Fatal(err)
	}
	log.Printf("helloworld starting")
	if err := service.Run(); err != nil {
		log.Fatal(err)
	}
}
