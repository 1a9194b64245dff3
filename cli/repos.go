package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
)

func init() { register((*app).reposCmd) }

func (a *app) reposCmd() *cobra.Command {
	var ns string
	cmd := &cobra.Command{
		Use:     "repos",
		Aliases: []string{"repo"},
		Short:   "Link GitHub repositories to namespaces: every push deploys",
		Long: "repos lists the GitHub repositories linked to namespaces (of one with -n, else of every\n" +
			"namespace you reach), each with its newest webhook delivery.\n\n" +
			"A linked branch deploys on every push the services it changed, and each pull request\n" +
			"against it gets a preview namespace. `platform repos workflow` prints a GitHub Actions\n" +
			"workflow that deploys from the job instead, signing in with the job's OIDC token.",
		Example: `  platform repos
  platform repos link acme/services -n acme --path services/
  platform repos unlink l-0a1b2c3d -n acme
  platform repos workflow -n acme > .github/workflows/deploy.yml`,
		Args: args(0, 0, "no arguments (or a subcommand: link, unlink, workflow)"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			// Only -n narrows the list: a default namespace from the environment or the
			// config file would hide the links of the others.
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			list, err := c.ListRepoLinks(cmd.Context(), ns)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(orEmpty(list))
			}
			if len(list) == 0 {
				where := "any namespace you reach"
				if ns != "" {
					where = ns
				}
				fmt.Fprintf(a.stdout, "No repositories linked to %s. Link one with `platform repos link OWNER/REPO -n NAMESPACE`.\n", where)
				return nil
			}
			now := time.Now()
			tw := table(a.stdout)
			fmt.Fprintln(tw, "ID\tNAMESPACE\tREPO\tBRANCH\tPATH\tPREVIEWS\tWEBHOOK\tLAST-DELIVERY")
			for _, l := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.ID, l.Namespace, l.Repo, l.Branch, orDash(l.Path),
					onOff(l.Previews), webhookState(l), lastDelivery(l.LastDelivery, now))
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().StringVarP(&ns, "namespace", "n", "", "only the links of this namespace (default: every namespace you reach)")
	cmd.AddCommand(a.linkRepoCmd(), a.unlinkRepoCmd(), a.repoWorkflowCmd())
	return cmd
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// webhookState says who added the link's webhook to GitHub.
func webhookState(l *platform.RepoLink) string {
	if l.HookID != 0 {
		return "installed"
	}
	return "by hand"
}

// lastDelivery renders a link's newest delivery as event, status and age: "push done
// 5m ago"; "-" when GitHub has sent none.
func lastDelivery(d *platform.Delivery, now time.Time) string {
	if d == nil {
		return "-"
	}
	return fmt.Sprintf("%s %s %s ago", d.Event, d.Status, age(now.Sub(d.ReceivedAt)))
}

// age renders a duration in its largest whole unit: 42s, 5m, 3h, 2d.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(int(d/time.Second), 0))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}

// linkResult is the -o json output of repos link: the API's answer.
type linkResult struct {
	Link  *platform.RepoLink  `json:"link"`
	Setup *platform.LinkSetup `json:"setup"`
}

func (a *app) linkRepoCmd() *cobra.Command {
	var (
		ns  string
		req platform.LinkRepoRequest
	)
	cmd := &cobra.Command{
		Use:   "link OWNER/REPO",
		Short: "Link a GitHub repository's branch to a namespace (admin of it)",
		Long: "link makes every push to the branch deploy the services it changed into the namespace,\n" +
			"and gives every pull request against it a preview namespace (unless --no-previews).\n" +
			"--path is the directory holding the services: its micro.mu, or one service's main package.\n\n" +
			"The platform adds the repository's webhook itself when it has a GitHub token; otherwise\n" +
			"link prints the webhook to add by hand, with its secret, which is shown only this once.",
		Example: `  platform repos link acme/services -n acme
  platform repos link acme/monorepo -n staging --branch develop --path services/ --no-previews`,
		Args: args(1, 1, "OWNER/REPO"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, ns, err := a.connectNS(cmd, ns)
			if err != nil {
				return err
			}
			req.Namespace, req.Repo = ns, args[0]
			link, setup, err := c.LinkRepo(cmd.Context(), req)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(linkResult{Link: link, Setup: setup})
			}
			a.printLink(link, setup)
			return nil
		}),
	}
	addNamespaceFlag(cmd, &ns)
	f := cmd.Flags()
	f.StringVar(&req.Branch, "branch", "main", "branch whose pushes deploy")
	f.StringVar(&req.Path, "path", "", "directory of the repository holding the services (default: its root)")
	f.StringVar(&req.CloneURL, "clone-url", "", "where the platform fetches the repository (default: GitHub's; a mirror or GitHub Enterprise)")
	f.BoolVar(&req.NoPreviews, "no-previews", false, "give pull requests no preview namespace")
	return cmd
}

