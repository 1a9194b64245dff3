package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
	"github.com/micro/platform/client"
)

// Environment variables the CLI reads (from Run's env, never the process).
const (
	envServer    = "PLATFORM_SERVER"
	envToken     = "PLATFORM_TOKEN"
	envNamespace = "PLATFORM_NAMESPACE"
)

// fileConfig is the config file `platform login` writes.
type fileConfig struct {
	Server    string `json:"server"`
	Token     string `json:"token"`
	Namespace string `json:"namespace,omitempty"`
}

// configPath returns where the config file lives, from XDG_CONFIG_HOME or HOME.
func (a *app) configPath() (string, error) {
	if d := a.env["XDG_CONFIG_HOME"]; d != "" {
		return filepath.Join(d, "micro-platform", "config.json"), nil
	}
	if h := a.env["HOME"]; h != "" {
		return filepath.Join(h, ".config", "micro-platform", "config.json"), nil
	}
	return "", platform.Errorf(platform.EINVALID, "cannot locate the config file: neither XDG_CONFIG_HOME nor HOME is set").
		WithHint("set HOME, or pass --server and --token to every command")
}

// loadConfig reads the config file; a missing file is an empty config.
func (a *app) loadConfig() (fileConfig, error) {
	var fc fileConfig
	p, err := a.configPath()
	if err != nil {
		return fc, nil
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fc, nil
	}
	if err != nil {
		return fc, fmt.Errorf("read config file: %w", err)
	}
	if err := json.Unmarshal(b, &fc); err != nil {
		return fc, platform.Errorf(platform.EINVALID, "config file %s is not valid JSON: %v", p, err).
			WithHint("fix or remove it, then run `platform login` again")
	}
	return fc, nil
}

// saveConfig writes fc to the config file, readable by the user only, and returns its path.
func (a *app) saveConfig(fc fileConfig) (string, error) {
	p, err := a.configPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", fmt.Errorf("create config directory: %w", err)
	}
	b, err := json.MarshalIndent(fc, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode config: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".config-*.json")
	if err != nil {
		return "", fmt.Errorf("write config file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write config file: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write config file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("write config file: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return "", fmt.Errorf("write config file: %w", err)
	}
	return p, nil
}

// settings are the resolved connection settings of a command.
type settings struct {
	Server, Token, Namespace string
}

// resolve applies flags > environment > config file > defaults. nsFlag is the command's
// -n flag value ("" when the command has none or it was not set).
func (a *app) resolve(cmd *cobra.Command, nsFlag string) (settings, error) {
	fc, err := a.loadConfig()
	if err != nil {
		return settings{}, err
	}
	s := settings{
		Server:    first(a.flagValue(cmd, "server", a.server), a.env[envServer], fc.Server, DefaultServer),
		Token:     first(a.flagValue(cmd, "token", a.token), a.env[envToken], fc.Token),
		Namespace: first(nsFlag, a.env[envNamespace], fc.Namespace),
	}
	return s, nil
}

// flagValue returns v when the flag name was set on the command line, else "".
func (a *app) flagValue(cmd *cobra.Command, name, v string) string {
	if f := cmd.Flags().Lookup(name); f != nil && f.Changed {
		return v
	}
	return ""
}

// first returns the first non-empty value.
func first(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// newClient returns a client for the resolved settings.
func (a *app) newClient(s settings) *client.Client {
	return client.New(s.Server, client.WithToken(s.Token), client.WithUserAgent("platform-cli/"+version()))
}

// connect resolves settings and returns a client, for commands without a namespace.
func (a *app) connect(cmd *cobra.Command) (*client.Client, error) {
	s, err := a.resolve(cmd, "")
	if err != nil {
		return nil, err
	}
	return a.newClient(s), nil
}

// connectNS resolves settings and returns a client and the namespace to act in, which
// must be known.
func (a *app) connectNS(cmd *cobra.Command, nsFlag string) (*client.Client, string, error) {
	s, err := a.resolve(cmd, nsFlag)
	if err != nil {
		return nil, "", err
	}
	if s.Namespace == "" {
		return nil, "", &usageError{err: platform.Errorf(platform.EINVALID, "no namespace given").
			WithHint("pass -n NAMESPACE or set %s; list yours with `platform namespaces list`", envNamespace)}
	}
	return a.newClient(s), s.Namespace, nil
}

// addNamespaceFlag adds -n/--namespace to cmd.
func addNamespaceFlag(cmd *cobra.Command, ns *string) {
	cmd.Flags().StringVarP(ns, "namespace", "n", "", "namespace (env "+envNamespace+")")
}
