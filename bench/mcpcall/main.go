// Command mcpcall compares a tool call through a namespace's MCP endpoint with the same
// call through the HTTP gateway, against a real `platform server`, and times tools/list.
//
//	mcpcall -url URL -namespace NS -token TOKEN [-n 500 -rounds 3] [-lists 200 -sessions 20]
//
// It opens one MCP session to URL/mcp/NS with the official Go SDK's client (an
// http.Client whose RoundTripper adds "Authorization: Bearer TOKEN"), timing that first
// connection together with its first tools/list. Then, after -warmup calls of each path,
// it alternates in -rounds rounds (so drift in machine load falls on every path alike;
// the order of the paths rotates every round) three paths of -n sequential calls each,
// timing every call: tools/call of -tool in that session; POST URL/api/SERVICE/ENDPOINT
// with -body, the Micro-Namespace header and the same token on a keep-alive http.Client;
// and the same tools/call by a minimal client in a second session (a POST of the JSON-RPC
// message with the session ID and a read of the answer: the least a client can cost, so
// the difference from the SDK's client is the client's). Last it times -lists tools/list
// in the SDK's session, and -sessions new sessions (connect, list, close).
//
// It prints markdown tables (stdout): p50, p90, p99 and mean of each path per round and
// over all rounds, with the ratio of each MCP path to the gateway at the p50 and the
// mean; then the tools/list figures. A failed call is counted as an error and left out
// of the latencies.
//
// -paths chooses the paths (gateway, sdk, minimal; e.g. one alone while a profiler
// records the server). With -want-tools N, the first tools/list must show at least N
// tools, else mcpcall fails: a namespace whose services are not all registered yet
// would list fewer.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// config is the parsed command line.
type config struct {
	url, namespace, token              string
	tool, service, endpoint, body      string
	paths                              string
	n, rounds, warmup, lists, sessions int
	wantTools                          int
}

func main() {
	var c config
	flag.StringVar(&c.url, "url", "", "platform server URL, e.g. http://127.0.0.1:8080 (required)")
	flag.StringVar(&c.namespace, "namespace", "", "namespace (required)")
	flag.StringVar(&c.token, "token", os.Getenv("PLATFORM_TOKEN"), "platform token (default env PLATFORM_TOKEN)")
	flag.StringVar(&c.tool, "tool", "", "tool to call (default SERVICE.ENDPOINT)")
	flag.StringVar(&c.service, "service", "helloworld", "service of the gateway call")
	flag.StringVar(&c.endpoint, "endpoint", "Helloworld.Call", "endpoint of the gateway call")
	flag.StringVar(&c.body, "body", `{"name":"Alice"}`, "request body: the gateway's body and the tool's arguments (a JSON object)")
	flag.StringVar(&c.paths, "paths", "gateway,sdk,minimal", "the paths to time, comma separated: gateway, sdk (tools/call with the go-sdk client), minimal (tools/call by a minimal client)")
	flag.IntVar(&c.n, "n", 500, "sequential calls of each path per round (0: no calls)")
	flag.IntVar(&c.rounds, "rounds", 3, "rounds of -n calls of each path")
	flag.IntVar(&c.warmup, "warmup", 100, "calls of each path before the rounds, not reported")
	flag.IntVar(&c.lists, "lists", 200, "tools/list in the connected session")
	flag.IntVar(&c.sessions, "sessions", 20, "new sessions, each connected, listed and closed")
	flag.IntVar(&c.wantTools, "want-tools", 0, "fail unless the first tools/list shows at least this many tools")
	flag.Parse()
	if c.url == "" || c.namespace == "" || c.token == "" {
		fmt.Fprintln(os.Stderr, "mcpcall: -url, -namespace and -token are required")
		flag.Usage()
		os.Exit(2)
	}
	if c.tool == "" {
		c.tool = c.service + "." + c.endpoint
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, c, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mcpcall:", err)
		os.Exit(1)
	}
}

// bearer adds the platform token to every request.
type bearer struct {
	token string
	base  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}

