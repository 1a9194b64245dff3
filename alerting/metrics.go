package alerting

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/micro/platform"
)

// metricLoop evaluates the metric rules every MetricInterval.
func (e *Engine) metricLoop(ctx context.Context) {
	every(ctx, e.opts.MetricInterval, e.evaluateMetrics)
}

// evaluateMetrics evaluates every enabled metric rule for each service it covers, and
// resolves the unresolved metric alerts no rule covers any more (the rule was deleted,
// disabled or narrowed, or the service is gone). Each alert is committed on its own,
// over the version read.
func (e *Engine) evaluateMetrics(ctx context.Context) {
	s := e.opts.Store
	rules, err := s.ListAlertRules(ctx, "")
	if err != nil {
		e.logErr(ctx, "list alert rules", err)
		return
	}
	namespaces, err := s.ListNamespaces(ctx)
	if err != nil {
		e.logErr(ctx, "list namespaces", err)
		return
	}
	orgs := map[string]*orgConfig{}
	services := map[string][]string{} // namespace → its services, read once
	seen := map[string]bool{}         // alert keys evaluated
	now := e.now()
	for _, r := range rules {
		if !r.Kind.Metric() || r.Disabled {
			continue
		}
		for _, ns := range namespaces {
			org := ns.Org
			if org == "" {
				org = platform.DefaultOrg
			}
			if org != r.Org || (r.Namespace != "" && r.Namespace != ns.Name) {
				continue
			}
			names, ok := services[ns.Name]
			if !ok {
				if names, err = e.serviceNames(ctx, ns.Name); err != nil {
					e.logErr(ctx, "list services", err, "namespace", ns.Name)
					return
				}
				services[ns.Name] = names
			}
			if r.Service != "" {
				names = []string{r.Service}
			}
			values, err := e.measure(ctx, r, ns.Name, names, now)
			if err != nil {
				e.logErr(ctx, "read usage", err, "rule", r.ID, "namespace", ns.Name)
				return
			}
			for _, svc := range names {
				key := platform.AlertKey(ns.Name, r.ID, svc)
				seen[key] = true
				v, ok := values[svc]
				e.commitOne(ctx, orgs, key, func(b *batch, a *platform.Alert) (*platform.Alert, error) {
					if a == nil {
						a = newAlert(key, org, ns.Name, svc)
					}
					return a, b.evaluate(a, r, ok && r.Holds(v), v)
				})
			}
		}
	}
	e.resolveUncovered(ctx, orgs, seen)
}

// resolveUncovered resolves unresolved metric alerts whose key no rule evaluated.
func (e *Engine) resolveUncovered(ctx context.Context, orgs map[string]*orgConfig, seen map[string]bool) {
	for _, state := range []platform.AlertState{platform.AlertPending, platform.AlertFiring} {
		list, err := e.opts.Store.ListAlerts(ctx, platform.AlertFilter{State: state})
		if err != nil {
			e.logErr(ctx, "list alerts", err)
			return
		}
		for _, a := range list {
			if !a.Kind.Metric() || seen[a.Key] {
				continue
			}
			e.commitOne(ctx, orgs, a.Key, func(b *batch, cur *platform.Alert) (*platform.Alert, error) {
				if cur == nil {
					return nil, nil
				}
				return cur, b.resolve(cur, "its rule no longer covers "+cur.Service)
			})
		}
	}
}

// commitOne reads the alert of key, lets change make it what it should be (a nil
// alert: there is none) and commits that over the version read. A conflict is left to
// the next evaluation.
func (e *Engine) commitOne(ctx context.Context, orgs map[string]*orgConfig, key string,
	change func(b *batch, a *platform.Alert) (*platform.Alert, error)) {
	b := e.newBatch(ctx, orgs)
	a, err := b.alert(key)
	if err == nil {
		_, err = change(b, a)
	}
	if err == nil {
		err = b.commit(platform.AlertCommit{})
	}
	if err != nil && !platform.IsConflict(err) {
		e.logErr(ctx, "update alert", err, "alert", key)
	}
}

