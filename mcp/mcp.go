// Package mcp serves every namespace as a Model Context Protocol server: an AI agent
// (Claude, an IDE, any MCP client) connects to /mcp over the Streamable HTTP transport
// with a platform token and sees one tool per endpoint of each service of the namespace —
// the names, descriptions, input schemas and examples go-micro's own `micro mcp` shows —
// and calls them.
//
// The protocol is the official Go SDK's (github.com/modelcontextprotocol/go-sdk); this
// package adds the platform around it: the namespace (Micro-Namespace header, host
// prefix, or /mcp/{namespace}), authentication with the platform's tokens and the
// gateway's authorisation policy, the scope challenge of the MCP authorization
// specification (403 insufficient_scope for an endpoint declared with go-micro's
// server.WithEndpointScopes), and the tools of each namespace kept current as releases
// roll out (clients are sent notifications/tools/list_changed). A tool call is made
// through the gateway's own handler — the same authorisation, tool narrowing, rate
// limits, routing across regions and request metering as POST /api/... — then audited
// (token, tool, outcome, duration) and counted as a tool_calls usage event.
package mcp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
)

// Defaults for Options.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultRefresh      = 30 * time.Second
	DefaultIdle         = 10 * time.Minute
)

// Path is where the API server mounts the handler; /mcp/{namespace} also selects a
// namespace.
const Path = "/mcp"

// Gateway is the data path tool calls take (gateway.Gateway).
type Gateway interface {
	// ServeHTTP serves POST /api/{service}/{Type.Method}.
	http.Handler
	// Namespace returns the namespace a request names (header or host prefix).
	Namespace(r *http.Request) string
	// Authorize applies the gateway's policy to the token in ctx.
	Authorize(ctx context.Context, action authz.Action, ns string) error
}

// Publisher takes usage events to the metering pipeline (metering.Publisher).
type Publisher interface {
	// PublishWait hands e over, waiting for room until ctx ends.
	PublishWait(ctx context.Context, e platform.UsageEvent) error
}

// Options configure a Handler. Tools, Gateway and Auth are required.
type Options struct {
	// Tools returns a namespace's tools (control.Plane.Tools); the handler keeps them
	// per namespace and asks again on Changed and every Refresh.
	Tools func(ctx context.Context, ns string) ([]platform.Tool, error)
	// Gateway carries the calls and holds the policy.
	Gateway Gateway
	// Auth resolves bearer secrets to tokens; it must cache.
	Auth platform.Authenticator
	// Audit, when set, receives an entry per tool call (written in the background, in
	// order, never dropped: a full queue holds the caller back).
	Audit platform.AuditStore
	// Metering, when set, receives a tool_calls usage event per call that reached the
	// gateway's data path (not those refused before it).
	Metering Publisher
	// Region is the region the usage is recorded in.
	Region string
	// ResourceMetadata returns the URL of the protected-resource metadata (RFC 9728)
	// named in WWW-Authenticate challenges; nil names none.
	ResourceMetadata func(r *http.Request) string
	// MaxBodyBytes bounds a request message. Default 1 MiB.
	MaxBodyBytes int64
	// Refresh is how often the tools of a namespace with sessions are read again, on
	// top of Changed. Default 30s.
	Refresh time.Duration
	// Idle closes a session that sends nothing for this long. Default 10m.
	Idle time.Duration
	// Version is the platform's version, sent as the server's.
	Version string
	Logger  *slog.Logger
	Clock   platform.Clock
}

