package github

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	platform "github.com/micro/platform"
)

// maxWebhookBody is GitHub's own cap on webhook payloads.
const maxWebhookBody = 25 << 20

// SignatureHeader carries the webhook's HMAC-SHA256 of the body, "sha256=HEX".
const SignatureHeader = "X-Hub-Signature-256"

// Sign returns the SignatureHeader value of body under secret, as GitHub computes it.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// ValidSignature reports whether sig (a SignatureHeader value) is body's HMAC-SHA256
// under secret, compared in constant time; an empty secret validates nothing.
func ValidSignature(secret, sig string, body []byte) bool {
	if secret == "" || !strings.HasPrefix(sig, "sha256=") {
		return false
	}
	got, err := hex.DecodeString(strings.TrimPrefix(sig, "sha256="))
	if err != nil {
		return false
	}
	want, _ := hex.DecodeString(strings.TrimPrefix(Sign(secret, body), "sha256="))
	return hmac.Equal(got, want)
}

// syncEvents are the webhook events that can change who is in a linked team.
var syncEvents = map[string]bool{"membership": true, "team": true, "organization": true}

// repoEvents are the webhook events of repositories, for GitOps (Options.RepoEvents).
var repoEvents = map[string]bool{"push": true, "pull_request": true, "installation": true, "installation_repositories": true}

// handleWebhook verifies a GitHub webhook and, for membership, team and organization
// events of a linked organisation, asks the sync loop to run now. It answers 202 once the
// sync is queued: GitHub wants an answer within 10 s, and a sync of large teams may take
// longer.
func (i *Integration) handleWebhook(w http.ResponseWriter, r *http.Request) {
	// Without a well-formed signature header the body cannot be verified: refuse before
	// reading up to maxWebhookBody of it.
	limit := int64(maxWebhookBody)
	if sig := r.Header.Get(SignatureHeader); i.cfg.WebhookSecret == "" || len(sig) != len("sha256=")+2*sha256.Size || !strings.HasPrefix(sig, "sha256=") {
		limit = 0
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if limit == 0 {
		err, body = nil, nil // ValidSignature refuses below
	}
	if err != nil {
		writeError(w, platform.Errorf(platform.EINVALID, "webhook body too large or unreadable"))
		return
	}
	if !ValidSignature(i.cfg.WebhookSecret, r.Header.Get(SignatureHeader), body) {
		source := remoteAddr(r)
		i.log.Warn("webhook refused: bad or missing signature", "source", source, "event", r.Header.Get("X-GitHub-Event"))
		i.refused(r.Context(), refusalWebhook, &platform.AuditEntry{Org: platform.DefaultOrg, Action: ActionWebhookRejected, Outcome: platform.AuditDenied,
			Target: "webhook/github", Source: source,
			Detail: "GitHub webhook with a bad or missing " + SignatureHeader + " (event " + r.Header.Get("X-GitHub-Event") + "); nothing changed"})
		writeError(w, platform.Errorf(platform.EUNAUTHENTICATED, "webhook signature is missing or wrong").
			WithHint("the webhook's secret must equal the platform's github webhook secret"))
		return
	}
	event := r.Header.Get("X-GitHub-Event")
	var payload struct {
		Action       string `json:"action"`
		Organization struct {
			Login string `json:"login"`
		} `json:"organization"`
	}
	if err := json.Unmarshal(body, &payload); err != nil {
		writeError(w, platform.Errorf(platform.EINVALID, "webhook body is not JSON"))
		return
	}
	if event == "ping" {
		writeJSON(w, http.StatusOK, map[string]string{"status": "pong"})
		return
	}
	if repoEvents[event] && i.repoEvents != nil {
		status, msg, err := i.repoEvents(r.Context(), event, r.Header.Get("X-GitHub-Delivery"), body)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, status, map[string]string{"status": msg})
		return
	}
	linked, err := i.linked(r.Context(), payload.Organization.Login)
	if err != nil {
		i.log.Error("webhook: read GitHub links", "err", err)
		writeError(w, err)
		return
	}
	if !syncEvents[event] || !linked {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ignored"})
		return
	}
	i.log.Info("webhook: sync requested", "event", event, "action", payload.Action, "github_org", payload.Organization.Login,
		"delivery", r.Header.Get("X-GitHub-Delivery"))
	select {
	case i.kick <- struct{}{}:
	default: // a sync is already queued and will see this change
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "sync queued"})
}

// linked reports whether a team of githubOrg is linked to a platform organisation.
func (i *Integration) linked(ctx context.Context, githubOrg string) (bool, error) {
	links, err := i.dir.ListGitHubLinks(ctx, "")
	if err != nil {
		return false, err
	}
	for _, l := range i.cfg.Organizations.AllowedLinks(links) {
		if strings.EqualFold(l.GitHubOrg, githubOrg) {
			return true, nil
		}
	}
	return false, nil
}
