package cli

import (
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	platform "github.com/micro/platform"
)

// TestBillingGolden checks the text of `platform usage`, `platform invoices` and
// `platform plan` against testdata/*.golden.
func TestBillingGolden(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	viewer := newFakeAPI(t)
	viewer.whoamiRole = platform.RoleViewer
	tests := []struct {
		name string
		args []string
		fake *fakeAPI // f when nil
	}{
		{name: "usage", args: []string{"usage"}},
		{name: "usage_namespace_meter", args: []string{"usage", "-n", "acme", "--meter", "requests", "-o", "table"}},
		{name: "usage_hourly", args: []string{"usage", "--hourly", "--from", "2026-11-11", "--to", "2026-11-13T00:00:00Z"}},
		{name: "usage_csv", args: []string{"usage", "-o", "csv"}},
		{name: "usage_hourly_csv", args: []string{"usage", "--hourly", "--meter", "requests", "-o", "csv"}},
		{name: "usage_none", args: []string{"usage", "--from", "2026-11-20", "--to", "2026-11-21"}},
		{name: "usage_not_found", args: []string{"usage", "-n", "initech"}},
		{name: "usage_bad_meter", args: []string{"usage", "--meter", "cpu"}},
		{name: "usage_bad_from", args: []string{"usage", "--from", "last week"}},
		{name: "usage_empty_window", args: []string{"usage", "--from", "2026-12-01", "--to", "2026-11-01"}},
		{name: "usage_bad_output", args: []string{"usage", "-o", "yaml"}},
		{name: "invoices", args: []string{"invoices"}},
		{name: "invoices_csv", args: []string{"invoices", "-o", "csv"}},
		{name: "invoices_show", args: []string{"invoices", "show", "in-default-20261101"}},
		{name: "invoices_show_draft", args: []string{"invoices", "show"}},
		{name: "invoices_show_not_found", args: []string{"invoices", "show", "in-globex-20261101"}},
		{name: "plan", args: []string{"plan"}},
		{name: "plan_set", args: []string{"plan", "set", "enterprise"}},
		{name: "plan_set_unknown", args: []string{"plan", "set", "gold"}},
		{name: "plan_set_viewer", args: []string{"plan", "set", "pro"}, fake: viewer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fk := tt.fake
			if fk == nil {
				fk = f
			}
			r := fk.run(t, tt.args...)
			checkGolden(t, tt.name, transcript(tt.args, r))
		})
	}
}

// TestUsageRequests checks what `platform usage` asks: dates as midnight UTC, the
// filters, hourly.
func TestUsageRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"usage"}, "GET /v1/usage"},
		{[]string{"usage", "-n", "acme", "--service", "hello", "--region", "lon1", "--meter", "egress_bytes", "--hourly"},
			"GET /v1/usage?hourly=1&meter=egress_bytes&namespace=acme&region=lon1&service=hello"},
		{[]string{"usage", "--from", "2026-11-01", "--to", "2026-11-20T15:30:00+01:00"},
			"GET /v1/usage?from=2026-11-01T00%3A00%3A00Z&to=2026-11-20T15%3A30%3A00%2B01%3A00"},
	}
	for _, tt := range tests {
		f := newFakeAPI(t)
		// A default namespace does not narrow the usage: only -n does.
		r := runCLI(t, []string{"PLATFORM_SERVER=" + f.URL, "PLATFORM_TOKEN=" + adminSecret, "PLATFORM_NAMESPACE=globex"}, "", tt.args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", tt.args, r.code, r.stderr)
		}
		if len(f.requests) != 1 || f.requests[0] != tt.want {
			t.Errorf("%v: requests %q, want [%q]", tt.args, f.requests, tt.want)
		}
	}
}

// TestBillingJSON: -o json prints what the API answered, as lists even when empty;
// usage's CSV is a header and a row per sum a spreadsheet reads back.
func TestBillingJSON(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	var usage []platform.UsageRollup
	if r := f.run(t, "usage", "-o", "json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &usage) != nil || len(usage) != 4 {
		t.Fatalf("usage -o json: exit %d, %d rows: %s%s", r.code, len(usage), r.stdout, r.stderr)
	}
	if r := f.run(t, "usage", "--from", "2026-11-20", "--to", "2026-11-21", "-o", "json"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("no usage -o json = %q, want []", r.stdout)
	}
	var invoices []platform.Invoice
	if r := f.run(t, "invoices", "-o", "json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &invoices) != nil || len(invoices) != 2 ||
		invoices[1].Total != 1500 {
		t.Fatalf("invoices -o json: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	var view platform.PlanView
	if r := f.run(t, "plan", "-o", "json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &view) != nil || view.Plan.Name != "pro" {
		t.Fatalf("plan -o json: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	r := f.run(t, "usage", "-o", "csv")
	rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil || len(rows) != 5 || strings.Join(rows[0], ",") != "namespace,service,region,meter,quantity,unit" ||
		strings.Join(rows[2], ",") != "acme,hello,lon1,requests,60000000,request" {
		t.Fatalf("usage -o csv = %q, %v", rows, err)
	}
}
