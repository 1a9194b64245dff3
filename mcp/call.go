package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	platform "github.com/micro/platform"
)

// unknownTool answers a call of a tool the session may not see with the
// specification's error for an unknown tool (-32602), as the SDK answers one that does
// not exist.
func unknownTool(name string) error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown tool %q", name)}
}

// calls numbers this process's tool calls for their usage event IDs.
var calls atomic.Uint64

// call returns the handler of tool t: it checks the arguments against the tool's input
// schema, then makes the call through the gateway's handler with the caller's token, as
// POST /api/{service}/{endpoint} would, and returns the service's JSON answer. A service
// error is a tool execution error (isError) with the platform's message and hint; so is
// arguments that do not fit the schema, and then nothing is called.
func (h *Handler) call(sp *space, t *tool) sdk.ToolHandler {
	path := "/api/" + t.Service + "/" + t.Endpoint
	return func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		tok := tokenOf(req)
		if tok == nil {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "the session has no platform token"}
		}
		extra := req.GetExtra().TokenInfo.Extra
		secret, _ := extra[extraSecret].(string)
		source, _ := extra[extraSource].(string)
		args := []byte(req.Params.Arguments)
		if len(bytes.TrimSpace(args)) == 0 || string(args) == "null" {
			args = []byte("{}")
		}
		if err := validate(t, args); err != nil {
			h.audit(tok, sp.ns, t.Name, platform.AuditFailed, 0, err.Error(), source)
			return toolError(err.Error(), "send the fields of the tool's input schema with their JSON types"), nil
		}
		start := h.opts.Clock.Now()
		gr, err := http.NewRequestWithContext(ctx, http.MethodPost, path, bytes.NewReader(args))
		if err != nil {
			return nil, err
		}
		gr.Header.Set("Authorization", "Bearer "+secret)
		gr.Header.Set("Content-Type", "application/json")
		gr.Header.Set("Micro-Namespace", sp.ns)
		gr.RemoteAddr = source
		rec := &recorder{header: make(http.Header), status: http.StatusOK}
		h.opts.Gateway.ServeHTTP(rec, gr)
		took := h.opts.Clock.Now().Sub(start)
		switch rec.status {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
			// Refused before the service was called: not billed.
		default:
			h.meter(ctx, tok, sp.ns, t.Service)
		}
		if rec.status == http.StatusOK {
			h.audit(tok, sp.ns, t.Name, platform.AuditOK, took, "", source)
			return result(rec.body.Bytes()), nil
		}
		msg, hint := errorOf(rec)
		outcome := platform.AuditFailed
		if rec.status == http.StatusForbidden || rec.status == http.StatusUnauthorized {
			outcome = platform.AuditDenied
		}
		h.audit(tok, sp.ns, t.Name, outcome, took, msg, source)
		return toolError(msg, hint), nil
	}
}

// validate checks the arguments are a JSON object that fits the tool's input schema.
func validate(t *tool, args []byte) error {
	var v any
	if err := json.Unmarshal(args, &v); err != nil {
		return fmt.Errorf("arguments of %s are not valid JSON: %v", t.Name, err)
	}
	if _, ok := v.(map[string]any); !ok {
		return fmt.Errorf("arguments of %s must be a JSON object", t.Name)
	}
	if err := t.schema.Validate(v); err != nil {
		return fmt.Errorf("arguments do not match the input schema of %s: %v", t.Name, err)
	}
	return nil
}

// result is a successful call's answer: the JSON as text, and as structured content
// when it is an object.
func result(body []byte) *sdk.CallToolResult {
	res := &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: string(body)}}}
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '{' && json.Valid(t) {
		res.StructuredContent = json.RawMessage(t)
	}
	return res
}

// toolError is a tool execution error the agent can read and correct.
func toolError(msg, hint string) *sdk.CallToolResult {
	text := msg
	if hint != "" {
		text += " (" + hint + ")"
	}
	return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: text}}}
}