// evaluate moves a metric alert by whether its rule's condition holds now (value v):
// pending while it holds for less than For, firing once it held that long, resolved when
// it stops holding. An alert whose state stays is not written.
func (b *batch) evaluate(a *platform.Alert, r *platform.AlertRule, holds bool, v float64) error {
	if !holds {
		if a.State == platform.AlertPending || a.State == platform.AlertFiring {
			return b.resolve(a, fmt.Sprintf("%s is %s", describe(r.Kind), formatValue(r.Kind, v)))
		}
		return nil
	}
	summary := fmt.Sprintf("%s of %s is %s, %s %s", describe(r.Kind), a.Service, formatValue(r.Kind, v),
		map[string]string{">": "above", "<": "below"}[r.Op], formatValue(r.Kind, r.Threshold))
	reason := fmt.Sprintf("rule %q: %s %s %s over %s", r.Name, describe(r.Kind), r.Op, formatValue(r.Kind, r.Threshold), r.EvalWindow())
	if r.For > 0 {
		reason += " for " + r.For.String()
	}
	switch a.State {
	case platform.AlertFiring:
		return nil
	case platform.AlertPending:
		if b.now.Sub(a.Since) < r.For {
			return nil
		}
		return b.fire(a, r, "", summary, reason, a.Since)
	}
	// A new incident: pending until it held for For.
	if r.For <= 0 {
		return b.fire(a, r, "", summary, reason, b.now)
	}
	b.setRule(a, r)
	a.State, a.Summary, a.Reason, a.Since = platform.AlertPending, summary, reason, b.now
	a.FiredAt, a.ResolvedAt, a.ClearingSince, a.LastNotifiedAt = nil, nil, nil, nil
	b.touch(a)
	return nil
}

// serviceNames returns the names of the namespace's services that are not being
// deleted.
func (e *Engine) serviceNames(ctx context.Context, ns string) ([]string, error) {
	list, err := e.opts.Store.ListServices(ctx, ns)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range list {
		if !s.Deleted {
			names = append(names, s.Name)
		}
	}
	return names, nil
}

// measure returns rule r's value for each of the services of namespace ns that has one,
// over the r's window of whole minutes before now's: the error rate (percent), p99
// latency (ms) and request rate (per second) from the gateway's usage, CPU (cores, the
// mean of the samples) and memory (bytes, the peak) from the resource samples. A
// service without requests has no error rate or latency, and one without samples no
// CPU or memory; every service has a request rate.
func (e *Engine) measure(ctx context.Context, r *platform.AlertRule, ns string, services []string, now time.Time) (map[string]float64, error) {
	to := now.Truncate(time.Minute)
	window := r.EvalWindow()
	from := to.Add(-window)
	values := map[string]float64{}
	switch r.Kind {
	case platform.AlertErrorRate, platform.AlertP99Latency, platform.AlertRequestRate:
		svc := r.Service // "" reads every service's rows at once
		rows, err := e.opts.Store.ListRequestUsage(ctx, ns, svc, from, to)
		if err != nil {
			return nil, err
		}
		sums := map[string]*platform.RequestUsage{}
		for _, row := range rows {
			sum, ok := sums[row.Service]
			if !ok {
				sum = &platform.RequestUsage{}
				sums[row.Service] = sum
			}
			sum.Add(row)
		}
		for _, name := range services {
			sum := sums[name]
			switch {
			case r.Kind == platform.AlertRequestRate:
				var n int64
				if sum != nil {
					n = sum.Requests
				}
				values[name] = float64(n) / window.Seconds()
			case sum == nil || sum.Requests == 0:
			case r.Kind == platform.AlertErrorRate:
				values[name] = 100 * float64(sum.Errors) / float64(sum.Requests)
			default:
				values[name] = float64(sum.Quantile(0.99)) / float64(time.Millisecond)
			}
		}
	case platform.AlertCPU, platform.AlertMemory:
		for _, name := range services {
			samples, err := e.opts.Store.ListResourceUsage(ctx, ns, name, from, to)
			if err != nil {
				return nil, err
			}
			if len(samples) == 0 {
				continue
			}
			var cpu, peak int64
			for _, s := range samples {
				cpu += s.CPUMillicores
				peak = max(peak, s.MemoryBytes)
			}
			if r.Kind == platform.AlertCPU {
				values[name] = float64(cpu) / float64(len(samples)) / 1000
			} else {
				values[name] = float64(peak)
			}
		}
	}
	return values, nil
}

// describe names what a metric kind measures.
func describe(k platform.AlertKind) string {
	switch k {
	case platform.AlertErrorRate:
		return "error rate"
	case platform.AlertP99Latency:
		return "p99 latency"
	case platform.AlertRequestRate:
		return "request rate"
	case platform.AlertCPU:
		return "CPU"
	case platform.AlertMemory:
		return "memory"
	}
	return string(k)
}

// formatValue writes a value in its kind's unit: "4.2%", "812 ms", "3.5 req/s",
// "0.25 cores", "512.0 MiB".
func formatValue(k platform.AlertKind, v float64) string {
	switch k {
	case platform.AlertErrorRate:
		return num(v) + "%"
	case platform.AlertMemory:
		return strconv.FormatFloat(v/(1<<20), 'f', 1, 64) + " MiB"
	}
	return num(v) + " " + k.Unit()
}

// num writes v with three significant digits, or as a whole number from 100.
func num(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
