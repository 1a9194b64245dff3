package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/micro/platform"
)

// newLink returns a link of namespace ns to repo's main branch.
func newLink(id, ns, repo string) *platform.RepoLink {
	return &platform.RepoLink{
		ID: id, Namespace: ns, Repo: repo, Branch: "main", Path: "services", WebhookSecret: "sealed:" + id,
		HookID: 42, Previews: true, CreatedBy: "u-alice", CreatedAt: testTime,
	}
}

// mustLink stores a link of namespace ns to repo's main branch.
func mustLink(t *testing.T, s platform.Store, id, ns, repo string) *platform.RepoLink {
	t.Helper()
	l := newLink(id, ns, repo)
	must(t, s.CreateRepoLink(t.Context(), l))
	return l
}

// newDelivery returns a push delivery of link whose body (and so hash) is unique to id.
func newDelivery(id, link string, received time.Time) *platform.Delivery {
	body := `{"ref":"refs/heads/main","after":"` + id + `"}`
	return &platform.Delivery{
		ID: id, LinkID: link, Event: "push", BodyHash: "sha256-" + id, Body: []byte(body), ReceivedAt: received,
	}
}

// mustDeliver records a new delivery of link received at received.
func mustDeliver(t *testing.T, s platform.Store, id, link string, received time.Time) *platform.Delivery {
	t.Helper()
	d := newDelivery(id, link, received)
	ok, err := s.RecordDelivery(t.Context(), d)
	must(t, err)
	if !ok {
		t.Fatalf("RecordDelivery(%s) = false, want true for a new delivery", id)
	}
	return d
}

// linkIDs returns the IDs of links.
func linkIDs(links []*platform.RepoLink) string {
	var ids []string
	for _, l := range links {
		ids = append(ids, l.ID)
	}
	return strings.Join(ids, ",")
}

// deliveryIDs returns the IDs of deliveries.
func deliveryIDs(list []*platform.Delivery) string {
	var ids []string
	for _, d := range list {
		ids = append(ids, d.ID)
	}
	return strings.Join(ids, ",")
}

