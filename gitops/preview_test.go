package gitops

import (
	"context"
	"testing"

	platform "github.com/micro/platform"
	"github.com/micro/platform/billing"
)

// planQuotas checks the previews quota of a plan allowing two.
type planQuotas struct{}

func (planQuotas) CheckQuota(_ context.Context, org string, kind billing.QuotaKind, current, adding int64) error {
	plan := platform.Plan{Name: "small", Quotas: platform.Quotas{Previews: 2}}
	if org == "broken" {
		return platform.Errorf(platform.EUNAVAILABLE, "store unavailable")
	}
	return billing.CheckQuota(plan, kind, current, adding)
}

// TestPreviewRoom: a preview is refused beyond the operator's cap or the plan's previews
// quota, with a comment saying which and what to do; a failure to read the plan refuses
// without a comment.
func TestPreviewRoom(t *testing.T) {
	w := &Worker{opts: Options{MaxPreviews: 3, Quotas: planQuotas{}}}
	ctx := context.Background()
	for _, tt := range []struct {
		org     string
		n       int
		code    string
		comment string
	}{
		{"acme", 1, "", ""},
		{"acme", 2, platform.EQUOTA, "No preview: quota previews exceeded: plan small allows 2 preview namespaces; 2 in use and 1 more would make 3. Close pull requests whose previews you no longer need, or ask an owner of the organisation to move it to a plan with a higher limit."},
		{"acme", 3, platform.EQUOTA, "No preview: organisation acme has 3 preview namespaces, the most it may have (3). Close a pull request with a preview, or ask the operator to raise gitops.max_previews."},
		{"broken", 0, platform.EUNAVAILABLE, ""},
	} {
		msg, err := w.previewRoom(ctx, tt.org, tt.n)
		if platform.ErrorCode(err) != tt.code && !(tt.code == "" && err == nil) {
			t.Errorf("%s with %d previews: %v, want %q", tt.org, tt.n, err, tt.code)
		}
		if msg != tt.comment {
			t.Errorf("%s with %d previews: comment\n %q\nwant\n %q", tt.org, tt.n, msg, tt.comment)
		}
	}
}
