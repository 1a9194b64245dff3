package gitops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/github"
	"github.com/micro/platform/internal/refusal"
)

// Webhook headers GitHub sends (the signature's is github.SignatureHeader).
const (
	EventHeader    = "X-GitHub-Event"
	DeliveryHeader = "X-GitHub-Delivery"
)

// MaxBody is GitHub's own cap on a webhook payload.
const MaxBody = 25 << 20

// Audit actions of the receiver.
const (
	AuditWebhookRefused = "webhook.refused"
	AuditWebhookReplay  = "webhook.replay"
)

// recorded are the events a link's delivery is stored for; others are answered and
// dropped.
var recorded = map[string]bool{"push": true, "pull_request": true, "ping": true}

// deliveryID is the form of GitHub's delivery ids (GUIDs).
var deliveryID = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

// Opener opens a link's sealed webhook secret.
type Opener interface {
	Open(sealed string) (string, error)
}

// Receiver takes GitHub's deliveries for linked repositories: it verifies, stores and
// only then acknowledges them, and kicks the worker.
type Receiver struct {
	Store   Store
	Secrets Opener
	Worker  *Worker
	// Audit records refusals (bounded: a burst of 10, then one every 6 s, the rest
	// counted into the next entry).
	Audit  func(ctx context.Context, e *platform.AuditEntry)
	Logger *slog.Logger
	Clock  platform.Clock

	refusals refusal.Limiter
}

// wellFormed reports whether sig can be a SHA-256 signature at all: without one the
// body is not read.
func wellFormed(sig string) bool {
	return len(sig) == len("sha256=")+2*sha256.Size && strings.HasPrefix(sig, "sha256=")
}