func testRepoLinks(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	must(t, s.CreateOrg(ctx, &platform.Org{Name: "globex"}))
	mustNamespace(t, s, "acme")
	mustNamespace(t, s, "staging")
	must(t, s.CreateNamespace(ctx, &platform.Namespace{Name: "gx", Org: "globex"}))

	first := newLink("l-1", "acme", "acme/shop")
	t.Run("create and get", func(t *testing.T) {
		must(t, s.CreateRepoLink(ctx, first))
		if first.Org != platform.DefaultOrg {
			t.Fatalf("Org = %q, want the namespace's, %q", first.Org, platform.DefaultOrg)
		}
		got, err := s.GetRepoLink(ctx, "l-1")
		must(t, err)
		sameJSON(t, "GetRepoLink", got, first)
		sameTime(t, "CreatedAt", got.CreatedAt, testTime)
		// The secret is never serialised, so sameJSON does not see it.
		if got.WebhookSecret != "sealed:l-1" || got.LastDelivery != nil {
			t.Fatalf("WebhookSecret = %q, LastDelivery = %+v; want sealed:l-1 and none", got.WebhookSecret, got.LastDelivery)
		}
	})
	t.Run("CreatedAt defaults to now", func(t *testing.T) {
		l := &platform.RepoLink{ID: "l-now", Namespace: "acme", Repo: "acme/tools", Branch: "main"}
		before := time.Now().Add(-time.Second)
		must(t, s.CreateRepoLink(ctx, l))
		if l.CreatedAt.Before(before) || l.CreatedAt.After(time.Now().Add(time.Second)) {
			t.Fatalf("CreatedAt = %v, want about now", l.CreatedAt)
		}
		must(t, s.DeleteRepoLink(ctx, "l-now"))
	})
	t.Run("one link per namespace, repository and branch", func(t *testing.T) {
		wantCode(t, s.CreateRepoLink(ctx, newLink("l-dup", "acme", "acme/shop")), platform.ECONFLICT)
		wantCode(t, s.CreateRepoLink(ctx, newLink("l-1", "staging", "acme/other")), platform.ECONFLICT)
		release := newLink("l-release", "acme", "acme/shop")
		release.Branch = "release"
		must(t, s.CreateRepoLink(ctx, release))
		// Another namespace may link the same repository and branch.
		mustLink(t, s, "l-staging", "staging", "acme/shop")
	})
	t.Run("errors", func(t *testing.T) {
		err := s.CreateRepoLink(ctx, &platform.RepoLink{})
		wantCode(t, err, platform.EINVALID)
		for _, field := range []string{"id", "namespace", "repository", "branch"} {
			if msg := platform.ErrorMessage(err); !strings.Contains(msg, field) {
				t.Fatalf("message %q must name the missing %s", msg, field)
			}
		}
		wantCode(t, s.CreateRepoLink(ctx, newLink("l-x", "nope", "acme/shop")), platform.ENOTFOUND)
		_, err = s.GetRepoLink(ctx, "l-nope")
		wantCode(t, err, platform.ENOTFOUND)
		wantCode(t, s.DeleteRepoLink(ctx, "l-nope"), platform.ENOTFOUND)
	})
	t.Run("list by org, oldest first", func(t *testing.T) {
		gx := newLink("l-gx", "gx", "globex/app")
		gx.CreatedAt = testTime.Add(-time.Hour)
		must(t, s.CreateRepoLink(ctx, gx))
		if gx.Org != "globex" {
			t.Fatalf("Org = %q, want globex", gx.Org)
		}
		tests := []struct{ org, want string }{
			{"", "l-gx,l-1,l-release,l-staging"},
			{platform.DefaultOrg, "l-1,l-release,l-staging"},
			{"globex", "l-gx"},
			{"nope", ""},
		}
		for _, tc := range tests {
			list, err := s.ListRepoLinks(ctx, tc.org)
			must(t, err)
			if got := linkIDs(list); got != tc.want {
				t.Fatalf("ListRepoLinks(%q) = %s, want %s", tc.org, got, tc.want)
			}
		}
	})
	t.Run("delete", func(t *testing.T) {
		must(t, s.DeleteRepoLink(ctx, "l-staging"))
		_, err := s.GetRepoLink(ctx, "l-staging")
		wantCode(t, err, platform.ENOTFOUND)
		wantCode(t, s.DeleteRepoLink(ctx, "l-staging"), platform.ENOTFOUND)
		// The namespace may link the repository again.
		mustLink(t, s, "l-staging-2", "staging", "acme/shop")
	})
}

