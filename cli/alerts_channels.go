package cli

import (
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
)

// envAlertSecret holds a channel's secret for `platform alerts channels create` when
// --secret-stdin is not given: never a flag, which the shell's history would keep.
const envAlertSecret = "PLATFORM_ALERT_SECRET"

// maxSecretBytes bounds a secret read from stdin.
const maxSecretBytes = 64 << 10

func (a *app) alertChannelsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "channels",
		Aliases: []string{"channel"},
		Short:   "List, create and delete the channels alerts notify (admins)",
		Long: "channels lists where your organisation's alerts are sent: email, sms (Twilio), slack,\n" +
			"pagerduty or a webhook, and which alerts each receives (namespaces, services, a\n" +
			"minimum severity; all by default). Secrets are never shown. docs/alerting.md lists\n" +
			"each kind's config keys and secret.",
		Args: args(0, 0, "a subcommand (list, create, delete)"),
		RunE: a.run(a.listAlertChannels),
	}
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the channels",
		Args:    args(0, 0, "no arguments"),
		RunE:    a.run(a.listAlertChannels),
	}
	del := &cobra.Command{
		Use:     "delete ID|NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a channel; what it has not delivered yet is dropped",
		Args:    args(1, 1, "ID or NAME"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			if err := c.DeleteAlertChannel(cmd.Context(), args[0]); err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]string{"channel": args[0], "status": "deleted"})
			}
			fmt.Fprintf(a.stdout, "Deleted channel %s.\n", args[0])
			return nil
		}),
	}
	cmd.AddCommand(list, a.createAlertChannelCmd(), del)
	return cmd
}

func (a *app) listAlertChannels(cmd *cobra.Command, _ []string) error {
	c, err := a.connect(cmd)
	if err != nil {
		return err
	}
	list, err := c.ListAlertChannels(cmd.Context())
	if err != nil {
		return err
	}
	if a.jsonOutput() {
		return a.printJSON(orEmpty(list))
	}
	if len(list) == 0 {
		fmt.Fprintln(a.stdout, "No channels: alerts notify nobody. Create one with `platform alerts channels create NAME --kind KIND`.")
		return nil
	}
	tw := table(a.stdout)
	fmt.Fprintln(tw, "ID\tNAME\tKIND\tDESTINATION\tRECEIVES\tCREATED")
	for _, ch := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ch.ID, ch.Name, ch.Kind, destination(ch), routing(ch), a.fmtTime(ch.CreatedAt))
	}
	return tw.Flush()
}

// destination says where a channel delivers, from its config (never its secret).
func destination(ch *platform.AlertChannel) string {
	cfg := ch.Config
	switch ch.Kind {
	case platform.ChannelEmail, platform.ChannelSMS:
		return orDash(cfg["to"])
	case platform.ChannelSlack:
		if cfg["channel"] != "" {
			return cfg["channel"]
		}
		return "incoming webhook"
	case platform.ChannelPagerDuty:
		if u, err := url.Parse(cfg["base_url"]); err == nil && u.Host != "" {
			return "Events API at " + u.Host
		}
		return "Events API"
	case platform.ChannelWebhook:
		return orDash(cfg["url"])
	}
	return "-"
}

// routing says which alerts a channel receives: "all", or its namespaces, services and
// least severity.
func routing(ch *platform.AlertChannel) string {
	var parts []string
	if len(ch.Namespaces) > 0 {
		parts = append(parts, "namespaces "+strings.Join(ch.Namespaces, ","))
	}
	if len(ch.Services) > 0 {
		parts = append(parts, "services "+strings.Join(ch.Services, ","))
	}
	if ch.MinSeverity != "" && ch.MinSeverity != platform.SeverityInfo {
		parts = append(parts, string(ch.MinSeverity)+" and above")
	}
	if len(parts) == 0 {
		return "all"
	}
	return strings.Join(parts, "; ")
}

// needsSecret reports whether a channel of kind with config cannot work without a
// secret, as its sender checks (docs/alerting.md).
func needsSecret(kind string, config map[string]string) bool {
	switch kind {
	case platform.ChannelSMS, platform.ChannelSlack, platform.ChannelPagerDuty, platform.ChannelWebhook:
		return true
	case platform.ChannelEmail:
		return config["username"] != ""
	}
	return false
}

// secretName is what a kind's secret is, for messages.
func secretName(kind string, config map[string]string) string {
	switch kind {
	case platform.ChannelEmail:
		return "the SMTP password"
	case platform.ChannelSMS:
		return "the Twilio auth token"
	case platform.ChannelSlack:
		if config["channel"] != "" {
			return "the bot token (xoxb-…)"
		}
		return "the incoming webhook URL"
	case platform.ChannelPagerDuty:
		return "the integration's routing key"
	case platform.ChannelWebhook:
		return "the HMAC key that signs its requests"
	}
	return "its secret"
}