func (o Options) withDefaults() Options {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Refresh <= 0 {
		o.Refresh = DefaultRefresh
	}
	if o.Idle <= 0 {
		o.Idle = DefaultIdle
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = platform.SystemClock{}
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	return o
}

// Handler serves /mcp. Create it with New and run Start.
type Handler struct {
	opts   Options
	audits chan *platform.AuditEntry
	// instance makes usage event IDs unique to this process.
	instance string

	mu     sync.Mutex
	spaces map[string]*space
	wake   chan struct{}
}

// New returns a Handler.
func New(opts Options) *Handler {
	opts = opts.withDefaults()
	var id [6]byte
	_, _ = rand.Read(id[:])
	return &Handler{
		opts:     opts,
		audits:   make(chan *platform.AuditEntry, 4096),
		instance: hex.EncodeToString(id[:]),
		spaces:   make(map[string]*space),
		wake:     make(chan struct{}, 1),
	}
}

// Start refreshes the tools of the namespaces with sessions every Refresh and writes
// the audit log until ctx ends; it writes what is queued before it returns.
func (h *Handler) Start(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.writeAudits(ctx)
	}()
	t := time.NewTicker(h.opts.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			<-done
			return nil
		case <-t.C:
			idleSince := h.opts.Clock.Now().Add(-h.opts.Idle)
			for _, sp := range h.all() {
				switch {
				case sp.connected():
					sp.refresh(ctx)
				case sp.usedBefore(idleSince):
					h.drop(sp)
				default:
					sp.stale()
				}
			}
		}
	}
}

// Changed tells the handler that what runs in ns changed (a release rolled out, a
// service was deleted): its tools are read again now and twice more as the registry
// settles (old nodes deregister after the rollout), and clients are notified of a
// change. It does not block.
func (h *Handler) Changed(ns string) {
	h.mu.Lock()
	sp := h.spaces[ns]
	h.mu.Unlock()
	if sp == nil {
		return
	}
	if !sp.connected() {
		sp.stale()
		return
	}
	sp.soon()
}

// drop forgets a namespace's server that has had no session and no request for Idle:
// the namespaces a token may reach are many, and each server holds its tools.
func (h *Handler) drop(sp *space) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.spaces[sp.ns] == sp {
		delete(h.spaces, sp.ns)
	}
}

// all returns the namespaces that have had a connection.
func (h *Handler) all() []*space {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*space
	for _, sp := range h.spaces {
		out = append(out, sp)
	}
	return out
}

// ServeHTTP serves the MCP Streamable HTTP transport of one namespace.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ns := strings.Trim(strings.TrimPrefix(r.URL.Path, Path), "/")
	if ns == "" {
		ns = h.opts.Gateway.Namespace(r)
	}
	if ns == "" {
		writeError(w, platform.Errorf(platform.EINVALID, "no namespace").
			WithHint("connect to /mcp/{namespace}, or send the Micro-Namespace header"))
		return
	}
	if err := platform.ValidateName("namespace", ns); err != nil {
		writeError(w, err)
		return
	}
	secret := bearer(r)
	if secret == "" {
		h.challenge(w, r, "", "no bearer token")
		return
	}
	tok, err := h.opts.Auth.Authenticate(r.Context(), secret)
	if err != nil {
		if platform.ErrorCode(err) == platform.EUNAUTHENTICATED {
			h.challenge(w, r, "invalid_token", platform.ErrorMessage(err))
			return
		}
		writeError(w, err)
		return
	}
	ctx := platform.NewContextWithToken(r.Context(), tok)
	if err := h.opts.Gateway.Authorize(ctx, authz.ServiceRead, ns); err != nil {
		writeError(w, err)
		return
	}
	sp, err := h.space(ctx, ns)
	if err != nil {
		writeError(w, err)
		return
	}
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				writeStatus(w, http.StatusRequestEntityTooLarge, platform.Errorf(platform.EINVALID, "message larger than %d bytes", h.opts.MaxBodyBytes).
					WithHint("send smaller arguments"))
				return
			}
			writeError(w, platform.Errorf(platform.EINVALID, "read the message: %v", err))
			return
		}
		// A tool the token may not see is an unknown tool (narrow answers it), not one
		// to challenge for.
		if t, id, ok := sp.toolCalled(body); ok && tok.AllowsTool(t.Service, t.Endpoint) && !tok.HoldsScope(t.Scopes) {
			h.refuseScope(w, r, tok, ns, t, id)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	info := &sdkauth.TokenInfo{
		// A session is bound to the token that opened it: another token cannot use it.
		UserID: tok.ID,
		Scopes: tok.Scopes,
		Extra:  map[string]any{extraToken: tok, extraSecret: secret, extraSource: r.RemoteAddr},
	}
	if tok.ExpiresAt != nil {
		info.Expiration = *tok.ExpiresAt
	}
	withInfo := sdkauth.RequireBearerToken(func(context.Context, string, *http.Request) (*sdkauth.TokenInfo, error) {
		return info, nil
	}, &sdkauth.RequireBearerTokenOptions{AllowMissingExpiration: true})
	withInfo(sp.http).ServeHTTP(w, r.WithContext(ctx))
}