func testDeliveries(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustNamespace(t, s, "acme")
	mustLink(t, s, "l-1", "acme", "acme/shop")
	mustLink(t, s, "l-2", "acme", "acme/web")

	first := newDelivery("d-1", "l-1", testTime)
	first.Action, first.Status, first.Attempts, first.Error = "opened", platform.DeliveryDone, 3, "left over"
	t.Run("record stores a queued delivery", func(t *testing.T) {
		ok, err := s.RecordDelivery(ctx, first)
		must(t, err)
		if !ok || first.Status != platform.DeliveryQueued || first.Attempts != 0 || first.Error != "" {
			t.Fatalf("RecordDelivery = %v, delivery %+v; want true, queued, no attempts, no error", ok, first)
		}
		got, err := s.GetDelivery(ctx, "d-1")
		must(t, err)
		sameJSON(t, "GetDelivery", got, first)
		sameTime(t, "ReceivedAt", got.ReceivedAt, testTime)
		if string(got.Body) != string(first.Body) {
			t.Fatalf("Body = %q, want %q", got.Body, first.Body)
		}
	})
	t.Run("a retry is recorded once", func(t *testing.T) {
		retry := newDelivery("d-1", "l-1", testTime.Add(time.Minute))
		retry.Event, retry.Body, retry.BodyHash = "pull_request", []byte("other"), "sha256-other"
		for _, d := range []*platform.Delivery{newDelivery("d-1", "l-1", testTime), retry} {
			ok, err := s.RecordDelivery(ctx, d)
			must(t, err)
			if ok {
				t.Fatal("RecordDelivery of a known ID = true, want false")
			}
		}
		got, err := s.GetDelivery(ctx, "d-1")
		must(t, err)
		sameJSON(t, "delivery after retries", got, first)
		if string(got.Body) != string(first.Body) {
			t.Fatalf("Body after retries = %q, want the first %q", got.Body, first.Body)
		}
	})
	t.Run("a replay is a conflict", func(t *testing.T) {
		replay := newDelivery("d-replay", "l-1", testTime)
		replay.BodyHash = first.BodyHash
		_, err := s.RecordDelivery(ctx, replay)
		wantCode(t, err, platform.ECONFLICT)
		_, err = s.GetDelivery(ctx, "d-replay")
		wantCode(t, err, platform.ENOTFOUND)
	})
	t.Run("errors", func(t *testing.T) {
		_, err := s.RecordDelivery(ctx, &platform.Delivery{})
		wantCode(t, err, platform.EINVALID)
		_, err = s.RecordDelivery(ctx, newDelivery("d-x", "l-nope", testTime))
		wantCode(t, err, platform.ENOTFOUND)
		_, err = s.GetDelivery(ctx, "d-nope")
		wantCode(t, err, platform.ENOTFOUND)
		wantCode(t, s.UpdateDelivery(ctx, &platform.Delivery{ID: "d-nope", Status: platform.DeliveryDone}), platform.ENOTFOUND)
	})
	t.Run("an empty body", func(t *testing.T) {
		d := newDelivery("d-empty", "l-2", testTime.Add(-time.Hour))
		d.Body = nil
		ok, err := s.RecordDelivery(ctx, d)
		must(t, err)
		got, err := s.GetDelivery(ctx, "d-empty")
		must(t, err)
		if !ok || len(got.Body) != 0 {
			t.Fatalf("RecordDelivery = %v, Body = %q; want true and empty", ok, got.Body)
		}
	})
}

// testRepoLinkLastDelivery checks that ListRepoLinks shows each link's newest delivery,
// without its body, and none for a link without deliveries.
func testRepoLinkLastDelivery(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustNamespace(t, s, "acme")
	for _, id := range []string{"l-1", "l-2", "l-3"} {
		mustLink(t, s, id, "acme", "acme/"+id)
	}
	mustDeliver(t, s, "d-old", "l-1", testTime)
	newest := mustDeliver(t, s, "d-new", "l-1", testTime.Add(time.Minute))
	mustDeliver(t, s, "d-other", "l-2", testTime.Add(time.Hour))
	list, err := s.ListRepoLinks(ctx, platform.DefaultOrg)
	must(t, err)
	if got := linkIDs(list); got != "l-1,l-2,l-3" {
		t.Fatalf("ListRepoLinks = %s, want l-1,l-2,l-3", got)
	}
	got := list[0].LastDelivery
	if got == nil || got.Body != nil {
		t.Fatalf("LastDelivery of l-1 = %+v, want d-new without its body", got)
	}
	sameJSON(t, "LastDelivery", got, newest)
	if list[1].LastDelivery == nil || list[1].LastDelivery.ID != "d-other" || list[2].LastDelivery != nil {
		t.Fatalf("LastDelivery of l-2 = %+v, of l-3 = %+v; want d-other and none", list[1].LastDelivery, list[2].LastDelivery)
	}
	if list[0].WebhookSecret != "sealed:l-1" {
		t.Fatalf("listed WebhookSecret = %q, want sealed:l-1", list[0].WebhookSecret)
	}
}