// printLink tells what the new link does and, when the platform could not add the
// webhook, exactly what to add on GitHub.
func (a *app) printLink(l *platform.RepoLink, s *platform.LinkSetup) {
	previews := "pull requests against it get a preview namespace"
	if !l.Previews {
		previews = "pull requests get no preview"
	}
	where := ""
	if l.Path != "" {
		where = " from " + l.Path + "/"
	}
	fmt.Fprintf(a.stdout, "Linked %s@%s to namespace %s (link %s): every push to %s deploys the services it changed%s; %s.\n",
		l.Repo, l.Branch, l.Namespace, l.ID, l.Branch, where, previews)
	if s.HookInstalled {
		fmt.Fprintln(a.stdout, "Webhook installed on GitHub.")
		return
	}
	if s.Note != "" {
		fmt.Fprintf(a.stdout, "The webhook is not installed: %s.\n", strings.TrimSuffix(s.Note, "."))
	}
	fmt.Fprintf(a.stdout, "\nAdd it on GitHub: https://github.com/%s/settings/hooks/new\n\n", l.Repo)
	tw := table(a.stdout)
	fmt.Fprintf(tw, "  Payload URL:\t%s\n", s.WebhookURL)
	fmt.Fprintf(tw, "  Content type:\tapplication/json\n")
	fmt.Fprintf(tw, "  Secret:\t%s\n", s.WebhookSecret)
	fmt.Fprintf(tw, "  Events:\tpush and pull_request (\"Let me select individual events\": Pushes, Pull requests)\n")
	_ = tw.Flush()
	fmt.Fprintln(a.stdout, "\nThe secret is shown only this once: copy it now. To get a new one, unlink and link again.")
}

func (a *app) unlinkRepoCmd() *cobra.Command {
	var ns string
	cmd := &cobra.Command{
		Use:   "unlink ID",
		Short: "Unlink a repository (and remove the webhook the platform added)",
		Long: "unlink deletes a link: pushes no longer deploy. The services it deployed keep running,\n" +
			"and a webhook the platform added to GitHub is removed; one added by hand is yours to remove.",
		Example: `  platform repos unlink l-0a1b2c3d -n acme`,
		Args:    args(1, 1, "the link ID (see `platform repos`)"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, ns, err := a.connectNS(cmd, ns)
			if err != nil {
				return err
			}
			if err := c.UnlinkRepo(cmd.Context(), ns, args[0]); err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]string{"id": args[0], "namespace": ns, "status": "unlinked"})
			}
			fmt.Fprintf(a.stdout, "Unlinked %s from namespace %s: pushes no longer deploy.\n", args[0], ns)
			return nil
		}),
	}
	addNamespaceFlag(cmd, &ns)
	return cmd
}

// workflowPath is where GitHub looks for the workflow repos workflow prints.
const workflowPath = ".github/workflows/deploy.yml"

// workflowResult is the -o json output of repos workflow.
type workflowResult struct {
	Path    string `json:"path"`
	Content string `json:"content"`
}

func (a *app) repoWorkflowCmd() *cobra.Command {
	var ns, service, branch string
	cmd := &cobra.Command{
		Use:   "workflow",
		Short: "Print a GitHub Actions workflow that deploys with the job's OIDC token",
		Long: "workflow prints " + workflowPath + " for a repository linked to the namespace: on every\n" +
			"push to the branch, the job installs the CLI, signs in with its GitHub OIDC token\n" +
			"(`platform login --github-oidc`: no secret to store in the repository) and deploys.\n" +
			"The token it gets acts in the linked namespace only, for 15 minutes.",
		Example: `  platform repos workflow -n acme > .github/workflows/deploy.yml
  platform repos workflow -n acme --service hello --branch release`,
		Args: args(0, 0, "no arguments"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			s, err := a.resolve(cmd, ns)
			if err != nil {
				return err
			}
			if s.Namespace == "" {
				return &usageError{err: platform.Errorf(platform.EINVALID, "no namespace given").
					WithHint("pass -n NAMESPACE: the namespace the repository is linked to")}
			}
			if service != "" {
				if err := platform.ValidateName("service", service); err != nil {
					return &usageError{err: err}
				}
			}
			if isLoopback(s.Server) {
				fmt.Fprintf(a.stderr, "warning: the workflow names %s, which GitHub's runners cannot reach; pass --server with the platform's public URL\n", s.Server)
			}
			content := actionsWorkflow(s.Server, s.Namespace, service, branch)
			if a.jsonOutput() {
				return a.printJSON(workflowResult{Path: workflowPath, Content: content})
			}
			_, err = fmt.Fprint(a.stdout, content)
			return err
		}),
	}
	addNamespaceFlag(cmd, &ns)
	cmd.Flags().StringVar(&service, "service", "", "name of the service to deploy (default: the repository's directory name)")
	cmd.Flags().StringVar(&branch, "branch", "main", "the linked branch whose pushes run the workflow")
	return cmd
}

// isLoopback reports whether server is an address on this machine only.
func isLoopback(server string) bool {
	for _, h := range []string{"://127.", "://localhost", "://[::1]"} {
		if strings.Contains(server, h) {
			return true
		}
	}
	return false
}

// actionsWorkflow is the workflow of repos workflow. The job asks for an OIDC token
// (id-token: write), which `platform login --github-oidc` trades for a platform token
// narrowed to the namespaces linked to the repository and branch.
func actionsWorkflow(server, ns, service, branch string) string {
	deploy := "platform deploy . -n " + ns
	if service != "" {
		deploy += " --name " + service
	}
	return `# ` + workflowPath + `: deploys to namespace ` + ns + ` of ` + server + `
# on every push to ` + branch + `. The repository and branch must be linked to the namespace
# (platform repos link OWNER/REPO -n ` + ns + ` --branch ` + branch + `): the job signs in with
# its GitHub OIDC token, and the platform gives it a token for that namespace only.
name: deploy

on:
  push:
    branches: [` + strconv.Quote(branch) + `]

permissions:
  contents: read
  id-token: write

jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-go@v5
        with:
          go-version: stable
      - name: Install the platform CLI
        run: go install github.com/micro/platform/cmd/platform@latest
      - name: Sign in with the job's OIDC token
        run: platform login --github-oidc --server ` + server + `
      - name: Deploy
        run: ` + deploy + `
`
}