// Keys of the token information the tool handlers read.
const (
	extraToken  = "platform.token"
	extraSecret = "platform.secret"
	extraSource = "platform.source"
)

// challenge answers 401 with the MCP authorization specification's challenge: where
// the protected-resource metadata is, so an interactive client can sign in.
func (h *Handler) challenge(w http.ResponseWriter, r *http.Request, code, msg string) {
	params := []string{`realm="mcp"`}
	if code != "" {
		params = append(params, fmt.Sprintf("error=%q", code), fmt.Sprintf("error_description=%q", msg))
	}
	if h.opts.ResourceMetadata != nil {
		params = append(params, fmt.Sprintf("resource_metadata=%q", h.opts.ResourceMetadata(r)))
	}
	w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
	writeError(w, platform.Errorf(platform.EUNAUTHENTICATED, "%s", msg).
		WithHint("send `Authorization: Bearer <token>`; create one with `platform tokens create agent --role developer --namespace NS`, or sign in with an OAuth-capable MCP client"))
}

// refuseScope answers a tools/call (request id) of a tool whose scopes the token holds
// none of with the specification's insufficient_scope challenge (HTTP 403), and audits
// it. Nothing is called. The body is a JSON-RPC error answering the call, with the
// platform's error as its data: an MCP client without an OAuth flow then reports the
// refusal to its caller and keeps the session (the SDK's client closes a session on a
// 403 whose body is not JSON-RPC).
func (h *Handler) refuseScope(w http.ResponseWriter, r *http.Request, tok *platform.Token, ns string, t platform.Tool, id json.RawMessage) {
	msg := scopeMessage(t)
	params := []string{`error="insufficient_scope"`, fmt.Sprintf("scope=%q", strings.Join(t.Scopes, " ")), fmt.Sprintf("error_description=%q", msg)}
	if h.opts.ResourceMetadata != nil {
		params = append(params, fmt.Sprintf("resource_metadata=%q", h.opts.ResourceMetadata(r)))
	}
	w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
	h.audit(tok, ns, t.Name, platform.AuditDenied, 0, msg, r.RemoteAddr)
	body, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   *jsonrpc.Error  `json:"error"`
	}{"2.0", id, scopeError(ns, t)})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write(body)
}

// codeInsufficientScope is the JSON-RPC error code of a call refused for its scopes.
const codeInsufficientScope = -32003

func scopeMessage(t platform.Tool) string {
	return fmt.Sprintf("%s requires scope %s", t.Name, strings.Join(t.Scopes, " or "))
}

// scopeError is the JSON-RPC error of a call of t refused for its scopes, with the
// platform's error body as its data.
func scopeError(ns string, t platform.Tool) *jsonrpc.Error {
	data, _ := json.Marshal(platform.ErrorBody{Code: platform.EFORBIDDEN, Message: scopeMessage(t),
		Hint: fmt.Sprintf("use a token that holds it: `platform tokens create agent --namespace %s --scopes %s`", ns, t.Scopes[0])})
	return &jsonrpc.Error{Code: codeInsufficientScope, Message: scopeMessage(t), Data: data}
}

// space returns the namespace's MCP server, making it (and reading its tools) if new.
func (h *Handler) space(ctx context.Context, ns string) (*space, error) {
	h.mu.Lock()
	sp := h.spaces[ns]
	if sp == nil {
		sp = h.newSpace(ns)
		h.spaces[ns] = sp
	}
	h.mu.Unlock()
	sp.used.Store(h.opts.Clock.Now().UnixNano())
	if err := sp.load(ctx); err != nil {
		return nil, err
	}
	return sp, nil
}

// writeError writes err as the platform's JSON error body with its code's HTTP status.
func writeError(w http.ResponseWriter, err error) {
	writeStatus(w, platform.HTTPStatus(platform.ErrorCode(err)), err)
}

func writeStatus(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(platform.ErrorResponse{Error: platform.ErrorBody{
		Code: platform.ErrorCode(err), Message: platform.ErrorMessage(err), Hint: platform.ErrorHint(err),
	}})
}

