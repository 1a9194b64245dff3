package platform

import (
	"context"
	"time"
)

// RepoLink links a branch of a GitHub repository to a namespace: every push to the
// branch deploys the services it changed, and every pull request against it gets a
// preview namespace (see package gitops).
type RepoLink struct {
	ID string `json:"id"`
	// Org owns the link: the organisation of Namespace.
	Org       string `json:"org,omitempty"`
	Namespace string `json:"namespace"`
	// Repo is "owner/name" as GitHub spells it.
	Repo string `json:"repo"`
	// Branch is the branch whose pushes deploy ("main" unless given).
	Branch string `json:"branch"`
	// Path is the directory of the repository holding the services (its micro.mu, or
	// the one service's main package); "" is the root.
	Path string `json:"path,omitempty"`
	// CloneURL is where the platform fetches the repository; empty means GitHub's own
	// (the configured web URL + Repo + ".git").
	CloneURL string `json:"clone_url,omitempty"`
	// WebhookSecret is the link's own HMAC secret, sealed by the control plane; it is
	// shown once, when the link is made, and never serialised.
	WebhookSecret string `json:"-"`
	// HookID is GitHub's id of the webhook the platform installed; 0 when it was added
	// by hand.
	HookID int64 `json:"hook_id,omitempty"`
	// Previews turns pull-request previews on.
	Previews bool `json:"previews"`
	// CreatedBy is the user who linked the repository: tokens GitHub Actions get for it
	// act for them (never above developer, never outside Namespace).
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// LastDelivery is the newest delivery of the link, filled by ListRepoLinks.
	LastDelivery *Delivery `json:"last_delivery,omitempty"`
}

// DeliveryStatus is the state of a webhook delivery:
//
//	queued ──► done
//	   └─────► failed   (what happened is in Error)
type DeliveryStatus string

// Delivery statuses.
const (
	DeliveryQueued DeliveryStatus = "queued"
	DeliveryDone   DeliveryStatus = "done"
	DeliveryFailed DeliveryStatus = "failed"
)

// Delivery is a GitHub webhook delivery of a linked repository, stored before it is
// acknowledged and processed by a worker that resumes after a crash.
type Delivery struct {
	// ID is GitHub's X-GitHub-Delivery; GitHub sends a retry with the same one.
	ID     string `json:"id"`
	LinkID string `json:"link_id"`
	// Event and Action are X-GitHub-Event and the payload's action.
	Event  string `json:"event"`
	Action string `json:"action,omitempty"`
	// BodyHash is the sha256 of the body: a signed body sent again under another
	// delivery id is a replay.
	BodyHash string `json:"body_hash"`
	// Body is the payload as received; never serialised.
	Body       []byte         `json:"-"`
	Status     DeliveryStatus `json:"status"`
	Error      string         `json:"error,omitempty"`
	Attempts   int            `json:"attempts"`
	ReceivedAt time.Time      `json:"received_at"`
	DoneAt     *time.Time     `json:"done_at,omitempty"`
}

// Preview is the namespace a pull request's services run in until it is closed.
type Preview struct {
	Namespace string `json:"namespace"`
	Org       string `json:"org,omitempty"`
	LinkID    string `json:"link_id"`
	PR        int    `json:"pr"`
	// Commit is the pull request's head the preview last deployed.
	Commit    string    `json:"commit,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// RepoStore keeps repository links, their webhook deliveries and previews.
type RepoStore interface {
	// CreateRepoLink stores l. EINVALID without ID, namespace, repo or branch;
	// ENOTFOUND if the namespace does not exist; ECONFLICT if the namespace already
	// links the same repository and branch.
	CreateRepoLink(ctx context.Context, l *RepoLink) error
	// GetRepoLink returns ENOTFOUND if absent.
	GetRepoLink(ctx context.Context, id string) (*RepoLink, error)
	// ListRepoLinks returns the links of org ("" every org), oldest first, each with
	// its newest delivery.
	ListRepoLinks(ctx context.Context, org string) ([]*RepoLink, error)
	// DeleteRepoLink removes a link and its deliveries; ENOTFOUND if absent. Deleting
	// a namespace deletes its links.
	DeleteRepoLink(ctx context.Context, id string) error

	// RecordDelivery stores d (queued) unless a delivery with its ID exists: then it
	// reports false and changes nothing (GitHub's retry). ECONFLICT when another
	// delivery had the same BodyHash (a replay under a new id).
	RecordDelivery(ctx context.Context, d *Delivery) (bool, error)
	// GetDelivery returns ENOTFOUND if absent.
	GetDelivery(ctx context.Context, id string) (*Delivery, error)
	// ListDeliveries returns deliveries with the given status ("" any) oldest first,
	// of one link (linkID "" every link), at most limit (0: no limit).
	ListDeliveries(ctx context.Context, linkID string, status DeliveryStatus, limit int) ([]*Delivery, error)
	// UpdateDelivery writes Status, Error, Attempts and DoneAt; ENOTFOUND if absent.
	UpdateDelivery(ctx context.Context, d *Delivery) error

	// PutPreview creates or updates (by namespace) a preview.
	PutPreview(ctx context.Context, p *Preview) error
	// GetPreview returns the preview of a link's pull request; ENOTFOUND if none.
	GetPreview(ctx context.Context, linkID string, pr int) (*Preview, error)
	// ListPreviews returns the previews of org ("" every org).
	ListPreviews(ctx context.Context, org string) ([]*Preview, error)
	// DeletePreview removes the preview record of namespace; ENOTFOUND if absent.
	// Deleting the namespace deletes it too.
	DeletePreview(ctx context.Context, namespace string) error
}

// LinkRepoRequest is what `platform repos link` asks for.
type LinkRepoRequest struct {
	Namespace string `json:"namespace"`
	Repo      string `json:"repo"`
	// Branch defaults to "main".
	Branch string `json:"branch,omitempty"`
	Path   string `json:"path,omitempty"`
	// CloneURL overrides GitHub's clone URL (a mirror, GitHub Enterprise).
	CloneURL string `json:"clone_url,omitempty"`
	// NoPreviews turns pull-request previews off.
	NoPreviews bool `json:"no_previews,omitempty"`
}

// LinkSetup is what a new link needs on GitHub's side, shown once.
type LinkSetup struct {
	// WebhookURL and WebhookSecret are the webhook to add (content type
	// application/json; events push and pull_request) when the platform could not add
	// it itself. The secret is shown only here.
	WebhookURL    string `json:"webhook_url"`
	WebhookSecret string `json:"webhook_secret"`
	// HookInstalled says the platform added the webhook with its GitHub token.
	HookInstalled bool `json:"hook_installed"`
	// Note says why the webhook was not installed, when it was not.
	Note string `json:"note,omitempty"`
}

// ActionsIdentity is what a verified GitHub Actions OIDC token says of its job.
type ActionsIdentity struct {
	Repository      string    `json:"repository"`
	RepositoryOwner string    `json:"repository_owner"`
	Ref             string    `json:"ref"`
	SHA             string    `json:"sha,omitempty"`
	Actor           string    `json:"actor,omitempty"`
	Workflow        string    `json:"workflow,omitempty"`
	RunID           string    `json:"run_id,omitempty"`
	Expiry          time.Time `json:"expiry"`
}

// ActionsToken is the answer to a GitHub Actions token exchange.
type ActionsToken struct {
	Token     *Token `json:"token"`
	Secret    string `json:"secret"`
	Namespace string `json:"namespace"`
}