// testDeliveryQueue checks what the worker relies on: UpdateDelivery, and ListDeliveries
// filtering by link and status, oldest first, bodies included.
func testDeliveryQueue(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustNamespace(t, s, "acme")
	mustLink(t, s, "l-1", "acme", "acme/shop")
	mustLink(t, s, "l-2", "acme", "acme/web")
	// Recorded out of order: the list follows ReceivedAt.
	mustDeliver(t, s, "d-1", "l-1", testTime)
	mustDeliver(t, s, "d-early", "l-2", testTime.Add(-time.Hour))
	mustDeliver(t, s, "d-2", "l-2", testTime.Add(time.Minute))
	mustDeliver(t, s, "d-3", "l-1", testTime.Add(2*time.Minute))
	t.Run("update", func(t *testing.T) {
		d, err := s.GetDelivery(ctx, "d-3")
		must(t, err)
		done := testTime.Add(3 * time.Minute)
		d.Status, d.Error, d.Attempts, d.DoneAt = platform.DeliveryFailed, "build failed", 2, &done
		d.Event, d.Body = "ignored", []byte("ignored") // not updatable
		must(t, s.UpdateDelivery(ctx, d))
		got, err := s.GetDelivery(ctx, "d-3")
		must(t, err)
		if got.Status != platform.DeliveryFailed || got.Error != "build failed" || got.Attempts != 2 ||
			got.DoneAt == nil || got.Event != "push" || !strings.Contains(string(got.Body), "d-3") {
			t.Fatalf("delivery after update = %+v (body %q)", got, got.Body)
		}
		sameTime(t, "DoneAt", *got.DoneAt, done)
	})
	t.Run("list", func(t *testing.T) {
		tests := []struct {
			link   string
			status platform.DeliveryStatus
			limit  int
			want   string
		}{
			{"", "", 0, "d-early,d-1,d-2,d-3"},
			{"", "", 2, "d-early,d-1"},
			{"l-1", "", 0, "d-1,d-3"},
			{"", platform.DeliveryQueued, 0, "d-early,d-1,d-2"},
			{"l-1", platform.DeliveryQueued, 0, "d-1"},
			{"l-1", platform.DeliveryFailed, 0, "d-3"},
			{"", platform.DeliveryDone, 0, ""},
			{"l-nope", "", 0, ""},
		}
		for _, tc := range tests {
			list, err := s.ListDeliveries(ctx, tc.link, tc.status, tc.limit)
			must(t, err)
			if got := deliveryIDs(list); got != tc.want {
				t.Fatalf("ListDeliveries(%q, %q, %d) = %s, want %s", tc.link, tc.status, tc.limit, got, tc.want)
			}
		}
		// The worker reads the body from the list.
		list, err := s.ListDeliveries(ctx, "l-2", platform.DeliveryQueued, 0)
		must(t, err)
		if len(list) != 2 || !strings.Contains(string(list[1].Body), "d-2") {
			t.Fatalf("ListDeliveries of l-2 = %+v, want d-early and d-2 with its body", list)
		}
	})
}

