package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/micro/platform"
)

var _ platform.RepoStore = (*Store)(nil)

// A link, its deliveries and its previews go with the link (deleting it cascades to
// them), and links and previews go with their namespace: DeleteNamespace relies on the
// foreign keys of migration 00010, as it does for services.

func repoLinkNotFound(id string) error {
	return platform.Errorf(platform.ENOTFOUND, "repository link %q not found", id)
}

func deliveryNotFound(id string) error {
	return platform.Errorf(platform.ENOTFOUND, "delivery %q not found", id)
}

const repoLinkColumns = `id, org, namespace, repo, branch, path, clone_url, webhook_secret, hook_id, previews,
	created_by, created_at`

func scanRepoLink(sc scanner) (*platform.RepoLink, error) {
	var l platform.RepoLink
	var created int64
	err := sc.Scan(&l.ID, &l.Org, &l.Namespace, &l.Repo, &l.Branch, &l.Path, &l.CloneURL, &l.WebhookSecret,
		&l.HookID, &l.Previews, &l.CreatedBy, &created)
	if err != nil {
		return nil, err
	}
	l.CreatedAt = fromMicros(created)
	return &l, nil
}

// CreateRepoLink stores l, setting Org to its namespace's organisation and CreatedAt
// when zero. Returns EINVALID without ID, namespace, repo or branch, ENOTFOUND if the
// namespace does not exist, ECONFLICT if the namespace already links the repository and
// branch or the ID is taken.
func (s *Store) CreateRepoLink(ctx context.Context, l *platform.RepoLink) error {
	var problems []string
	for _, f := range []struct{ name, value string }{
		{"id", l.ID}, {"namespace", l.Namespace}, {"repository", l.Repo}, {"branch", l.Branch},
	} {
		if f.value == "" {
			problems = append(problems, "a repository link needs a "+f.name)
		}
	}
	if err := invalid(problems); err != nil {
		return err
	}
	created := orNow(l.CreatedAt)
	var org string
	err := s.inTx(ctx, func(tx conn) error {
		err := tx.queryRow(ctx, `SELECT org FROM namespaces WHERE name = ?`, l.Namespace).Scan(&org)
		if errors.Is(err, sql.ErrNoRows) {
			return namespaceNotFound(l.Namespace)
		}
		if err != nil {
			return err
		}
		_, err = tx.exec(ctx, `INSERT INTO repo_links (`+repoLinkColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			l.ID, org, l.Namespace, l.Repo, l.Branch, l.Path, l.CloneURL, l.WebhookSecret, l.HookID, l.Previews,
			l.CreatedBy, micros(created))
		if isUniqueViolation(err) {
			return platform.Errorf(platform.ECONFLICT, "namespace %q already links %s branch %s, or link %q exists",
				l.Namespace, l.Repo, l.Branch, l.ID)
		}
		return err
	})
	if err != nil {
		return wrap("create repository link", err)
	}
	l.Org, l.CreatedAt = org, created
	return nil
}

