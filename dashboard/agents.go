package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	platform "github.com/micro/platform"
)

// mcpRoute is where the server answers the Model Context Protocol for a namespace
// (mcp.Path, with the namespace in the path for clients that cannot set headers).
const mcpRoute = "/mcp/"

// tokenEnv is the environment variable the agent's config names for its token: the
// config holds no secret.
const tokenEnv = "PLATFORM_TOKEN"

// agentsData is the agents page's data: how an agent connects to the namespace's MCP
// server, and the tools it sees there.
type agentsData struct {
	// URL is the namespace's MCP endpoint; Config the mcpServers JSON of a desktop
	// agent or an IDE that connects to it.
	URL    string
	Config string
	// Tools are filled by the page's later part.
	Tools []toolRow
}

// toolRow is a tool for people.
type toolRow struct {
	platform.Tool
	// Example is the tool's example input (compact JSON), "" for none.
	Example string
}

// agents is the agents page: the namespace as an MCP server. Listing the tools asks the
// namespace's registry, so the connection part goes out first (render streams a template
// with a "later" part) and the tools follow; a failed listing shows in their place.
func (d *Dashboard) agents(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	ad := &agentsData{URL: d.baseURL(r) + mcpRoute + url.PathEscape(v.NS)}
	var err error
	if ad.Config, err = mcpConfigJSON(v.NS, ad.URL); err != nil {
		return "", err
	}
	v.Title, v.Section, v.Data = "Agents", "agents", ad
	v.later = func(ctx context.Context) error {
		tools, err := d.cp.ListTools(ctx, v.NS)
		if err != nil {
			return err
		}
		for _, t := range tools {
			ad.Tools = append(ad.Tools, toolRow{Tool: t, Example: toolExample(t.InputSchema)})
		}
		return nil
	}
	return "agents", nil
}

// baseURL is the platform's public base URL: the configured one, else the address the
// page was requested at (the server serves the gateway and MCP next to the dashboard).
func (d *Dashboard) baseURL(r *http.Request) string {
	if d.opts.GatewayURL != "" {
		return d.opts.GatewayURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// mcpConfigJSON is the "mcpServers" JSON that connects a desktop agent or an IDE to the
// namespace's MCP endpoint, as `platform mcp config` prints it: its Authorization header
// names an environment variable, never a secret.
func mcpConfigJSON(ns, endpoint string) (string, error) {
	type server struct {
		Type    string            `json:"type"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
	}
	conf := map[string]any{"mcpServers": map[string]server{
		"platform-" + ns: {Type: "http", URL: endpoint, Headers: map[string]string{"Authorization": "Bearer ${" + tokenEnv + "}"}},
	}}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // the template escapes; the JSON stays as the agent reads it
	enc.SetIndent("", "  ")
	if err := enc.Encode(conf); err != nil {
		return "", err
	}
	return strings.TrimSpace(b.String()), nil
}

// toolExample is the first example of a tool's input schema as compact JSON: the
// handler's @example, a string in process or whatever a client decoded.
func toolExample(schema map[string]any) string {
	var ex any
	switch list := schema["examples"].(type) {
	case []string:
		if len(list) > 0 {
			ex = list[0]
		}
	case []any:
		if len(list) > 0 {
			ex = list[0]
		}
	}
	switch ex := ex.(type) {
	case nil:
		return ""
	case string:
		return compactJSON(ex)
	default:
		b, err := json.Marshal(ex)
		if err != nil {
			return ""
		}
		return string(b)
	}
}