func testPreviews(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	must(t, s.CreateOrg(ctx, &platform.Org{Name: "globex"}))
	for _, ns := range []string{"acme", "acme-pr-1", "acme-pr-2"} {
		mustNamespace(t, s, ns)
	}
	for _, ns := range []string{"gx", "gx-pr-7"} {
		must(t, s.CreateNamespace(ctx, &platform.Namespace{Name: ns, Org: "globex"}))
	}
	mustLink(t, s, "l-1", "acme", "acme/shop")
	mustLink(t, s, "l-gx", "gx", "globex/app")

	pr1 := &platform.Preview{Namespace: "acme-pr-1", LinkID: "l-1", PR: 1, Commit: "aaa", CreatedAt: testTime}
	t.Run("put and get", func(t *testing.T) {
		must(t, s.PutPreview(ctx, pr1))
		if pr1.Org != platform.DefaultOrg {
			t.Fatalf("Org = %q, want the namespace's", pr1.Org)
		}
		got, err := s.GetPreview(ctx, "l-1", 1)
		must(t, err)
		sameJSON(t, "GetPreview", got, pr1)
		sameTime(t, "CreatedAt", got.CreatedAt, testTime)
	})
	t.Run("put again updates", func(t *testing.T) {
		update := &platform.Preview{Namespace: "acme-pr-1", LinkID: "l-1", PR: 1, Commit: "bbb", CreatedAt: testTime.Add(time.Hour)}
		must(t, s.PutPreview(ctx, update))
		got, err := s.GetPreview(ctx, "l-1", 1)
		must(t, err)
		if got.Commit != "bbb" {
			t.Fatalf("Commit = %q, want bbb", got.Commit)
		}
		sameTime(t, "CreatedAt kept", got.CreatedAt, testTime)
		sameTime(t, "CreatedAt written back", update.CreatedAt, testTime)
	})
	t.Run("errors", func(t *testing.T) {
		err := s.PutPreview(ctx, &platform.Preview{})
		wantCode(t, err, platform.EINVALID)
		if msg := platform.ErrorMessage(err); !strings.Contains(msg, "namespace") || !strings.Contains(msg, "pull request") {
			t.Fatalf("message %q must name every missing field", msg)
		}
		wantCode(t, s.PutPreview(ctx, &platform.Preview{Namespace: "nope", LinkID: "l-1", PR: 3}), platform.ENOTFOUND)
		wantCode(t, s.PutPreview(ctx, &platform.Preview{Namespace: "acme-pr-2", LinkID: "l-nope", PR: 3}), platform.ENOTFOUND)
		// One namespace per pull request of a link.
		wantCode(t, s.PutPreview(ctx, &platform.Preview{Namespace: "acme-pr-2", LinkID: "l-1", PR: 1}), platform.ECONFLICT)
		_, err = s.GetPreview(ctx, "l-1", 2)
		wantCode(t, err, platform.ENOTFOUND)
		_, err = s.GetPreview(ctx, "l-gx", 1)
		wantCode(t, err, platform.ENOTFOUND)
		wantCode(t, s.DeletePreview(ctx, "acme"), platform.ENOTFOUND)
	})
	t.Run("list by org", func(t *testing.T) {
		must(t, s.PutPreview(ctx, &platform.Preview{Namespace: "acme-pr-2", LinkID: "l-1", PR: 2}))
		must(t, s.PutPreview(ctx, &platform.Preview{Namespace: "gx-pr-7", LinkID: "l-gx", PR: 7}))
		tests := []struct{ org, want string }{
			{"", "acme-pr-1,acme-pr-2,gx-pr-7"},
			{platform.DefaultOrg, "acme-pr-1,acme-pr-2"},
			{"globex", "gx-pr-7"},
		}
		for _, tc := range tests {
			list, err := s.ListPreviews(ctx, tc.org)
			must(t, err)
			var names []string
			for _, p := range list {
				names = append(names, p.Namespace)
			}
			if got := strings.Join(names, ","); got != tc.want {
				t.Fatalf("ListPreviews(%q) = %s, want %s", tc.org, got, tc.want)
			}
		}
	})
	t.Run("delete", func(t *testing.T) {
		must(t, s.DeletePreview(ctx, "acme-pr-2"))
		_, err := s.GetPreview(ctx, "l-1", 2)
		wantCode(t, err, platform.ENOTFOUND)
		wantCode(t, s.DeletePreview(ctx, "acme-pr-2"), platform.ENOTFOUND)
		// The record goes, not the namespace.
		_, err = s.GetNamespace(ctx, "acme-pr-2")
		must(t, err)
	})
}