// errorOf reads the gateway's error answer.
func errorOf(rec *recorder) (msg, hint string) {
	var e platform.ErrorResponse
	if json.Unmarshal(rec.body.Bytes(), &e) == nil && e.Error.Message != "" {
		return e.Error.Message, e.Error.Hint
	}
	return fmt.Sprintf("the call failed with HTTP %d: %s", rec.status, strings.TrimSpace(rec.body.String())), ""
}

// meter counts one tool call for the token's organisation.
func (h *Handler) meter(ctx context.Context, tok *platform.Token, ns, service string) {
	if h.opts.Metering == nil {
		return
	}
	now := h.opts.Clock.Now().UTC()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), meterWait)
	defer cancel()
	e := platform.UsageEvent{
		ID:        "mcp/" + h.instance + "/" + strconv.FormatUint(calls.Add(1), 10),
		Org:       tok.OrgName(),
		Namespace: ns,
		Service:   service,
		Region:    h.opts.Region,
		Meter:     platform.MeterToolCalls,
		Quantity:  1,
		Time:      now,
	}
	if err := h.opts.Metering.PublishWait(ctx, e); err != nil {
		h.opts.Logger.Error("a tool call was not metered", "namespace", ns, "service", service, "err", err)
	}
}

// meterWait bounds how long a tool call waits for the metering pipeline to take its
// usage event (it waits only when the pipeline is backed up or not up yet).
const meterWait = 2 * time.Second

// audit queues an audit entry of a tool call; a full queue holds the caller back
// rather than lose it.
func (h *Handler) audit(tok *platform.Token, ns, toolName, outcome string, took time.Duration, detail, source string) {
	if h.opts.Audit == nil {
		return
	}
	d := "duration " + took.Round(time.Microsecond).String()
	if detail != "" {
		d += "; " + detail
	}
	actor := tok.User
	if actor == "" {
		actor = "token " + tok.Name
	}
	h.audits <- &platform.AuditEntry{
		Org: tok.OrgName(), Actor: actor, ActorID: tok.UserID, TokenID: tok.ID,
		Action: platform.AuditToolCall, Target: "tool/" + ns + "/" + toolName,
		Outcome: outcome, Source: source, Detail: d, Time: h.opts.Clock.Now().UTC(),
	}
}

// maxAuditBatch bounds how many queued entries one write takes.
const maxAuditBatch = 256

// writeAudits writes queued entries in order until ctx ends, then what is left: what has
// queued while a write was under way goes in the next write, in one transaction when the
// store can (platform.AuditBatcher).
func (h *Handler) writeAudits(ctx context.Context) {
	batcher, _ := h.opts.Audit.(platform.AuditBatcher)
	batch := make([]*platform.AuditEntry, 0, maxAuditBatch)
	write := func() {
		wctx := context.WithoutCancel(ctx)
		if batcher != nil {
			if err := batcher.AppendAudits(wctx, batch); err != nil {
				h.opts.Logger.Error("audit log write failed", "action", platform.AuditToolCall, "entries", len(batch), "err", err)
			}
		} else {
			for _, e := range batch {
				if err := h.opts.Audit.AppendAudit(wctx, e); err != nil {
					h.opts.Logger.Error("audit log write failed", "action", e.Action, "target", e.Target, "err", err)
				}
			}
		}
		clear(batch)
		batch = batch[:0]
	}
	// drain adds what is queued now to the batch, writing when it is full.
	drain := func() {
		for {
			select {
			case e := <-h.audits:
				batch = append(batch, e)
				if len(batch) == maxAuditBatch {
					write()
				}
			default:
				return
			}
		}
	}
	for {
		select {
		case e := <-h.audits:
			batch = append(batch, e)
			drain()
			write()
		case <-ctx.Done():
			drain()
			if len(batch) > 0 {
				write()
			}
			return
		}
	}
}

// recorder is the response writer a tool call hands the gateway.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
