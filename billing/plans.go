package billing

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	platform "github.com/micro/platform"
)

// Plans is the set of plans a server offers, as its configuration holds it under
// billing.plans:
//
//	default: free
//	catalog:
//	  - name: free
//	    currency: usd
//	    quotas: {instances: 3, namespaces: 1}
//	  - name: pro
//	    currency: usd
//	    base_amount: 2000
//	    prices:
//	      requests: {unit_amount: 50, per: 1000000, included: 10000000}
//
// See DefaultPlans and docs/billing.md.
type Plans struct {
	// Default names the plan of an organisation that was given none.
	Default string `json:"default" yaml:"default"`
	// Catalog is the plans, in the order people see them (smallest first: a quota
	// error suggests the first later plan that allows what was refused).
	Catalog []platform.Plan `json:"catalog" yaml:"catalog"`
}

//go:embed default_plans.yaml
var defaultPlansYAML []byte

// DefaultPlans returns the plans of a server whose configuration names none: free
// (the default: no charge, tight quotas), pro and enterprise, in USD. They are
// default_plans.yaml, which docs/billing.md shows.
func DefaultPlans() Plans {
	ps, err := ParsePlans(defaultPlansYAML)
	if err != nil {
		panic("billing: default_plans.yaml: " + err.Error()) // a test keeps it valid
	}
	return ps
}

// ParsePlans reads plans from YAML, refusing unknown fields, normalises them (a
// price's per 0 is 1) and validates them: EINVALID lists every problem at once.
func ParsePlans(data []byte) (Plans, error) {
	var ps Plans
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&ps); err != nil && !errors.Is(err, io.EOF) {
		return Plans{}, platform.Errorf(platform.EINVALID, "billing plans: %v", err)
	}
	ps.Normalize()
	if err := ps.Validate(); err != nil {
		return Plans{}, err
	}
	return ps, nil
}

// Normalize gives every price with per 0 the per of 1 its documentation promises,
// so that what is shown and stored says what is charged.
func (ps *Plans) Normalize() {
	for i := range ps.Catalog {
		normalizePlan(&ps.Catalog[i])
	}
}

func normalizePlan(p *platform.Plan) {
	if len(p.Prices) == 0 {
		p.Prices = nil // "prices: {}" and no prices are the same plan
	}
	for m, pr := range p.Prices {
		if pr.Per == 0 {
			pr.Per = 1
			p.Prices[m] = pr
		}
	}
}

// Validate returns EINVALID listing every problem of the set: no plans, a duplicate
// or malformed name, a default that names no plan, and each plan's problems (see
// ValidatePlan).
func (ps Plans) Validate() error {
	var problems []string
	if len(ps.Catalog) == 0 {
		problems = append(problems, "billing plans: the catalog has no plan")
	}
	seen := map[string]bool{}
	for _, p := range ps.Catalog {
		if p.Name != "" && seen[p.Name] {
			problems = append(problems, fmt.Sprintf("plan %q is defined twice", p.Name))
		}
		seen[p.Name] = true
		problems = append(problems, PlanProblems(p)...)
	}
	switch {
	case ps.Default == "":
		problems = append(problems, "billing plans: default names no plan (set default: to the plan of new organisations)")
	case !seen[ps.Default]:
		problems = append(problems, fmt.Sprintf("billing plans: default plan %q is not in the catalog (%s)", ps.Default, strings.Join(ps.Names(), ", ")))
	}
	if len(problems) == 0 {
		return nil
	}
	return platform.Errorf(platform.EINVALID, "%s", strings.Join(problems, "; "))
}

var currencyRE = regexp.MustCompile(`^[a-z]{3}$`)

// PlanProblems lists what is wrong with one plan, each problem naming the plan: its
// name, its currency (a lower-case ISO 4217 code), a price of an unknown meter, a
// negative amount, per or included quantity, a negative quota.
func PlanProblems(p platform.Plan) []string {
	var problems []string
	name := p.Name
	if err := platform.ValidateName("plan", p.Name); err != nil {
		problems = append(problems, platform.ErrorMessage(err))
		if name == "" {
			name = "(unnamed)"
		}
	}
	add := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf("plan %q: ", name)+fmt.Sprintf(format, args...))
	}
	if !currencyRE.MatchString(p.Currency) {
		add("currency %q: want a lower-case ISO 4217 code such as usd or eur", p.Currency)
	}
	if p.BaseAmount < 0 {
		add("base_amount %d is negative", p.BaseAmount)
	}
	for _, m := range slices.Sorted(maps.Keys(p.Prices)) {
		pr := p.Prices[m]
		if !m.Valid() {
			add("prices: unknown meter %q (want one of %s)", m, meterNames())
			continue
		}
		if pr.UnitAmount < 0 {
			add("prices.%s.unit_amount %d is negative", m, pr.UnitAmount)
		}
		if pr.Per < 0 {
			add("prices.%s.per %d is negative (0 means 1)", m, pr.Per)
		}
		if pr.Included < 0 {
			add("prices.%s.included %d is negative", m, pr.Included)
		}
	}
	q := p.Quotas
	for _, f := range []struct {
		key string
		v   int64
	}{
		{"instances", int64(q.Instances)},
		{"namespaces", int64(q.Namespaces)},
		{"previews", int64(q.Previews)},
		{"requests_per_second", int64(q.RequestsPerSecond)},
		{"build_minutes", q.BuildMinutes},
		{"spend_limit", q.SpendLimit},
	} {
		if f.v < 0 {
			add("quotas.%s %d is negative (0 means unlimited)", f.key, f.v)
		}
	}
	return problems
}

func meterNames() string {
	names := make([]string, len(platform.Meters))
	for i, m := range platform.Meters {
		names[i] = string(m)
	}
	return strings.Join(names, ", ")
}

// Names returns the plans' names in catalog order.
func (ps Plans) Names() []string {
	names := make([]string, len(ps.Catalog))
	for i, p := range ps.Catalog {
		names[i] = p.Name
	}
	return names
}

// Lookup returns a copy of the plan called name, or ENOTFOUND naming the plans.
func (ps Plans) Lookup(name string) (platform.Plan, error) {
	for _, p := range ps.Catalog {
		if p.Name == name {
			p.Prices = maps.Clone(p.Prices)
			return p, nil
		}
	}
	return platform.Plan{}, platform.Errorf(platform.ENOTFOUND, "no plan %q (plans: %s)", name, strings.Join(ps.Names(), ", "))
}

// DefaultPlan returns a copy of the plan of organisations given none. Plans that
// passed Validate always have it.
func (ps Plans) DefaultPlan() platform.Plan {
	p, _ := ps.Lookup(ps.Default)
	return p
}
