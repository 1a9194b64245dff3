package billing

import (
	"os"
	"strings"
	"testing"
)

// TestDocsShowDefaultPlans keeps docs/billing.md showing the default plans as they are.
func TestDocsShowDefaultPlans(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/billing.md")
	if err != nil {
		t.Fatal(err)
	}
	block := "```yaml\n" + string(defaultPlansYAML) + "```\n"
	if !strings.Contains(string(doc), block) {
		t.Errorf("docs/billing.md does not show default_plans.yaml verbatim in a yaml block")
	}
}