// ServeLink handles POST /webhooks/github/links/{link}: a delivery of the webhook the
// link installed (or its owner added by hand) with the link's own secret.
func (rc *Receiver) ServeLink(w http.ResponseWriter, r *http.Request, linkID string) {
	ctx := r.Context()
	sig := r.Header.Get(github.SignatureHeader)
	if !wellFormed(sig) {
		rc.refuse(ctx, w, r, "", linkID, http.StatusUnauthorized, platform.Errorf(platform.EUNAUTHENTICATED, "webhook signature is missing or not sha256").
			WithHint("the webhook's secret must be the one `platform repos link` printed, content type application/json"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, platform.Errorf(platform.EINVALID, "webhook body larger than %d bytes or unreadable", MaxBody))
		return
	}
	link, err := rc.Store.GetRepoLink(ctx, linkID)
	if err != nil && !platform.IsNotFound(err) {
		rc.log().Error("webhook: read link", "link", linkID, "err", err)
		writeError(w, http.StatusServiceUnavailable, platform.Errorf(platform.EUNAVAILABLE, "the platform cannot take the delivery now; GitHub retries"))
		return
	}
	secret := ""
	if link != nil {
		if secret, err = rc.Secrets.Open(link.WebhookSecret); err != nil {
			rc.log().Error("webhook: open the link's secret", "link", linkID, "err", err)
		}
	}
	// An unknown link and a bad signature get the same answer: nothing tells a prober
	// which link ids exist.
	if link == nil || !github.ValidSignature(secret, sig, body) {
		org := ""
		if link != nil {
			org = link.Org
		}
		rc.refuse(ctx, w, r, org, linkID, http.StatusUnauthorized, platform.Errorf(platform.EUNAUTHENTICATED, "webhook signature is wrong").
			WithHint("the webhook's secret must be the one `platform repos link` printed"))
		return
	}
	status, msg, err := rc.record(ctx, link, r.Header.Get(EventHeader), r.Header.Get(DeliveryHeader), body)
	if platform.ErrorCode(err) == platform.ECONFLICT {
		rc.auditRefusal(ctx, &platform.AuditEntry{Org: orgName(link.Org), Action: AuditWebhookReplay, Outcome: platform.AuditDenied,
			Target: "repo-link/" + link.ID, Source: remoteAddr(r),
			Detail: fmt.Sprintf("a signed %s delivery of %s sent again under delivery id %q: refused as a replay; nothing changed", r.Header.Get(EventHeader), link.Repo, r.Header.Get(DeliveryHeader))})
		writeError(w, http.StatusConflict, err)
		return
	}
	if err != nil {
		code := http.StatusBadRequest
		if platform.ErrorCode(err) != platform.EINVALID {
			code = http.StatusServiceUnavailable
			rc.log().Error("webhook: store delivery", "link", link.ID, "err", err)
		}
		writeError(w, code, err)
		return
	}
	writeJSON(w, status, map[string]string{"status": msg})
}

// Accept takes a delivery the operator's GitHub App (or organisation webhook) sent,
// already verified under the operator's secret: it is stored for every link of the
// repository it concerns. It returns what to answer GitHub.
func (rc *Receiver) Accept(ctx context.Context, event, delivery string, body []byte) (int, string, error) {
	if event == "installation" || event == "installation_repositories" {
		var ev envelope
		_ = json.Unmarshal(body, &ev)
		rc.log().Info("GitHub App installation event", "action", ev.Action, "delivery", delivery)
		return http.StatusOK, "installation noted", nil
	}
	if !recorded[event] || event == "ping" {
		return http.StatusOK, "ignored", nil
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return http.StatusBadRequest, "", platform.Errorf(platform.EINVALID, "webhook body is not JSON")
	}
	links, err := rc.Store.ListRepoLinks(ctx, "")
	if err != nil {
		return http.StatusServiceUnavailable, "", err
	}
	n := 0
	for _, l := range links {
		if !strings.EqualFold(l.Repo, env.Repo.FullName) {
			continue
		}
		if _, _, err := rc.record(ctx, l, event, delivery+"."+l.ID, body); err != nil && platform.ErrorCode(err) != platform.ECONFLICT {
			return http.StatusServiceUnavailable, "", err
		}
		n++
	}
	if n == 0 {
		return http.StatusOK, "ignored: no link for " + env.Repo.FullName, nil
	}
	return http.StatusAccepted, fmt.Sprintf("queued for %d links", n), nil
}

// record stores a verified delivery for link and kicks the worker.
func (rc *Receiver) record(ctx context.Context, link *platform.RepoLink, event, id string, body []byte) (int, string, error) {
	if !deliveryID.MatchString(strings.ReplaceAll(id, ".", "-")) {
		return 0, "", platform.Errorf(platform.EINVALID, "%s %q is not a GitHub delivery id", DeliveryHeader, id)
	}
	if !recorded[event] {
		return http.StatusOK, "ignored: " + event + " events do not deploy", nil
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return 0, "", platform.Errorf(platform.EINVALID, "webhook body is not JSON")
	}
	if event != "ping" && !strings.EqualFold(env.Repo.FullName, link.Repo) {
		return 0, "", platform.Errorf(platform.EINVALID, "the delivery is about %q; this link follows %s", env.Repo.FullName, link.Repo)
	}
	h := sha256.New()
	h.Write([]byte(link.ID + "\n"))
	h.Write(body)
	d := &platform.Delivery{ID: id, LinkID: link.ID, Event: event, Action: env.Action, BodyHash: hex.EncodeToString(h.Sum(nil)),
		Body: body, Status: platform.DeliveryQueued, ReceivedAt: rc.now()}
	fresh, err := rc.Store.RecordDelivery(ctx, d)
	if err != nil {
		return 0, "", err
	}
	if !fresh {
		return http.StatusOK, "duplicate: delivery " + id + " was received before", nil
	}
	if rc.Worker != nil {
		rc.Worker.Kick()
	}
	if event == "ping" {
		return http.StatusOK, "pong", nil
	}
	return http.StatusAccepted, "queued", nil
}

// refuse answers a refused delivery and audits it within the bound.
func (rc *Receiver) refuse(ctx context.Context, w http.ResponseWriter, r *http.Request, org, linkID string, status int, err error) {
	rc.log().Warn("webhook refused", "link", linkID, "event", r.Header.Get(EventHeader), "source", remoteAddr(r), "reason", platform.ErrorMessage(err))
	rc.auditRefusal(ctx, &platform.AuditEntry{Org: orgName(org), Action: AuditWebhookRefused, Outcome: platform.AuditDenied,
		Target: "repo-link/" + linkID, Source: remoteAddr(r),
		Detail: fmt.Sprintf("GitHub %s delivery refused: %s; nothing changed", r.Header.Get(EventHeader), platform.ErrorMessage(err))})
	writeError(w, status, err)
}

// auditRefusal writes e within the refusal bound (package refusal).
func (rc *Receiver) auditRefusal(ctx context.Context, e *platform.AuditEntry) {
	if rc.Audit == nil {
		return
	}
	ok, suppressed := rc.refusals.Take(rc.now())
	if !ok {
		return
	}
	e.Detail += refusal.Note(suppressed)
	rc.Audit(context.WithoutCancel(ctx), e)
}

func (rc *Receiver) now() time.Time {
	if rc.Clock == nil {
		return time.Now().UTC()
	}
	return rc.Clock.Now().UTC()
}

func (rc *Receiver) log() *slog.Logger {
	if rc.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return rc.Logger
}

func remoteAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with the platform's error shape.
func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, platform.ErrorResponse{Error: platform.ErrorBody{
		Code: platform.ErrorCode(err), Message: platform.ErrorMessage(err), Hint: platform.ErrorHint(err)}})
}