func bearer(r *http.Request) string {
	v := r.Header.Get("Authorization")
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return ""
}

// space is one namespace's MCP server and its tools.
type space struct {
	h      *Handler
	ns     string
	server *sdk.Server
	http   http.Handler

	loadMu sync.Mutex // one read of the tools at a time
	mu     sync.Mutex
	loaded bool
	tools  map[string]*tool
	// used is when a request last came (Unix nanoseconds).
	used atomic.Int64
}

// usedBefore reports whether the last request came before t.
func (sp *space) usedBefore(t time.Time) bool { return sp.used.Load() < t.UnixNano() }

// tool is a platform tool with its resolved input schema.
type tool struct {
	platform.Tool
	schema *jsonschema.Resolved
}

func (h *Handler) newSpace(ns string) *space {
	sp := &space{h: h, ns: ns, tools: map[string]*tool{}}
	sp.server = sdk.NewServer(&sdk.Implementation{Name: "platform-" + ns, Title: "Micro Platform namespace " + ns, Version: h.opts.Version},
		&sdk.ServerOptions{
			Instructions: fmt.Sprintf("The go-micro services of the namespace %q on Micro Platform; each tool calls one endpoint.", ns),
			Capabilities: &sdk.ServerCapabilities{Tools: &sdk.ToolCapabilities{ListChanged: true}},
			Logger:       h.opts.Logger,
		})
	sp.server.AddReceivingMiddleware(sp.narrow)
	sp.http = sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return sp.server },
		&sdk.StreamableHTTPOptions{
			SessionTimeout:      h.opts.Idle,
			MaxRequestBodyBytes: h.opts.MaxBodyBytes,
			Logger:              h.opts.Logger,
			// The platform is reached at many names (the gateway's domain, a load
			// balancer); tokens, not the Host header, protect it.
			DisableLocalhostProtection: true,
		})
	return sp
}

// load reads the tools the first time.
func (sp *space) load(ctx context.Context) error {
	sp.mu.Lock()
	loaded := sp.loaded
	sp.mu.Unlock()
	if loaded {
		return nil
	}
	return sp.update(ctx)
}

// connected reports whether the namespace's server has a session.
func (sp *space) connected() bool {
	for range sp.server.Sessions() {
		return true
	}
	return false
}

// stale has the tools read again at the next request: a namespace without sessions is
// not kept current in the background.
func (sp *space) stale() {
	sp.mu.Lock()
	sp.loaded = false
	sp.mu.Unlock()
}

// refresh reads the tools again; a failure keeps the ones there are.
func (sp *space) refresh(ctx context.Context) {
	if err := sp.update(ctx); err != nil && ctx.Err() == nil {
		sp.h.opts.Logger.Warn("read the tools of a namespace", "namespace", sp.ns, "err", err)
	}
}

// soon refreshes now and again after the registry has had time to settle.
func (sp *space) soon() {
	for _, d := range []time.Duration{0, time.Second, 5 * time.Second} {
		time.AfterFunc(d, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			sp.refresh(ctx)
		})
	}
}

