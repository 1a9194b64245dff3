package gitops

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/github"
	"github.com/micro/platform/sqlstore"
)

// plainSecrets stores secrets as they are (the server seals them).
type plainSecrets struct{}

func (plainSecrets) Open(s string) (string, error) { return s, nil }

type auditLog struct {
	mu      sync.Mutex
	entries []*platform.AuditEntry
}

func (a *auditLog) add(_ context.Context, e *platform.AuditEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, e)
}

func (a *auditLog) actions() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, e := range a.entries {
		out = append(out, e.Action)
	}
	return out
}

// receiverFixture is a receiver on a real SQLite store with one link of acme-inc/shop.
func receiverFixture(t *testing.T) (*Receiver, *platform.RepoLink, platform.Store, *auditLog) {
	t.Helper()
	st, err := sqlstore.Open(t.Context(), filepath.Join(t.TempDir(), "platform.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateNamespace(t.Context(), &platform.Namespace{Name: "acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	link := &platform.RepoLink{ID: "l-1", Namespace: "acme", Repo: "acme-inc/shop", Branch: "main", WebhookSecret: "s3cret", Previews: true, CreatedAt: time.Now()}
	if err := st.CreateRepoLink(t.Context(), link); err != nil {
		t.Fatal(err)
	}
	log := &auditLog{}
	return &Receiver{Store: st, Secrets: plainSecrets{}, Audit: log.add}, link, st, log
}

func deliver(rc *Receiver, link, sig, event, id string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/webhooks/github/links/"+link, bytes.NewReader(body))
	r.Header.Set(github.SignatureHeader, sig)
	r.Header.Set(EventHeader, event)
	r.Header.Set(DeliveryHeader, id)
	w := httptest.NewRecorder()
	rc.ServeLink(w, r, link)
	return w
}

// TestReceiver: a signed delivery is stored before it is acknowledged; GitHub's retry
// changes nothing; a replayed body, a forged or missing signature, an unknown link and a
// delivery about another repository are refused, the refusals audited.
func TestReceiver(t *testing.T) {
	rc, link, st, audit := receiverFixture(t)
	body := []byte(`{"ref":"refs/heads/main","after":"abc","repository":{"full_name":"acme-inc/shop"}}`)
	sig := github.Sign("s3cret", body)

	if w := deliver(rc, link.ID, sig, "push", "guid-1", body); w.Code != http.StatusAccepted {
		t.Fatalf("signed delivery: %d %s", w.Code, w.Body)
	}
	d, err := st.GetDelivery(t.Context(), "guid-1")
	if err != nil || d.Status != platform.DeliveryQueued || d.Event != "push" || !bytes.Equal(d.Body, body) {
		t.Fatalf("stored delivery %+v, %v", d, err)
	}
	if w := deliver(rc, link.ID, sig, "push", "guid-1", body); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "duplicate") {
		t.Errorf("retry: %d %s", w.Code, w.Body)
	}
	if w := deliver(rc, link.ID, sig, "push", "guid-2", body); w.Code != http.StatusConflict {
		t.Errorf("replay: %d %s", w.Code, w.Body)
	}
	if w := deliver(rc, link.ID, github.Sign("wrong", body), "push", "guid-3", body); w.Code != http.StatusUnauthorized {
		t.Errorf("forged: %d", w.Code)
	}
	if w := deliver(rc, link.ID, "", "push", "guid-4", body); w.Code != http.StatusUnauthorized {
		t.Errorf("unsigned: %d", w.Code)
	}
	if w := deliver(rc, "l-nope", sig, "push", "guid-5", body); w.Code != http.StatusUnauthorized {
		t.Errorf("unknown link: %d", w.Code)
	}
	other := []byte(`{"ref":"refs/heads/main","repository":{"full_name":"evil/shop"}}`)
	if w := deliver(rc, link.ID, github.Sign("s3cret", other), "push", "guid-6", other); w.Code != http.StatusBadRequest {
		t.Errorf("another repository: %d %s", w.Code, w.Body)
	}
	if w := deliver(rc, link.ID, sig, "push", "bad id with spaces", body); w.Code != http.StatusBadRequest {
		t.Errorf("bad delivery id: %d", w.Code)
	}
	if w := deliver(rc, link.ID, github.Sign("s3cret", []byte("{")), "push", "guid-7", []byte("{")); w.Code != http.StatusBadRequest {
		t.Errorf("not JSON: %d", w.Code)
	}
	issue := []byte(`{"action":"opened","repository":{"full_name":"acme-inc/shop"}}`)
	if w := deliver(rc, link.ID, github.Sign("s3cret", issue), "issues", "guid-8", issue); w.Code != http.StatusOK {
		t.Errorf("an event that does not deploy: %d", w.Code)
	}
	all, err := st.ListDeliveries(t.Context(), link.ID, "", 0)
	if err != nil || len(all) != 1 {
		t.Fatalf("%d deliveries stored (%v), want only the first", len(all), err)
	}
	got := strings.Join(audit.actions(), ",")
	if strings.Count(got, AuditWebhookRefused) != 3 || strings.Count(got, AuditWebhookReplay) != 1 {
		t.Errorf("audited %s, want 3 refusals and 1 replay", got)
	}
}

// TestReceiverBoundsRefusalAudits: a flood of forged deliveries writes a bounded number
// of audit entries.
func TestReceiverBoundsRefusalAudits(t *testing.T) {
	rc, link, _, audit := receiverFixture(t)
	body := []byte(`{}`)
	for i := range 100 {
		deliver(rc, link.ID, github.Sign("wrong", body), "push", "g", body)
		_ = i
	}
	if n := len(audit.actions()); n != 10 {
		t.Errorf("%d audit entries for 100 forgeries, want 10", n)
	}
}

// TestAppDeliveries: a delivery the operator's App verified is stored for every link of
// its repository, once.
func TestAppDeliveries(t *testing.T) {
	rc, _, st, _ := receiverFixture(t)
	second := &platform.RepoLink{ID: "l-2", Namespace: "acme", Repo: "acme-inc/shop", Branch: "staging", WebhookSecret: "x", CreatedAt: time.Now()}
	if err := st.CreateRepoLink(t.Context(), second); err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"ref":"refs/heads/main","repository":{"full_name":"acme-inc/shop"}}`)
	code, msg, err := rc.Accept(t.Context(), "push", "guid-app", body)
	if err != nil || code != http.StatusAccepted || !strings.Contains(msg, "2 links") {
		t.Fatalf("Accept: %d %q %v", code, msg, err)
	}
	if code, _, err := rc.Accept(t.Context(), "push", "guid-app", body); err != nil || code != http.StatusAccepted {
		t.Fatalf("retried App delivery: %d %v", code, err)
	}
	all, err := st.ListDeliveries(t.Context(), "", "", 0)
	if err != nil || len(all) != 2 {
		t.Fatalf("%d deliveries (%v), want one per link", len(all), err)
	}
	if code, msg, _ := rc.Accept(t.Context(), "push", "guid-x", []byte(`{"repository":{"full_name":"nobody/else"}}`)); code != http.StatusOK || !strings.Contains(msg, "no link") {
		t.Errorf("a delivery for an unlinked repository: %d %q", code, msg)
	}
	if code, _, _ := rc.Accept(t.Context(), "installation", "guid-i", []byte(`{"action":"created"}`)); code != http.StatusOK {
		t.Errorf("installation: %d", code)
	}
}
