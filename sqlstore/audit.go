package sqlstore

import (
	"context"
	"strings"

	"github.com/micro/platform"
)

var _ platform.AuditStore = (*Store)(nil)

// Audit listing limits.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

// AppendAudit stores e, setting its ID (and Time to now when zero, Outcome to ok when
// empty): EINVALID without an org or action. There is no update or delete.
func (s *Store) AppendAudit(ctx context.Context, e *platform.AuditEntry) error {
	return s.AppendAudits(ctx, []*platform.AuditEntry{e})
}

// AppendAudits implements platform.AuditBatcher: the entries in one transaction, in
// order, each given its ID (and Time when zero); none when one is invalid.
func (s *Store) AppendAudits(ctx context.Context, entries []*platform.AuditEntry) error {
	var problems []string
	for _, e := range entries {
		if e.Org == "" {
			problems = append(problems, "audit entry has no org")
		}
		if e.Action == "" {
			problems = append(problems, "audit entry has no action")
		}
	}
	if err := invalid(problems); err != nil {
		return err
	}
	err := s.inTx(ctx, func(tx conn) error {
		stmt, err := tx.prepare(ctx, `INSERT INTO audit_log (org, actor, actor_id, token_id, action, target, outcome, source, detail, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, e := range entries {
			if e.Outcome == "" {
				e.Outcome = platform.AuditOK
			}
			at := orNow(e.Time)
			var id int64
			if err := stmt.QueryRowContext(ctx, e.Org, e.Actor, e.ActorID, e.TokenID, e.Action, e.Target, e.Outcome,
				e.Source, e.Detail, micros(at)).Scan(&id); err != nil {
				return err
			}
			e.ID, e.Time = id, at
		}
		return nil
	})
	return wrap("append audit entry", err)
}

// ListAudit returns the entries f selects, newest first: EINVALID without an org. An
// Action ending in "." matches every action it prefixes.
func (s *Store) ListAudit(ctx context.Context, f platform.AuditFilter) ([]*platform.AuditEntry, error) {
	if f.Org == "" {
		return nil, platform.Errorf(platform.EINVALID, "listing the audit log needs an org")
	}
	where := []string{`org = ?`}
	args := []any{f.Org}
	if f.Actor != "" {
		where, args = append(where, `actor = ?`), append(args, f.Actor)
	}
	switch {
	case strings.HasSuffix(f.Action, "."):
		where, args = append(where, `substr(action, 1, ?) = ?`), append(args, len(f.Action), f.Action)
	case f.Action != "":
		where, args = append(where, `action = ?`), append(args, f.Action)
	}
	if !f.Since.IsZero() {
		where, args = append(where, `created_at >= ?`), append(args, micros(f.Since))
	}
	if f.BeforeID > 0 {
		where, args = append(where, `id < ?`), append(args, f.BeforeID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultAuditLimit
	}
	limit = min(limit, maxAuditLimit)
	rows, err := s.r.query(ctx, `SELECT id, org, actor, actor_id, token_id, action, target, outcome, source, detail, created_at
		FROM audit_log WHERE `+strings.Join(where, " AND ")+` ORDER BY id DESC`+limitClause(limit), args...)
	if err != nil {
		return nil, wrap("list audit", err)
	}
	defer rows.Close()
	list := []*platform.AuditEntry{}
	for rows.Next() {
		var e platform.AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &e.Org, &e.Actor, &e.ActorID, &e.TokenID, &e.Action, &e.Target, &e.Outcome, &e.Source, &e.Detail, &at); err != nil {
			return nil, wrap("list audit", err)
		}
		e.Time = fromMicros(at)
		list = append(list, &e)
	}
	return list, wrap("list audit", rows.Err())
}
