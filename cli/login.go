package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
)

// loginResult is the -o json output of login.
type loginResult struct {
	Server     string   `json:"server"`
	ConfigFile string   `json:"config_file"`
	Namespaces []string `json:"namespaces"`
}

func (a *app) loginCmd() *cobra.Command {
	var ns string
	gl := &githubLogin{}
	ol := &actionsLogin{}
	cmd := &cobra.Command{
		Use:   "login --server URL (--token TOKEN | --github | --device | --github-oidc)",
		Short: "Check a token against a server and save both for later commands",
		Long: "login verifies the token by listing the namespaces it may access, then saves the\n" +
			"server and token to the config file (mode 0600), where later commands find them.\n" +
			"--github signs in with GitHub in the browser and --device with GitHub's device flow;\n" +
			"both save a new API token of the platform. --github-oidc, in a GitHub Actions job, trades\n" +
			"the job's OIDC token for a token of the namespace linked to the repository (15 minutes).",
		Args: args(0, 0, "no arguments"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			s, err := a.resolve(cmd, ns)
			if err != nil {
				return err
			}
			if gl.enabled() {
				return a.loginWithGitHub(cmd, s, gl)
			}
			if ol.enabled {
				return a.loginWithActions(cmd, s, ol)
			}
			if s.Token == "" {
				return &usageError{err: platform.Errorf(platform.EINVALID, "no token given").
					WithHint("pass --token TOKEN; `platform server` prints the admin token when it first starts")}
			}
			namespaces, err := a.newClient(s).ListNamespaces(cmd.Context())
			if err != nil {
				return err
			}
			path, err := a.saveConfig(fileConfig{Server: s.Server, Token: s.Token, Namespace: s.Namespace})
			if err != nil {
				return err
			}
			res := loginResult{Server: s.Server, ConfigFile: path, Namespaces: []string{}}
			for _, n := range namespaces {
				res.Namespaces = append(res.Namespaces, n.Name)
			}
			if a.jsonOutput() {
				return a.printJSON(res)
			}
			fmt.Fprintf(a.stdout, "Logged in to %s (%d namespace(s) accessible).\n", s.Server, len(namespaces))
			fmt.Fprintf(a.stdout, "Saved server and token to %s\n", path)
			return nil
		}),
	}
	cmd.Flags().StringVarP(&ns, "namespace", "n", "", "default namespace to save for later commands")
	gl.flags(cmd)
	ol.flags(cmd)
	return cmd
}