// update reads the tools and applies the difference to the server, which notifies the
// sessions of a change.
func (sp *space) update(ctx context.Context) error {
	sp.loadMu.Lock()
	defer sp.loadMu.Unlock()
	list, err := sp.h.opts.Tools(context.WithoutCancel(ctx), sp.ns)
	if err != nil {
		return err
	}
	sp.mu.Lock()
	prev := sp.tools
	sp.mu.Unlock()
	next := make(map[string]*tool, len(list))
	for _, t := range list {
		if p := prev[t.Name]; p != nil && reflect.DeepEqual(p.Tool, t) {
			next[t.Name] = p // unchanged: its schema is resolved already
			continue
		}
		raw, err := json.Marshal(t.InputSchema)
		if err != nil {
			continue
		}
		var s jsonschema.Schema
		if err := json.Unmarshal(raw, &s); err != nil {
			continue
		}
		// Validate with the schema's types only: go-micro's examples are strings.
		s.Examples = nil
		resolved, err := s.Resolve(nil)
		if err != nil {
			sp.h.opts.Logger.Warn("a tool's input schema does not resolve; it is left out", "namespace", sp.ns, "tool", t.Name, "err", err)
			continue
		}
		next[t.Name] = &tool{Tool: t, schema: resolved}
	}
	sp.mu.Lock()
	var removed []string
	for name := range prev {
		if next[name] == nil {
			removed = append(removed, name)
		}
	}
	var added []*tool
	for name, t := range next {
		if p := prev[name]; p != t {
			added = append(added, t)
		}
	}
	sp.tools, sp.loaded = next, true
	sp.mu.Unlock()
	if len(removed) > 0 {
		sp.server.RemoveTools(removed...)
	}
	slices.SortFunc(added, func(a, b *tool) int { return strings.Compare(a.Name, b.Name) })
	for _, t := range added {
		raw, _ := json.Marshal(t.InputSchema)
		sp.server.AddTool(&sdk.Tool{Name: t.Name, Description: t.Description, InputSchema: json.RawMessage(raw)}, sp.h.call(sp, t))
	}
	return nil
}

// lookup returns the tool named name.
func (sp *space) lookup(name string) (*tool, bool) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	t, ok := sp.tools[name]
	return t, ok
}

// toolCalled returns the tool a tools/call message calls and the message's id, if body
// is one and the tool exists. It reads only single messages, and not as the SDK does
// (encoding/json matches keys in any case): narrow enforces the scopes of what the SDK
// reads; this is for the challenge.
func (sp *space) toolCalled(body []byte) (platform.Tool, json.RawMessage, bool) {
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	if json.Unmarshal(body, &msg) != nil || msg.Method != "tools/call" || len(msg.ID) == 0 {
		return platform.Tool{}, nil, false
	}
	t, ok := sp.lookup(msg.Params.Name)
	if !ok {
		return platform.Tool{}, nil, false
	}
	return t.Tool, msg.ID, true
}

// narrow leaves the tools the session's token may not call (Token.Tools) out of
// tools/list, answers a call of one as an unknown tool, and refuses a call of a tool
// whose scopes the token lacks that ServeHTTP did not challenge (a batch, keys in
// another case).
func (sp *space) narrow(next sdk.MethodHandler) sdk.MethodHandler {
	return func(ctx context.Context, method string, req sdk.Request) (sdk.Result, error) {
		tok := tokenOf(req)
		switch method {
		case "tools/list":
			res, err := next(ctx, method, req)
			if lr, ok := res.(*sdk.ListToolsResult); ok && err == nil && tok != nil && len(tok.Tools) > 0 {
				kept := make([]*sdk.Tool, 0, len(lr.Tools))
				for _, t := range lr.Tools {
					if st, ok := sp.lookup(t.Name); ok && tok.AllowsTool(st.Service, st.Endpoint) {
						kept = append(kept, t)
					}
				}
				out := *lr
				out.Tools = kept
				return &out, nil
			}
			return res, err
		case "tools/call":
			if cr, ok := req.(*sdk.CallToolRequest); ok && tok != nil && cr.Params != nil {
				if st, ok := sp.lookup(cr.Params.Name); ok {
					if !tok.AllowsTool(st.Service, st.Endpoint) {
						return nil, unknownTool(cr.Params.Name)
					}
					if !tok.HoldsScope(st.Scopes) {
						sp.h.audit(tok, sp.ns, st.Name, platform.AuditDenied, 0, scopeMessage(st.Tool), sourceOf(req))
						return nil, scopeError(sp.ns, st.Tool)
					}
				}
			}
		}
		return next(ctx, method, req)
	}
}

// sourceOf returns the agent's address the request came from.
func sourceOf(req sdk.Request) string {
	if extra := req.GetExtra(); extra != nil && extra.TokenInfo != nil {
		s, _ := extra.TokenInfo.Extra[extraSource].(string)
		return s
	}
	return ""
}

// tokenOf returns the platform token of the request's session.
func tokenOf(req sdk.Request) *platform.Token {
	extra := req.GetExtra()
	if extra == nil || extra.TokenInfo == nil {
		return nil
	}
	tok, _ := extra.TokenInfo.Extra[extraToken].(*platform.Token)
	return tok
}
