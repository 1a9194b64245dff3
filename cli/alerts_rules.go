package cli

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
)

// ruleView is a rule as -o json prints it: as the API answers it, with its durations as
// duration strings.
type ruleView struct {
	platform.AlertRule
	Window         string    `json:"window,omitempty"`
	For            string    `json:"for,omitempty"`
	RepeatInterval string    `json:"repeat_interval,omitempty"`
	CreatedAt      time.Time `json:"created_at,omitzero"`
}

func viewRule(r *platform.AlertRule) ruleView {
	return ruleView{AlertRule: *r, Window: platform.ShortDuration(r.Window), For: platform.ShortDuration(r.For),
		RepeatInterval: platform.ShortDuration(r.RepeatInterval), CreatedAt: r.CreatedAt}
}

func (a *app) alertRulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "rules",
		Aliases: []string{"rule"},
		Short:   "List, create and delete alert rules",
		Long: "rules lists the built-in rules (on in every namespace) and your organisation's own.\n\n" +
			"A metric rule fires when a service's error rate, p99 latency, request rate, CPU or\n" +
			"memory over a window is above or below a threshold for a while; a rule of a\n" +
			"built-in kind replaces the built-in where it applies, or with --disabled turns it off.",
		Args: args(0, 0, "a subcommand (list, create, delete)"),
		RunE: a.run(a.listAlertRules),
	}
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the built-in rules and your organisation's",
		Args:    args(0, 0, "no arguments"),
		RunE:    a.run(a.listAlertRules),
	}
	del := &cobra.Command{
		Use:     "delete ID|NAME",
		Aliases: []string{"rm"},
		Short:   "Delete one of your organisation's rules (admins); its alerts resolve",
		Args:    args(1, 1, "ID or NAME"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			if err := c.DeleteAlertRule(cmd.Context(), args[0]); err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]string{"rule": args[0], "status": "deleted"})
			}
			fmt.Fprintf(a.stdout, "Deleted rule %s.\n", args[0])
			return nil
		}),
	}
	cmd.AddCommand(list, a.createAlertRuleCmd(), del)
	return cmd
}

func (a *app) listAlertRules(cmd *cobra.Command, _ []string) error {
	c, err := a.connect(cmd)
	if err != nil {
		return err
	}
	list, err := c.ListAlertRules(cmd.Context())
	if err != nil {
		return err
	}
	if a.jsonOutput() {
		out := make([]ruleView, 0, len(list))
		for _, r := range list {
			out = append(out, viewRule(r))
		}
		return a.printJSON(out)
	}
	tw := table(a.stdout)
	fmt.Fprintln(tw, "ID\tNAME\tKIND\tWHERE\tCONDITION\tSEVERITY\tREPEAT\tSTATE")
	for _, r := range list {
		state := "on"
		if r.Disabled {
			state = "off"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, oneLine(r.Name), r.Kind, scope(r.Namespace, r.Service, "all"),
			condition(r), r.Severity, platform.ShortDuration(r.Repeat()), state)
	}
	return tw.Flush()
}

// condition says when a rule fires: "> 5% over 5m for 2m", or "on events" for a
// built-in kind.
func condition(r *platform.AlertRule) string {
	if !r.Kind.Metric() {
		return "on events"
	}
	s := fmt.Sprintf("%s %s over %s", r.Op, fmtThreshold(r.Kind, r.Threshold), platform.ShortDuration(r.EvalWindow()))
	if r.For > 0 {
		s += " for " + platform.ShortDuration(r.For)
	}
	return s
}

