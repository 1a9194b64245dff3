package cli

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
)

func init() { register((*app).mcpCmd) }

// mcpRoute is where the server answers the Model Context Protocol for a namespace
// (Streamable HTTP): /mcp/{namespace}.
const mcpRoute = "/mcp/"

func (a *app) mcpCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mcp",
		Short: "See a namespace as an AI agent does over MCP, and connect an agent to it",
		Long: "Every namespace is an MCP server (Model Context Protocol, Streamable HTTP) at\n" +
			"SERVER/mcp/NAMESPACE: an agent connected to it sees one tool per endpoint of each\n" +
			"service of the namespace, named service.Type.Method, described by the handler's doc\n" +
			"comment, with its request's fields and its @example as the input schema.\n\n" +
			"tools lists what an agent will see; config prints what a desktop agent or an IDE\n" +
			"needs to connect.",
		Example: `  platform mcp tools -n acme
  platform mcp config -n acme`,
		Args: args(0, 0, "a subcommand (tools, config)"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error { return cmd.Help() }),
	}
	cmd.AddCommand(a.mcpToolsCmd(), a.mcpConfigCmd())
	return cmd
}

func (a *app) mcpToolsCmd() *cobra.Command {
	var ns string
	cmd := &cobra.Command{
		Use:     "tools",
		Aliases: []string{"ls", "list"},
		Short:   "List the tools an agent connected to a namespace sees",
		Long: "tools lists the MCP tools of a namespace: one per endpoint of each registered\n" +
			"service, with the first line of its description and the scopes it requires (a\n" +
			"caller's token must hold one). Tools your token may not call are left out, as they\n" +
			"are for an agent using it. -o json prints the whole tools, input schemas included.",
		Example: `  platform mcp tools -n acme
  platform mcp tools -n acme -o json`,
		Args: args(0, 0, "no arguments"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			c, ns, err := a.connectNS(cmd, ns)
			if err != nil {
				return err
			}
			list, err := c.ListTools(cmd.Context(), ns)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(orEmpty(list))
			}
			if len(list) == 0 {
				fmt.Fprintf(a.stdout, "No tools in %s: none of its services is registered (or your token may call none).\n", ns)
				fmt.Fprintf(a.stdout, "Deploy one with `platform deploy DIR -n %s`: each endpoint of a service becomes a tool.\n", ns)
				return nil
			}
			return a.printTools(list)
		}),
	}
	addNamespaceFlag(cmd, &ns)
	return cmd
}

// Widths of the tools table's description: the default, and the least it is cut to
// when the terminal (COLUMNS) is narrow.
const (
	toolDescriptionWidth    = 60
	toolDescriptionMinWidth = 20
)

// printTools writes the tools as a table; each description is cut to its first line and
// to what fits beside the other columns in COLUMNS, when the environment gives it.
func (a *app) printTools(list []platform.Tool) error {
	nameW, scopesW := len("TOOL"), len("SCOPES")
	scopes := make([]string, len(list))
	for i, t := range list {
		scopes[i] = orDash(strings.Join(t.Scopes, ","))
		nameW, scopesW = max(nameW, len([]rune(t.Name))), max(scopesW, len([]rune(scopes[i])))
	}
	width := toolDescriptionWidth
	if cols, err := strconv.Atoi(a.env["COLUMNS"]); err == nil && cols > 0 {
		width = max(cols-nameW-scopesW-6, toolDescriptionMinWidth) // 3 spaces between columns
	}
	tw := table(a.stdout)
	fmt.Fprintln(tw, "TOOL\tDESCRIPTION\tSCOPES")
	for i, t := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, firstLine(t.Description, width), scopes[i])
	}
	return tw.Flush()
}

// firstLine is the first non-empty line of s, its spaces collapsed, cut to width runes
// with an ellipsis; "-" for none.
func firstLine(s string, width int) string {
	var line string
	for l := range strings.Lines(s) {
		if line = strings.Join(strings.Fields(l), " "); line != "" {
			break
		}
	}
	if r := []rune(line); len(r) > width {
		line = string(r[:width-1]) + "…"
	}
	return orDash(line)
}

// envVarName is what a desktop agent's config can reference as ${NAME}.
var envVarName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// mcpConfig is the configuration file of a desktop agent or an IDE (Claude Desktop's
// claude_desktop_config.json, an IDE's mcp.json): its servers by name.
type mcpConfig struct {
	MCPServers map[string]mcpServer `json:"mcpServers"`
}

// mcpServer is one MCP server reached over Streamable HTTP.
type mcpServer struct {
	Type    string            `json:"type"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
}

func (a *app) mcpConfigCmd() *cobra.Command {
	var ns, tokenEnv string
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the MCP server config a desktop agent or an IDE needs to reach a namespace",
		Long: "config prints the \"mcpServers\" JSON that connects a desktop agent (Claude Desktop)\n" +
			"or an IDE to the namespace's MCP endpoint, SERVER/mcp/NAMESPACE over Streamable\n" +
			"HTTP, with SERVER the one this CLI talks to (--server, PLATFORM_SERVER or\n" +
			"`platform login`'s). It makes no request.\n\n" +
			"The config never holds a secret: its Authorization header names an environment\n" +
			"variable (--token-env, default PLATFORM_TOKEN) for the agent to read. Give the agent\n" +
			"a token of its own, narrowed to the namespace, rather than yours:\n\n" +
			"    platform tokens create agent --role developer --namespace NAMESPACE\n\n" +
			"(--scopes grants it the go-micro scopes endpoints require, --tools narrows it to some\n" +
			"tools). Clients that support OAuth can leave the header out and sign in through the\n" +
			"browser.",
		Example: `  platform mcp config -n acme
  platform mcp config -n acme --token-env ACME_AGENT_TOKEN`,
		Args: args(0, 0, "no arguments"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			if !envVarName.MatchString(tokenEnv) {
				return usageErrorf("--token-env %q: want an environment variable's name, e.g. PLATFORM_TOKEN", tokenEnv)
			}
			c, ns, err := a.connectNS(cmd, ns)
			if err != nil {
				return err
			}
			if err := platform.ValidateName("namespace", ns); err != nil {
				return &usageError{err: err}
			}
			conf := mcpConfig{MCPServers: map[string]mcpServer{
				"platform-" + ns: {
					Type:    "http",
					URL:     c.Server() + mcpRoute + url.PathEscape(ns),
					Headers: map[string]string{"Authorization": "Bearer ${" + tokenEnv + "}"},
				},
			}}
			if err := a.printJSON(conf); err != nil {
				return err
			}
			if a.jsonOutput() {
				return nil
			}
			fmt.Fprintln(a.stderr, "Add this to your agent's MCP servers (Claude Desktop: claude_desktop_config.json; an IDE: its mcpServers settings).")
			fmt.Fprintf(a.stderr, "It holds no secret: the agent sends the token in $%s. Give the agent a token of its own, narrowed to %s, rather than yours:\n\n", tokenEnv, ns)
			fmt.Fprintf(a.stderr, "    platform tokens create agent --role developer --namespace %s\n\n", ns)
			fmt.Fprintf(a.stderr, "Add --scopes to grant it the go-micro scopes endpoints require, --tools to narrow it to some tools; then set %s to its secret where the agent runs.\n", tokenEnv)
			fmt.Fprintln(a.stderr, `Clients that support OAuth can leave out "headers" and sign in through the browser.`)
			return nil
		}),
	}
	addNamespaceFlag(cmd, &ns)
	cmd.Flags().StringVar(&tokenEnv, "token-env", envToken, "environment variable the agent reads its token from")
	return cmd
}