// transport is a keep-alive transport of its own for one client.
func transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	return t
}

// sample is the latencies of one kind of operation and its failures.
type sample struct {
	lat    []time.Duration
	errors int
}

func (s *sample) add(d time.Duration, err error) {
	if err != nil {
		if s.errors == 0 {
			fmt.Fprintln(os.Stderr, "mcpcall: first error:", err)
		}
		s.errors++
		return
	}
	s.lat = append(s.lat, d)
}

// pct is the p-th percentile (nearest rank) of the sorted latencies.
func (s *sample) pct(p float64) time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(s.lat)))) - 1
	return s.lat[max(i, 0)]
}

func (s *sample) mean() time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range s.lat {
		sum += d
	}
	return sum / time.Duration(len(s.lat))
}

func (s *sample) sort() { slices.Sort(s.lat) }

// ms formats a duration in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }

func ratio(a, b time.Duration) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", float64(a)/float64(b))
}

// row prints a table row: the label cells, then count, errors, p50, p90, p99, mean.
func row(w io.Writer, s *sample, label ...string) {
	s.sort()
	fmt.Fprintf(w, "| %s | %d | %d | %s | %s | %s | %s |\n", strings.Join(label, " | "), len(s.lat), s.errors,
		ms(s.pct(50)), ms(s.pct(90)), ms(s.pct(99)), ms(s.mean()))
}

// bench holds the two clients and what they call.
type bench struct {
	c       config
	args    map[string]any
	gateway *http.Client
	mcp     *http.Client
	sdk     *sdk.Client
	apiURL  string
}

// connect opens an MCP session to the namespace.
func (b *bench) connect(ctx context.Context) (*sdk.ClientSession, error) {
	return b.sdk.Connect(ctx, &sdk.StreamableClientTransport{
		Endpoint:   strings.TrimSuffix(b.c.url, "/") + "/mcp/" + b.c.namespace,
		HTTPClient: b.mcp,
		MaxRetries: -1,
	}, nil)
}

// list lists every tool of the session.
func list(ctx context.Context, cs *sdk.ClientSession) (int, error) {
	n := 0
	for _, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// toolCall makes one tools/call and checks that the service answered.
func (b *bench) toolCall(ctx context.Context, cs *sdk.ClientSession) error {
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: b.c.tool, Arguments: b.args})
	if err != nil {
		return err
	}
	if res.IsError {
		var text []string
		for _, c := range res.Content {
			if t, ok := c.(*sdk.TextContent); ok {
				text = append(text, t.Text)
			}
		}
		return fmt.Errorf("tool error: %s", strings.Join(text, " "))
	}
	return nil
}

// gatewayCall makes one POST /api/SERVICE/ENDPOINT and reads the whole answer.
func (b *bench) gatewayCall(ctx context.Context) error {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, b.apiURL, strings.NewReader(b.c.body))
	if err != nil {
		return err
	}
	r.Header.Set("Authorization", "Bearer "+b.c.token)
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Micro-Namespace", b.c.namespace)
	resp, err := b.gateway.Do(r)
	if err != nil {
		return err
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, out)
	}
	return nil
}

// rawSession is an MCP session driven by hand over HTTP: a POST of the JSON-RPC
// message with the session ID, and a read of the whole answer.
type rawSession struct {
	b      *bench
	client *http.Client
	id     string
	msg    []byte
}

// protocolVersion is the MCP version the minimal client speaks.
const protocolVersion = "2025-11-25"

func (b *bench) rawSession(ctx context.Context) (*rawSession, error) {
	rs := &rawSession{b: b, client: &http.Client{Transport: bearer{token: b.c.token, base: transport()}}}
	params, _ := json.Marshal(map[string]any{"name": b.c.tool, "arguments": b.args})
	rs.msg = []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":` + string(params) + `}`)
	resp, body, err := rs.post(ctx, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"`+protocolVersion+
		`","capabilities":{},"clientInfo":{"name":"mcpcall-minimal","version":"1"}}}`)
	if err != nil {
		return nil, err
	}
	if rs.id = resp.Header.Get("Mcp-Session-Id"); rs.id == "" {
		return nil, fmt.Errorf("initialize: HTTP %d without a session ID: %s", resp.StatusCode, body)
	}
	if _, _, err := rs.post(ctx, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); err != nil {
		return nil, err
	}
	return rs, nil
}