// fmtThreshold renders a threshold in its kind's unit: 5%, 250ms, 10 req/s, 0.5 cores,
// 512Mi.
func fmtThreshold(k platform.AlertKind, v float64) string {
	n := strconv.FormatFloat(v, 'f', -1, 64)
	switch k {
	case platform.AlertErrorRate:
		return n + "%"
	case platform.AlertP99Latency:
		return n + "ms"
	case platform.AlertRequestRate:
		return n + " req/s"
	case platform.AlertCPU:
		return n + " cores"
	case platform.AlertMemory:
		for _, u := range []struct {
			suffix string
			size   float64
		}{{"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
			if v >= u.size && math.Mod(v, u.size) == 0 {
				return strconv.FormatFloat(v/u.size, 'f', -1, 64) + u.suffix
			}
		}
		return n + " bytes"
	}
	return n
}

// whenRE is --when: KIND OP THRESHOLD.
var whenRE = regexp.MustCompile(`^\s*([A-Za-z0-9_]+)\s*([<>])\s*(.+?)\s*$`)

// thresholdRE splits a threshold into its number and unit.
var thresholdRE = regexp.MustCompile(`^([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z%/µ]*)$`)

// parseThreshold reads a threshold in the unit of kind k, or with a unit the kind takes:
// error_rate 5 or 5%; p99_latency 300 (ms), 300ms or 1.5s; request_rate 10, 10/s or
// 10rps; cpu 0.5, 0.5cores or 500m; memory 536870912, 512Mi, 1Gi or 500MB.
func parseThreshold(k platform.AlertKind, s string) (float64, error) {
	m := thresholdRE.FindStringSubmatch(strings.TrimSpace(s))
	bad := func(want string) error {
		return usageErrorf("threshold %q: %s", s, want)
	}
	if m == nil {
		return 0, bad("want a number, with a unit the kind takes (5%, 300ms, 10/s, 0.5cores, 512Mi)")
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, bad("not a number")
	}
	unit := m[2]
	if unit == "" {
		return v, nil
	}
	switch k {
	case platform.AlertErrorRate:
		if unit == "%" {
			return v, nil
		}
		return 0, bad("an error rate is a percentage: 5 or 5%")
	case platform.AlertP99Latency:
		d, err := time.ParseDuration(m[1] + unit)
		if err != nil {
			return 0, bad("a latency is in milliseconds: 300, 300ms or 1.5s")
		}
		return float64(d) / float64(time.Millisecond), nil
	case platform.AlertRequestRate:
		switch unit {
		case "/s", "rps", "req/s":
			return v, nil
		}
		return 0, bad("a request rate is per second: 10, 10/s or 10rps")
	case platform.AlertCPU:
		switch unit {
		case "core", "cores":
			return v, nil
		case "m":
			return v / 1000, nil
		}
		return 0, bad("CPU is in cores: 0.5, 0.5cores or 500m")
	case platform.AlertMemory:
		for _, u := range []struct {
			suffix string
			size   float64
		}{{"B", 1}, {"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
			{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}} {
			if unit == u.suffix {
				return math.Round(v * u.size), nil
			}
		}
		return 0, bad("memory is in bytes: 536870912, 512Mi, 1Gi or 500MB")
	}
	return 0, bad("a " + string(k) + " rule takes a plain number")
}

func (a *app) createAlertRuleCmd() *cobra.Command {
	var (
		r         platform.AlertRule
		kind, sev string
		threshold string
		when      string
	)
	cmd := &cobra.Command{
		Use:   "create [NAME]",
		Short: "Create an alert rule (admins)",
		Long: "create adds a rule to your organisation: for every namespace, or one with --namespace,\n" +
			"and every service, or one with --service.\n\n" +
			"A metric rule (--kind error_rate, p99_latency, request_rate, cpu or memory) fires when\n" +
			"the value over --window (whole minutes, default 5m) is above (>) or below (<) the\n" +
			"threshold for --for (default: at once). Write the condition with --when\n" +
			"'error_rate > 5%' or with --kind, --op and --threshold. Units: error_rate percent,\n" +
			"p99_latency milliseconds (or 1.5s), request_rate per second, cpu cores (or 500m),\n" +
			"memory bytes (or 512Mi, 1Gi).\n\n" +
			"A rule of a built-in kind (build_failed, release_failed, crash_loop, service_down,\n" +
			"region_lost) replaces the built-in where it applies, with its own severity and\n" +
			"repeat, or with --disabled turns it off there.\n\n" +
			"--severity defaults to the built-in's for a built-in kind, else warning; --repeat\n" +
			"(how often a firing alert is notified again) defaults to 4h. NAME defaults to the\n" +
			"condition.",
		Example: `  platform alerts rules create --when 'error_rate > 5%' --window 5m --for 2m -n acme --severity critical
  platform alerts rules create "api slow" --when 'p99_latency > 300ms' -n acme --service api --repeat 1h
  platform alerts rules create --kind crash_loop --disabled -n sandbox`,
		Args: args(0, 1, "NAME"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && r.Name != "" && r.Name != args[0]:
				return usageErrorf("give the name once: %q or --name %q", args[0], r.Name)
			case len(args) == 1:
				r.Name = args[0]
			}
			r.Kind = platform.AlertKind(kind)
			if when != "" {
				m := whenRE.FindStringSubmatch(when)
				if m == nil {
					return usageErrorf("--when %q: want KIND OP THRESHOLD, e.g. 'error_rate > 5%%' or 'p99_latency > 300ms'", when)
				}
				if kind != "" && kind != m[1] {
					return usageErrorf("--when names kind %s but --kind says %s", m[1], kind)
				}
				if r.Op != "" || threshold != "" {
					return usageErrorf("give the condition once: --when, or --op and --threshold")
				}
				r.Kind, r.Op, threshold = platform.AlertKind(m[1]), m[2], m[3]
			}
			if r.Kind == "" {
				return usageErrorf("a rule needs a kind: pass --when 'error_rate > 5%%' or --kind (%s)", kindNames())
			}
			if r.Kind.Builtin() && (r.Op != "" || threshold != "" || r.Window != 0 || r.For != 0) {
				return usageErrorf("%s is a built-in kind: it fires on events and takes no condition, --window or --for", r.Kind)
			}
			if threshold != "" {
				v, err := parseThreshold(r.Kind, threshold)
				if err != nil {
					return err
				}
				r.Threshold = v
			}
			r.Severity = platform.Severity(sev)
			if sev == "" {
				r.Severity = platform.SeverityWarning
				if b := platform.BuiltinRule("", r.Kind); b != nil {
					r.Severity = b.Severity
				}
			}
			if r.Name == "" {
				r.Name = defaultRuleName(&r, threshold)
			}
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			created, err := c.CreateAlertRule(cmd.Context(), &r)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(viewRule(created))
			}
			where := scope(created.Namespace, created.Service, "every namespace")
			var what string
			switch {
			case created.Kind.Builtin() && created.Disabled:
				what = fmt.Sprintf("the built-in %s rule is off in %s", created.Kind, where)
			case created.Kind.Builtin():
				what = fmt.Sprintf("%s in %s, %s, repeated every %s, in place of the built-in there", created.Kind, where, created.Severity,
					platform.ShortDuration(created.Repeat()))
			default:
				what = fmt.Sprintf("%s %s in %s, %s, repeated every %s", created.Kind, condition(created), where, created.Severity,
					platform.ShortDuration(created.Repeat()))
				if created.Disabled {
					what += ", off"
				}
			}
			fmt.Fprintf(a.stdout, "Created rule %q (%s): %s.\n", created.Name, created.ID, what)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&r.Name, "name", "", "name of the rule (default: its condition)")
	f.StringVar(&kind, "kind", "", "what it watches: "+kindNames())
	f.StringVarP(&r.Namespace, "namespace", "n", "", "only this namespace (default: every namespace)")
	f.StringVar(&r.Service, "service", "", "only this service (default: every service)")
	f.StringVar(&when, "when", "", "the condition of a metric rule, e.g. 'error_rate > 5%'")
	f.StringVar(&r.Op, "op", "", "> (above the threshold) or < (below it)")
	f.StringVar(&threshold, "threshold", "", "in the kind's unit (5%, 300ms, 10/s, 0.5cores, 512Mi)")
	f.DurationVar(&r.Window, "window", 0, "how much of the past a metric rule looks at, whole minutes (default 5m)")
	f.DurationVar(&r.For, "for", 0, "how long the condition must hold before it fires (default: at once)")
	f.StringVar(&sev, "severity", "", "info, warning or critical (default: the built-in's, else warning)")
	f.DurationVar(&r.RepeatInterval, "repeat", 0, "how often a firing alert is notified again (default 4h)")
	f.BoolVar(&r.Disabled, "disabled", false, "turn it off (for a built-in kind: the built-in, where the rule applies)")
	return cmd
}

// defaultRuleName names a rule after its condition and scope: "error_rate > 5%",
// "crash_loop off in sandbox".
func defaultRuleName(r *platform.AlertRule, threshold string) string {
	name := string(r.Kind)
	if r.Kind.Metric() {
		name += " " + r.Op + " " + strings.Join(strings.Fields(threshold), "")
	}
	if r.Disabled {
		name += " off"
	}
	if r.Namespace != "" || r.Service != "" {
		name += " in " + scope(r.Namespace, r.Service, "")
	}
	return name
}

// kindNames lists the rule kinds, for help and messages.
func kindNames() string {
	var names []string
	for _, k := range append(append([]platform.AlertKind{}, platform.MetricAlertKinds...), platform.BuiltinAlertKinds...) {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}
