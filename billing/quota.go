package billing

import (
	"fmt"
	"slices"

	platform "github.com/micro/platform"
)

// QuotaKind names one of a plan's quotas (platform.Quotas), as configuration spells it.
type QuotaKind string

// Quota kinds. Each is counted per organisation; BuildMinutes per period.
const (
	// QuotaInstances bounds the running instances of all services of all namespaces.
	QuotaInstances QuotaKind = "instances"
	// QuotaNamespaces bounds the namespaces, previews included.
	QuotaNamespaces QuotaKind = "namespaces"
	// QuotaPreviews bounds the preview namespaces of pull requests.
	QuotaPreviews QuotaKind = "previews"
	// QuotaRequestsPerSecond bounds the gateway's requests per second.
	QuotaRequestsPerSecond QuotaKind = "requests_per_second"
	// QuotaBuildMinutes bounds the minutes of builds in a period.
	QuotaBuildMinutes QuotaKind = "build_minutes"
)

// QuotaKinds lists every kind.
var QuotaKinds = []QuotaKind{QuotaInstances, QuotaNamespaces, QuotaPreviews, QuotaRequestsPerSecond, QuotaBuildMinutes}

// quotaText is how messages name a kind's unit, and what a user can do about it
// short of a larger plan.
var quotaText = map[QuotaKind]struct{ one, many, remedy string }{
	QuotaInstances:         {"instance", "instances", "scale a service down or delete one"},
	QuotaNamespaces:        {"namespace", "namespaces", "delete a namespace you no longer need"},
	QuotaPreviews:          {"preview namespace", "preview namespaces", "close pull requests whose previews you no longer need"},
	QuotaRequestsPerSecond: {"request per second", "requests per second", "send fewer requests per second"},
	QuotaBuildMinutes:      {"build minute a period", "build minutes a period", "wait for the next billing period"},
}

// Limit returns the limit of kind in q, 0 meaning unlimited; ok is false for an
// unknown kind.
func Limit(q platform.Quotas, kind QuotaKind) (limit int64, ok bool) {
	switch kind {
	case QuotaInstances:
		return int64(q.Instances), true
	case QuotaNamespaces:
		return int64(q.Namespaces), true
	case QuotaPreviews:
		return int64(q.Previews), true
	case QuotaRequestsPerSecond:
		return int64(q.RequestsPerSecond), true
	case QuotaBuildMinutes:
		return q.BuildMinutes, true
	}
	return 0, false
}

// CheckQuota returns EQUOTA if adding more of kind to the current count would
// exceed plan's limit (counts in the quota's unit: instances, namespaces, requests
// per second, build minutes so far this period). The message names the quota, the
// limit and the plan; the hint says how to get under it or raise it. A quota of 0 is
// unlimited, and adding ≤ 0 (scaling down, deleting) is never refused, so an
// organisation over a limit after moving to a smaller plan can always get back
// under it. An unknown kind is an uncoded (internal) error: a bug of the caller.
func CheckQuota(plan platform.Plan, kind QuotaKind, current, adding int64) error {
	return checkQuota(plan, kind, current, adding, "ask an owner of the organisation to move it to a plan with a higher limit")
}

func checkQuota(plan platform.Plan, kind QuotaKind, current, adding int64, raise string) error {
	limit, ok := Limit(plan.Quotas, kind)
	if !ok {
		return fmt.Errorf("check quota: unknown quota kind %q", kind)
	}
	if limit == 0 || adding <= 0 {
		return nil
	}
	need, err := add(max(current, 0), adding)
	if err == nil && need <= limit {
		return nil
	}
	text := quotaText[kind]
	unit := text.many
	if limit == 1 {
		unit = text.one
	}
	msg := fmt.Sprintf("quota %s exceeded: plan %s allows %s %s", kind, plan.Name, FormatQuantity(limit), unit)
	if err == nil {
		msg += fmt.Sprintf("; %s in use and %s more would make %s", FormatQuantity(current), FormatQuantity(adding), FormatQuantity(need))
	}
	return platform.Errorf(platform.EQUOTA, "%s", msg).WithHint("%s, or %s", text.remedy, raise)
}

// CheckQuota is CheckQuota for the organisation's plan called planName, whose hint
// names the first plan after it in the catalog that would allow what was refused.
// ENOTFOUND if there is no such plan.
func (ps Plans) CheckQuota(planName string, kind QuotaKind, current, adding int64) error {
	i := slices.IndexFunc(ps.Catalog, func(p platform.Plan) bool { return p.Name == planName })
	if i < 0 {
		_, err := ps.Lookup(planName)
		return err
	}
	raise := "ask the platform's operator for a higher limit"
	need, err := add(max(current, 0), max(adding, 0))
	if err == nil {
		for _, p := range ps.Catalog[i+1:] {
			if limit, _ := Limit(p.Quotas, kind); limit == 0 || limit >= need {
				allows := "no limit"
				if limit > 0 {
					allows = FormatQuantity(limit)
				}
				raise = fmt.Sprintf("ask an owner of the organisation to move it to plan %s (%s)", p.Name, allows)
				break
			}
		}
	}
	return checkQuota(ps.Catalog[i], kind, current, adding, raise)
}
