package billing

import (
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	platform "github.com/micro/platform"
)

func TestDefaultPlans(t *testing.T) {
	t.Parallel()
	ps := DefaultPlans()
	if err := ps.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ps.Names(), ","); got != "free,pro,enterprise" {
		t.Errorf("names = %s", got)
	}
	if d := ps.DefaultPlan(); d.Name != "free" || len(d.Prices) != 0 || d.BaseAmount != 0 {
		t.Errorf("default plan = %+v, want free with nothing charged", d)
	}
	for _, name := range []string{"pro", "enterprise"} {
		p, err := ps.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range platform.Meters {
			if pr, ok := p.Prices[m]; !ok || pr.UnitAmount <= 0 || pr.Per <= 0 || pr.Included <= 0 {
				t.Errorf("plan %s prices %s as %+v, want a price, a per and an included quantity", name, m, pr)
			}
		}
	}
	// Lookup copies: changing what it returns changes nothing else.
	p, _ := ps.Lookup("pro")
	p.Prices[platform.MeterRequests] = platform.Price{}
	if q, _ := ps.Lookup("pro"); q.Prices[platform.MeterRequests].UnitAmount == 0 {
		t.Error("Lookup shares the catalog's prices")
	}
	// The YAML round trip gives the same plans.
	out, err := yaml.Marshal(ps)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePlans(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, ps) {
		t.Errorf("round trip differs:\n%+v\n%+v", back, ps)
	}
}

func TestParsePlans(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		yaml  string
		wants []string // every one in the error; none: no error
	}{
		{
			name: "minimal, per 0 is 1",
			yaml: "default: basic\ncatalog:\n  - name: basic\n    currency: eur\n    prices:\n      requests: {unit_amount: 3}\n",
		},
		{
			name: "every problem at once",
			yaml: `default: gold
catalog:
  - name: basic
    currency: USD
    base_amount: -1
    prices:
      cpu: {unit_amount: 1}
      requests: {unit_amount: -2, per: -3, included: -4}
    quotas: {instances: -1, spend_limit: -5}
  - name: basic
    currency: eur
  - name: Bad_Name
    currency: euro
`,
			wants: []string{
				`plan "basic": currency "USD": want a lower-case ISO 4217 code`,
				`plan "basic": base_amount -1 is negative`,
				`plan "basic": prices: unknown meter "cpu" (want one of instance_seconds, requests, build_seconds, egress_bytes, log_bytes, tool_calls)`,
				`prices.requests.unit_amount -2 is negative`,
				`prices.requests.per -3 is negative (0 means 1)`,
				`prices.requests.included -4 is negative`,
				`quotas.instances -1 is negative (0 means unlimited)`,
				`quotas.spend_limit -5 is negative`,
				`plan "basic" is defined twice`,
				`invalid plan name "Bad_Name"`,
				`plan "Bad_Name": currency "euro"`,
				`default plan "gold" is not in the catalog (basic, basic, Bad_Name)`,
			},
		},
		{name: "no default", yaml: "catalog:\n  - {name: a, currency: usd}\n", wants: []string{"default names no plan"}},
		{name: "empty", yaml: "", wants: []string{"the catalog has no plan", "default names no plan"}},
		{name: "unknown field", yaml: "default: a\ncatalog:\n  - {name: a, currency: usd, base: 1}\n", wants: []string{"field base not found"}},
		{name: "not yaml", yaml: "default: [", wants: []string{"billing plans:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ps, err := ParsePlans([]byte(tt.yaml))
			if len(tt.wants) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if pr := ps.Catalog[0].Prices[platform.MeterRequests]; pr.Per != 1 {
					t.Errorf("per = %d, want 1", pr.Per)
				}
				return
			}
			if platform.ErrorCode(err) != platform.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestLookupNotFound(t *testing.T) {
	t.Parallel()
	_, err := DefaultPlans().Lookup("gold")
	if !platform.IsNotFound(err) || !strings.Contains(err.Error(), "free, pro, enterprise") {
		t.Errorf("err = %v", err)
	}
}