// post sends one message and reads the whole answer.
func (rs *rawSession) post(ctx context.Context, msg string) (*http.Response, []byte, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(rs.b.c.url, "/")+"/mcp/"+rs.b.c.namespace, strings.NewReader(msg))
	if err != nil {
		return nil, nil, err
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json, text/event-stream")
	if rs.id != "" {
		r.Header.Set("Mcp-Session-Id", rs.id)
		r.Header.Set("Mcp-Protocol-Version", protocolVersion)
	}
	resp, err := rs.client.Do(r)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode >= 300 {
		return nil, nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
	}
	return resp, body, nil
}

// toolCall makes one tools/call and checks that the service answered.
func (rs *rawSession) toolCall(ctx context.Context) error {
	_, body, err := rs.post(ctx, string(rs.msg))
	if err != nil {
		return err
	}
	if !bytes.Contains(body, []byte(`"result"`)) || bytes.Contains(body, []byte(`"isError":true`)) {
		return fmt.Errorf("tool call failed: %s", body)
	}
	return nil
}

// path is one way of making the call.
type path struct {
	key, name string
	call      func() error
}

// calls warms up, then times c.rounds rounds of c.n sequential calls of each path,
// rotating their order every round, and prints the table; the first path, when it is the
// gateway, is what the others are compared with.
func (b *bench) calls(ctx context.Context, w io.Writer, paths []path) error {
	c := b.c
	fmt.Fprintf(os.Stderr, "mcpcall: warming up (%d calls of each path)\n", c.warmup)
	for range c.warmup {
		for _, p := range paths {
			if err := p.call(); err != nil {
				return fmt.Errorf("warm-up, %s: %w", p.name, err)
			}
		}
	}
	all := make([]sample, len(paths))
	fmt.Fprintf(w, "### Tool call through /mcp vs POST /api: %d sequential calls of each path × %d rounds\n\n", c.n, c.rounds)
	fmt.Fprintf(w, "`%s` in an MCP session vs `POST /api/%s/%s` (keep-alive http.Client), body `%s`. "+
		"The go-sdk client is what a Go agent uses; the minimal client posts the JSON-RPC message with the session ID and reads the answer, the least a client can cost. "+
		"The order of the paths rotates every round.\n\n",
		c.tool, c.service, c.endpoint, c.body)
	fmt.Fprintln(w, "| round | path | calls | errors | p50 | p90 | p99 | mean |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|")
	compare := paths[0].key == "gateway"
	roundRatios := make([][]string, len(paths))
	for r := 1; r <= c.rounds; r++ {
		cur := make([]sample, len(paths))
		for k := range paths {
			i := (k + r - 1) % len(paths)
			for range c.n {
				t := time.Now()
				err := paths[i].call()
				cur[i].add(time.Since(t), err)
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var p50s []string
		for i := range paths {
			row(w, &cur[i], fmt.Sprint(r), paths[i].name)
			all[i].lat, all[i].errors = append(all[i].lat, cur[i].lat...), all[i].errors+cur[i].errors
			if compare {
				roundRatios[i] = append(roundRatios[i], fmt.Sprintf("%s / %s", ratio(cur[i].pct(50), cur[0].pct(50)), ratio(cur[i].mean(), cur[0].mean())))
			}
			p50s = append(p50s, paths[i].key+" "+ms(cur[i].pct(50)))
		}
		fmt.Fprintf(os.Stderr, "mcpcall: round %d/%d: p50 %s\n", r, c.rounds, strings.Join(p50s, ", "))
	}
	for i := range paths {
		row(w, &all[i], "all", paths[i].name)
	}
	fmt.Fprintln(w)
	if compare && len(paths) > 1 {
		gw := &all[0]
		for i := 1; i < len(paths); i++ {
			m := &all[i]
			fmt.Fprintf(w, "- %s / gateway, all rounds: **p50 %s**, mean %s, p90 %s, p99 %s (target ≤ 1.2×); per round p50 / mean: %s. Difference at the p50: %+.0f µs.\n",
				paths[i].name, ratio(m.pct(50), gw.pct(50)), ratio(m.mean(), gw.mean()),
				ratio(m.pct(90), gw.pct(90)), ratio(m.pct(99), gw.pct(99)),
				strings.Join(roundRatios[i], "; "), float64(m.pct(50)-gw.pct(50))/1e3)
		}
		fmt.Fprintln(w)
	}
	return nil
}

func run(ctx context.Context, c config, w io.Writer) error {
	b := &bench{
		c:       c,
		gateway: &http.Client{Transport: transport(), Timeout: time.Minute},
		mcp:     &http.Client{Transport: bearer{token: c.token, base: transport()}},
		sdk:     sdk.NewClient(&sdk.Implementation{Name: "mcpcall", Version: "1.0"}, nil),
		apiURL:  strings.TrimSuffix(c.url, "/") + "/api/" + c.service + "/" + c.endpoint,
	}
	if err := json.Unmarshal([]byte(c.body), &b.args); err != nil {
		return fmt.Errorf("-body is not a JSON object: %w", err)
	}

	// The first connection and its first list.
	start := time.Now()
	cs, err := b.connect(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer cs.Close()
	tools, err := list(ctx, cs)
	first := time.Since(start)
	if err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	if tools < c.wantTools {
		return fmt.Errorf("tools/list shows %d tools, want at least %d", tools, c.wantTools)
	}
	fmt.Fprintf(os.Stderr, "mcpcall: first connection and tools/list: %s, %d tools\n", ms(first), tools)

	if c.n > 0 {
		raw, err := b.rawSession(ctx)
		if err != nil {
			return fmt.Errorf("minimal client's session: %w", err)
		}
		var paths []path
		for _, p := range []path{
			{"gateway", "gateway `POST /api`", func() error { return b.gatewayCall(ctx) }},
			{"sdk", "MCP `tools/call`, go-sdk client", func() error { return b.toolCall(ctx, cs) }},
			{"minimal", "MCP `tools/call`, minimal client", func() error { return raw.toolCall(ctx) }},
		} {
			if c.paths == "" || slices.Contains(strings.Split(c.paths, ","), p.key) {
				paths = append(paths, p)
			}
		}
		if len(paths) == 0 {
			return fmt.Errorf("-paths %q names none of gateway, sdk, minimal", c.paths)
		}
		if err := b.calls(ctx, w, paths); err != nil {
			return err
		}
	}

	if c.lists > 0 || c.sessions > 0 {
		var lists, sessions sample
		for range c.lists {
			t := time.Now()
			n, err := list(ctx, cs)
			if err == nil && n != tools {
				err = fmt.Errorf("tools/list shows %d tools, first %d", n, tools)
			}
			lists.add(time.Since(t), err)
		}
		for range c.sessions {
			t := time.Now()
			s, err := b.connect(ctx)
			if err == nil {
				var n int
				n, err = list(ctx, s)
				if err == nil && n != tools {
					err = fmt.Errorf("tools/list shows %d tools, first %d", n, tools)
				}
				d := time.Since(t)
				s.Close()
				sessions.add(d, err)
				continue
			}
			sessions.add(time.Since(t), err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintf(w, "### tools/list of namespace %s: %d tools\n\n", c.namespace, tools)
		fmt.Fprintln(w, "| measurement | samples | errors | p50 | p90 | p99 | mean |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
		firstS := sample{lat: []time.Duration{first}}
		row(w, &firstS, "first connection of this client + tools/list")
		if c.lists > 0 {
			row(w, &lists, "tools/list in the connected session")
		}
		if c.sessions > 0 {
			row(w, &sessions, "new session: connect + tools/list")
		}
		fmt.Fprintln(w)
	}
	return nil
}