// GetRepoLink returns ENOTFOUND if absent. LastDelivery is left nil.
func (s *Store) GetRepoLink(ctx context.Context, id string) (*platform.RepoLink, error) {
	l, err := scanRepoLink(s.r.queryRow(ctx, `SELECT `+repoLinkColumns+` FROM repo_links WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, repoLinkNotFound(id)
	}
	return l, wrap("get repository link", err)
}

// ListRepoLinks returns the links of org ("" every org), oldest first, each with its
// newest delivery (without its body) in LastDelivery, nil when it has none.
func (s *Store) ListRepoLinks(ctx context.Context, org string) ([]*platform.RepoLink, error) {
	// The newest delivery of each link is joined by its ID, found through the index on
	// (link_id, received_at); a link without deliveries joins none.
	q := `SELECT l.id, l.org, l.namespace, l.repo, l.branch, l.path, l.clone_url, l.webhook_secret, l.hook_id,
			l.previews, l.created_by, l.created_at,
			d.id, d.event, d.action, d.body_hash, d.status, d.error, d.attempts, d.received_at, d.done_at
		FROM repo_links l
		LEFT JOIN deliveries d ON d.id = (SELECT e.id FROM deliveries e WHERE e.link_id = l.id
			ORDER BY e.received_at DESC, e.id DESC LIMIT 1)`
	var args []any
	if org != "" {
		q += ` WHERE l.org = ?`
		args = append(args, org)
	}
	rows, err := s.r.query(ctx, q+` ORDER BY l.created_at, l.id`, args...)
	if err != nil {
		return nil, wrap("list repository links", err)
	}
	defer rows.Close()
	list := []*platform.RepoLink{}
	for rows.Next() {
		var l platform.RepoLink
		var created int64
		var id, event, action, hash, status, msg sql.NullString
		var attempts, received, done sql.NullInt64
		err := rows.Scan(&l.ID, &l.Org, &l.Namespace, &l.Repo, &l.Branch, &l.Path, &l.CloneURL, &l.WebhookSecret,
			&l.HookID, &l.Previews, &l.CreatedBy, &created,
			&id, &event, &action, &hash, &status, &msg, &attempts, &received, &done)
		if err != nil {
			return nil, wrap("list repository links", err)
		}
		l.CreatedAt = fromMicros(created)
		if id.Valid {
			l.LastDelivery = &platform.Delivery{
				ID: id.String, LinkID: l.ID, Event: event.String, Action: action.String, BodyHash: hash.String,
				Status: platform.DeliveryStatus(status.String), Error: msg.String, Attempts: int(attempts.Int64),
				ReceivedAt: timeOrZero(received), DoneAt: timePtr(done),
			}
		}
		list = append(list, &l)
	}
	return list, wrap("list repository links", rows.Err())
}

// DeleteRepoLink removes a link; its deliveries and previews go with it by cascading
// foreign keys (the preview namespaces themselves stay). Returns ENOTFOUND if absent.
func (s *Store) DeleteRepoLink(ctx context.Context, id string) error {
	err := s.w.execOne(ctx, repoLinkNotFound(id), `DELETE FROM repo_links WHERE id = ?`, id)
	return wrap("delete repository link", err)
}

const deliveryColumns = `id, link_id, event, action, body_hash, body, status, error, attempts, received_at, done_at`

func scanDelivery(sc scanner) (*platform.Delivery, error) {
	var d platform.Delivery
	var status string
	var received int64
	var done sql.NullInt64
	err := sc.Scan(&d.ID, &d.LinkID, &d.Event, &d.Action, &d.BodyHash, &d.Body, &status, &d.Error, &d.Attempts,
		&received, &done)
	if err != nil {
		return nil, err
	}
	d.Status = platform.DeliveryStatus(status)
	d.ReceivedAt = fromMicros(received)
	d.DoneAt = timePtr(done)
	return &d, nil
}

// RecordDelivery stores d as queued, with no attempts yet and ReceivedAt now when zero,
// and writes those back. When a delivery with d's ID exists it reports false and changes
// nothing: GitHub retries a delivery under its ID. Returns EINVALID without ID, link,
// event or body hash, ENOTFOUND for an unknown link, ECONFLICT when another delivery
// had the same body hash (a replay under a new ID).
func (s *Store) RecordDelivery(ctx context.Context, d *platform.Delivery) (bool, error) {
	var problems []string
	for _, f := range []struct{ name, value string }{
		{"id", d.ID}, {"link", d.LinkID}, {"event", d.Event}, {"body hash", d.BodyHash},
	} {
		if f.value == "" {
			problems = append(problems, "a delivery needs a "+f.name)
		}
	}
	if err := invalid(problems); err != nil {
		return false, err
	}
	received := orNow(d.ReceivedAt)
	body := d.Body
	if body == nil {
		body = []byte{} // the column is NOT NULL; no body is an empty one
	}
	// ON CONFLICT names the ID only: a retry does nothing, while a body hash stored under
	// another ID still fails its unique constraint.
	res, err := s.w.exec(ctx, `INSERT INTO deliveries (`+deliveryColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, '', 0, ?, NULL)
		ON CONFLICT (id) DO NOTHING`,
		d.ID, d.LinkID, d.Event, d.Action, d.BodyHash, body, string(platform.DeliveryQueued), micros(received))
	switch {
	case isForeignKeyViolation(err):
		return false, repoLinkNotFound(d.LinkID)
	case isUniqueViolation(err):
		return false, s.replayed(ctx, d)
	case err != nil:
		return false, wrap("record delivery", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrap("record delivery", err)
	}
	if n == 0 {
		return false, nil
	}
	d.Status, d.Error, d.Attempts, d.DoneAt, d.ReceivedAt = platform.DeliveryQueued, "", 0, nil, received
	return true, nil
}

// replayed returns the ECONFLICT of a delivery whose body was recorded under another
// delivery ID, naming that ID when it can.
func (s *Store) replayed(ctx context.Context, d *platform.Delivery) error {
	var first string
	err := s.w.queryRow(ctx, `SELECT id FROM deliveries WHERE body_hash = ?`, d.BodyHash).Scan(&first)
	if err != nil {
		first = "another delivery"
	}
	return platform.Errorf(platform.ECONFLICT, "delivery %s repeats the body of delivery %s: a replay", d.ID, first)
}

// GetDelivery returns ENOTFOUND if absent.
func (s *Store) GetDelivery(ctx context.Context, id string) (*platform.Delivery, error) {
	d, err := scanDelivery(s.r.queryRow(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, deliveryNotFound(id)
	}
	return d, wrap("get delivery", err)
}

// ListDeliveries returns deliveries, bodies included, with status ("" any), oldest
// received first, of link linkID ("" every link), at most limit (0 or less: all).
func (s *Store) ListDeliveries(ctx context.Context, linkID string, status platform.DeliveryStatus, limit int) ([]*platform.Delivery, error) {
	q := `SELECT ` + deliveryColumns + ` FROM deliveries WHERE 1 = 1`
	var args []any
	if linkID != "" {
		q += ` AND link_id = ?`
		args = append(args, linkID)
	}
	if status != "" {
		q += ` AND status = ?`
		args = append(args, string(status))
	}
	rows, err := s.r.query(ctx, q+` ORDER BY received_at, id`+limitClause(limit), args...)
	if err != nil {
		return nil, wrap("list deliveries", err)
	}
	defer rows.Close()
	list := []*platform.Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, wrap("list deliveries", err)
		}
		list = append(list, d)
	}
	return list, wrap("list deliveries", rows.Err())
}

// UpdateDelivery writes Status, Error, Attempts and DoneAt. Returns ENOTFOUND if absent.
func (s *Store) UpdateDelivery(ctx context.Context, d *platform.Delivery) error {
	err := s.w.execOne(ctx, deliveryNotFound(d.ID),
		`UPDATE deliveries SET status = ?, error = ?, attempts = ?, done_at = ? WHERE id = ?`,
		string(d.Status), d.Error, d.Attempts, nullMicros(d.DoneAt), d.ID)
	return wrap("update delivery", err)
}

const previewColumns = `namespace, org, link_id, pr, head_commit, created_at`

func scanPreview(sc scanner) (*platform.Preview, error) {
	var p platform.Preview
	var created int64
	if err := sc.Scan(&p.Namespace, &p.Org, &p.LinkID, &p.PR, &p.Commit, &created); err != nil {
		return nil, err
	}
	p.CreatedAt = fromMicros(created)
	return &p, nil
}

// PutPreview creates the preview record of p.Namespace or updates its link, pull
// request and commit, keeping its CreatedAt. Org is set to the namespace's organisation;
// Org and CreatedAt are written back. Returns EINVALID without namespace, link or pull
// request number, ENOTFOUND if the namespace or the link does not exist, ECONFLICT if
// another namespace previews the link's pull request.
func (s *Store) PutPreview(ctx context.Context, p *platform.Preview) error {
	var problems []string
	if p.Namespace == "" {
		problems = append(problems, "a preview needs a namespace")
	}
	if p.LinkID == "" {
		problems = append(problems, "a preview needs a repository link")
	}
	if p.PR <= 0 {
		problems = append(problems, fmt.Sprintf("a preview needs a pull request number, got %d", p.PR))
	}
	if err := invalid(problems); err != nil {
		return err
	}
	var org string
	var created int64
	err := s.inTx(ctx, func(tx conn) error {
		err := tx.queryRow(ctx, `SELECT org FROM namespaces WHERE name = ?`, p.Namespace).Scan(&org)
		if errors.Is(err, sql.ErrNoRows) {
			return namespaceNotFound(p.Namespace)
		}
		if err != nil {
			return err
		}
		var one int
		err = tx.queryRow(ctx, `SELECT 1 FROM repo_links WHERE id = ?`, p.LinkID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return repoLinkNotFound(p.LinkID)
		}
		if err != nil {
			return err
		}
		err = tx.queryRow(ctx, `INSERT INTO previews (`+previewColumns+`) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (namespace) DO UPDATE SET
				org = excluded.org, link_id = excluded.link_id, pr = excluded.pr, head_commit = excluded.head_commit
			RETURNING created_at`,
			p.Namespace, org, p.LinkID, p.PR, p.Commit, micros(orNow(p.CreatedAt))).Scan(&created)
		if isUniqueViolation(err) {
			return platform.Errorf(platform.ECONFLICT, "pull request %d of link %s already has a preview namespace",
				p.PR, p.LinkID)
		}
		return err
	})
	if err != nil {
		return wrap("put preview", err)
	}
	p.Org, p.CreatedAt = org, fromMicros(created)
	return nil
}

// GetPreview returns the preview of a link's pull request; ENOTFOUND if none.
func (s *Store) GetPreview(ctx context.Context, linkID string, pr int) (*platform.Preview, error) {
	p, err := scanPreview(s.r.queryRow(ctx, `SELECT `+previewColumns+` FROM previews WHERE link_id = ? AND pr = ?`,
		linkID, pr))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, platform.Errorf(platform.ENOTFOUND, "pull request %d of link %q has no preview", pr, linkID)
	}
	return p, wrap("get preview", err)
}

// ListPreviews returns the previews of org ("" every org) ordered by namespace.
func (s *Store) ListPreviews(ctx context.Context, org string) ([]*platform.Preview, error) {
	q := `SELECT ` + previewColumns + ` FROM previews`
	var args []any
	if org != "" {
		q += ` WHERE org = ?`
		args = append(args, org)
	}
	rows, err := s.r.query(ctx, q+` ORDER BY namespace`, args...)
	if err != nil {
		return nil, wrap("list previews", err)
	}
	defer rows.Close()
	list := []*platform.Preview{}
	for rows.Next() {
		p, err := scanPreview(rows)
		if err != nil {
			return nil, wrap("list previews", err)
		}
		list = append(list, p)
	}
	return list, wrap("list previews", rows.Err())
}

// DeletePreview removes the preview record of namespace, not the namespace. Returns
// ENOTFOUND if absent.
func (s *Store) DeletePreview(ctx context.Context, namespace string) error {
	err := s.w.execOne(ctx, platform.Errorf(platform.ENOTFOUND, "namespace %q is not a preview", namespace),
		`DELETE FROM previews WHERE namespace = ?`, namespace)
	return wrap("delete preview", err)
}
