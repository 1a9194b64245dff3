package client

import (
	"context"
	"encoding/json"
	"net/http"

	platform "github.com/micro/platform"
)

// callRequest is the body of POST /v1/namespaces/{ns}/call.
type callRequest struct {
	Service  string          `json:"service"`
	Endpoint string          `json:"endpoint"`
	Request  json.RawMessage `json:"request"`
	Version  string          `json:"version,omitempty"`
}

// Call makes one RPC to endpoint (e.g. "Helloworld.Call") of service in namespace ns and
// returns the service's JSON response. request must be JSON; nil sends {}. version, when
// set, routes only to instances of that version. Errors of the service come back with
// their code: ENOTFOUND for an unknown service or endpoint, EINVALID for a bad request,
// ETIMEOUT and so on.
func (c *Client) Call(ctx context.Context, ns, service, endpoint string, request json.RawMessage, version string) (json.RawMessage, error) {
	if len(request) == 0 {
		request = json.RawMessage("{}")
	}
	if !json.Valid(request) {
		return nil, platform.Errorf(platform.EINVALID, "the request to %s %s is not valid JSON", service, endpoint).
			WithHint(`pass a JSON object, e.g. '{"name": "Alice"}'`)
	}
	in := callRequest{Service: service, Endpoint: endpoint, Request: request, Version: version}
	var out json.RawMessage
	if err := c.do(ctx, http.MethodPost, nsPath(ns, "call"), nil, in, &out); err != nil {
		return nil, err
	}
	return out, nil
}