// testRepoCascades checks what deleting a link or a namespace takes with it: a link its
// deliveries and previews; a namespace its links (with theirs) and its preview record.
func testRepoCascades(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	fill := func(ns string) {
		t.Helper()
		for _, name := range []string{ns, ns + "-pr-1", ns + "-pr-2"} {
			mustNamespace(t, s, name)
		}
		for i, link := range []string{ns + "-a", ns + "-b"} {
			mustLink(t, s, link, ns, "acme/"+link)
			mustDeliver(t, s, link+"-d", link, testTime)
			must(t, s.PutPreview(ctx, &platform.Preview{Namespace: fmt.Sprintf("%s-pr-%d", ns, i+1), LinkID: link, PR: 1}))
		}
	}
	counts := func(ns string) map[string]int {
		t.Helper()
		links, err := s.ListRepoLinks(ctx, "")
		must(t, err)
		deliveries, err := s.ListDeliveries(ctx, "", "", 0)
		must(t, err)
		previews, err := s.ListPreviews(ctx, "")
		must(t, err)
		c := map[string]int{"links": 0, "deliveries": 0, "previews": 0}
		for _, l := range links {
			if l.Namespace == ns {
				c["links"]++
			}
		}
		for _, d := range deliveries {
			if strings.HasPrefix(d.LinkID, ns+"-") {
				c["deliveries"]++
			}
		}
		for _, p := range previews {
			if strings.HasPrefix(p.Namespace, ns+"-") {
				c["previews"]++
			}
		}
		return c
	}
	fill("gone")
	fill("kept")

	t.Run("DeleteRepoLink", func(t *testing.T) {
		must(t, s.DeleteRepoLink(ctx, "gone-a"))
		_, err := s.GetDelivery(ctx, "gone-a-d")
		wantCode(t, err, platform.ENOTFOUND)
		_, err = s.GetPreview(ctx, "gone-a", 1)
		wantCode(t, err, platform.ENOTFOUND)
		sameJSON(t, "what remains", counts("gone"), map[string]int{"links": 1, "deliveries": 1, "previews": 1})
		// The preview namespace itself stays: the control plane deletes it.
		_, err = s.GetNamespace(ctx, "gone-pr-1")
		must(t, err)
	})
	t.Run("DeleteNamespace of a preview", func(t *testing.T) {
		must(t, s.DeleteNamespace(ctx, "kept-pr-1"))
		_, err := s.GetPreview(ctx, "kept-a", 1)
		wantCode(t, err, platform.ENOTFOUND)
		_, err = s.GetRepoLink(ctx, "kept-a")
		must(t, err)
	})
	t.Run("DeleteNamespace of links", func(t *testing.T) {
		must(t, s.DeleteNamespace(ctx, "gone"))
		_, err := s.GetRepoLink(ctx, "gone-b")
		wantCode(t, err, platform.ENOTFOUND)
		_, err = s.GetDelivery(ctx, "gone-b-d")
		wantCode(t, err, platform.ENOTFOUND)
		_, err = s.GetPreview(ctx, "gone-b", 1)
		wantCode(t, err, platform.ENOTFOUND)
		sameJSON(t, "what remains of the deleted namespace", counts("gone"), map[string]int{"links": 0, "deliveries": 0, "previews": 0})
		sameJSON(t, "the other namespace", counts("kept"), map[string]int{"links": 2, "deliveries": 2, "previews": 1})
	})
}

// testRepoReopen checks that links, deliveries and previews survive Close and reopen.
func testRepoReopen(t *testing.T, h *harness) {
	s, closeS, reopen := h.openWithReopen(t)
	ctx := t.Context()
	mustNamespace(t, s, "acme")
	mustNamespace(t, s, "acme-pr-3")
	link := mustLink(t, s, "l-1", "acme", "acme/shop")
	d := mustDeliver(t, s, "d-1", "l-1", testTime)
	p := &platform.Preview{Namespace: "acme-pr-3", LinkID: "l-1", PR: 3, Commit: "abc", CreatedAt: testTime}
	must(t, s.PutPreview(ctx, p))
	closeS()

	s2, closeS2 := reopen()
	defer closeS2()
	gotLink, err := s2.GetRepoLink(ctx, "l-1")
	must(t, err)
	sameJSON(t, "link", gotLink, link)
	if gotLink.WebhookSecret != link.WebhookSecret {
		t.Fatalf("WebhookSecret = %q, want %q", gotLink.WebhookSecret, link.WebhookSecret)
	}
	gotD, err := s2.GetDelivery(ctx, "d-1")
	must(t, err)
	sameJSON(t, "delivery", gotD, d)
	if string(gotD.Body) != string(d.Body) {
		t.Fatalf("Body = %q, want %q", gotD.Body, d.Body)
	}
	gotP, err := s2.GetPreview(ctx, "l-1", 3)
	must(t, err)
	sameJSON(t, "preview", gotP, p)
	// The delivery ID is still known: GitHub's retry after a restart is recorded once.
	ok, err := s2.RecordDelivery(ctx, newDelivery("d-1", "l-1", testTime))
	must(t, err)
	if ok {
		t.Fatal("RecordDelivery of a known ID after reopen = true, want false")
	}
}