// readSecret returns the channel's secret: stdin's content with --secret-stdin (one
// trailing newline dropped), else $PLATFORM_ALERT_SECRET.
func (a *app) readSecret(fromStdin bool) (string, error) {
	if !fromStdin {
		return a.env[envAlertSecret], nil
	}
	b, err := io.ReadAll(io.LimitReader(a.stdin, maxSecretBytes+1))
	if err != nil {
		return "", fmt.Errorf("read the secret from stdin: %w", err)
	}
	if len(b) > maxSecretBytes {
		return "", usageErrorf("--secret-stdin: stdin holds more than %d bytes", maxSecretBytes)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return "", usageErrorf("--secret-stdin: stdin is empty")
	}
	return s, nil
}

func (a *app) createAlertChannelCmd() *cobra.Command {
	var (
		req         platform.CreateAlertChannelRequest
		config      []string
		minSeverity string
		secretStdin bool
	)
	cmd := &cobra.Command{
		Use:   "create [NAME] --kind KIND",
		Short: "Create a channel (admins): its settings are checked before it is saved",
		Long: "create adds a channel of --kind email, sms, slack, pagerduty or webhook, with its\n" +
			"settings as repeated --config key=value and its secret (the SMTP password, the Twilio\n" +
			"auth token, the Slack webhook URL or bot token, the PagerDuty routing key, the\n" +
			"webhook's HMAC key) read from stdin with --secret-stdin or from $" + envAlertSecret + ",\n" +
			"never from a flag. The platform checks them as the channel's sender will, seals the\n" +
			"secret and never shows it again.\n\n" +
			"Keys: email host, from, to (comma-separated), port, username, tls (starttls, tls,\n" +
			"none); sms account_sid, from, to (E.164 numbers); slack channel (with a bot token;\n" +
			"none with a webhook URL); pagerduty none; webhook url.\n\n" +
			"--namespace, --service (repeatable) and --min-severity narrow which alerts it gets.",
		Example: `  platform alerts channels create ops --kind slack --secret-stdin < slack-webhook-url
  platform alerts channels create oncall --kind pagerduty --min-severity critical --secret-stdin <<< "$ROUTING_KEY"
  PLATFORM_ALERT_SECRET=$SMTP_PASSWORD platform alerts channels create mail --kind email \
      --config host=smtp.example.com --config from=alerts@example.com --config to=ops@example.com,dev@example.com \
      --config username=alerts --namespace acme
  platform alerts channels create hook --kind webhook --config url=https://hooks.example.com/platform --secret-stdin < hmac.key`,
		Args: args(0, 1, "NAME"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && req.Name != "" && req.Name != args[0]:
				return usageErrorf("give the name once: %q or --name %q", args[0], req.Name)
			case len(args) == 1:
				req.Name = args[0]
			case req.Name == "":
				return usageErrorf("a channel needs a name: pass NAME or --name NAME")
			}
			if req.Kind == "" {
				return usageErrorf("a channel needs a kind: pass --kind %s", strings.Join(platform.ChannelKinds, ", "))
			}
			for _, kv := range config {
				k, v, ok := strings.Cut(kv, "=")
				k = strings.TrimSpace(k)
				if !ok || k == "" {
					return usageErrorf("--config %q: want key=value", kv)
				}
				if req.Config == nil {
					req.Config = map[string]string{}
				}
				if _, dup := req.Config[k]; dup {
					return usageErrorf("--config %s is given twice", k)
				}
				req.Config[k] = v
			}
			for _, k := range []string{"secret", "password", "token", "auth_token", "webhook_url", "routing_key"} {
				if _, ok := req.Config[k]; ok {
					return usageErrorf("--config %s: a secret goes on stdin with --secret-stdin or in $%s, not in a flag the shell keeps in its history", k, envAlertSecret)
				}
			}
			req.MinSeverity = platform.Severity(minSeverity)
			secret, err := a.readSecret(secretStdin)
			if err != nil {
				return err
			}
			if secret == "" && needsSecret(req.Kind, req.Config) {
				return &usageError{err: platform.Errorf(platform.EINVALID, "a %s channel needs a secret: %s", req.Kind, secretName(req.Kind, req.Config)).
					WithHint("pipe it in with --secret-stdin (`--secret-stdin < file`) or set %s; never pass it as a flag", envAlertSecret)}
			}
			req.Secret = secret
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			ch, err := c.CreateAlertChannel(cmd.Context(), req)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(ch)
			}
			fmt.Fprintf(a.stdout, "Created %s channel %s (%s): %s, receives %s.\n", ch.Kind, ch.Name, ch.ID, destination(ch), routing(ch))
			fmt.Fprintf(a.stdout, "Try it with `platform alerts test %s`.\n", ch.Name)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&req.Name, "name", "", "name of the channel")
	f.StringVar(&req.Kind, "kind", "", strings.Join(platform.ChannelKinds, ", "))
	f.StringArrayVar(&config, "config", nil, "a setting as key=value (repeatable; see above for each kind's keys)")
	f.BoolVar(&secretStdin, "secret-stdin", false, "read the secret from stdin (default: $"+envAlertSecret+")")
	f.StringSliceVar(&req.Namespaces, "namespace", nil, "only alerts of this namespace (repeatable; default: all)")
	f.StringSliceVar(&req.Services, "service", nil, "only alerts of this service (repeatable; default: all)")
	f.StringVar(&minSeverity, "min-severity", "", "only alerts of this severity or above: info, warning or critical")
	return cmd
}
