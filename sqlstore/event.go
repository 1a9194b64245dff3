package sqlstore

import (
	"context"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/micro/platform"
)

var _ platform.EventStore = (*Store)(nil)

// defaultEventLimit is the number of events ListEvents returns when the filter sets none.
const defaultEventLimit = 100

// AppendEvent stores e, setting its ID from the database's identity column (and Time to
// now when zero). Returns EINVALID without a namespace or type.
//
// Appends commit in the order of their IDs, even on PostgreSQL where writers run
// concurrently, so a client that resumes after the last ID it saw misses no event.
func (s *Store) AppendEvent(ctx context.Context, e *platform.Event) error {
	var problems []string
	if e.Namespace == "" {
		problems = append(problems, "event has no namespace")
	}
	if e.Type == "" {
		problems = append(problems, "event has no type")
	}
	if err := invalid(problems); err != nil {
		return err
	}
	data, err := marshalJSON(e.Data, len(e.Data) == 0)
	if err != nil {
		return wrap("append event", err)
	}
	at := orNow(e.Time)
	var id int64
	err = s.inTx(ctx, func(tx conn) error {
		// Taking the append lock first makes appends commit in ID order (migration 00002).
		if _, err := tx.exec(ctx, `UPDATE event_append_lock SET appended = appended + 1 WHERE id = 1`); err != nil {
			return err
		}
		return tx.queryRow(ctx, `INSERT INTO events (namespace, service, region, type, message, data, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			e.Namespace, e.Service, e.Region, e.Type, e.Message, data, micros(at)).Scan(&id)
	})
	if err != nil {
		return wrap("append event", err)
	}
	e.ID, e.Time = id, at
	return nil
}

// ListEvents returns the events matching f in ascending ID order: the first f.Limit after
// f.AfterID, or the newest f.Limit when f.AfterID is 0. A Type ending in "." matches every
// type it prefixes; Service and Region match exactly. Returns EINVALID without a namespace.
func (s *Store) ListEvents(ctx context.Context, f platform.EventFilter) ([]*platform.Event, error) {
	if f.Namespace == "" {
		return nil, platform.Errorf(platform.EINVALID, "listing events needs a namespace")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultEventLimit
	}
	q := `SELECT id, namespace, service, region, type, message, data, created_at FROM events WHERE namespace = ?`
	args := []any{f.Namespace}
	if f.Service != "" {
		q += ` AND service = ?`
		args = append(args, f.Service)
	}
	if f.Region != "" {
		q += ` AND region = ?`
		args = append(args, f.Region)
	}
	switch {
	case strings.HasSuffix(f.Type, "."):
		q += ` AND SUBSTR(type, 1, ?) = ?`
		args = append(args, utf8.RuneCountInString(f.Type), f.Type)
	case f.Type != "":
		q += ` AND type = ?`
		args = append(args, f.Type)
	}
	newest := f.AfterID <= 0
	if newest {
		q += ` ORDER BY id DESC`
	} else {
		q += ` AND id > ? ORDER BY id`
		args = append(args, f.AfterID)
	}
	rows, err := s.r.query(ctx, q+limitClause(limit), args...)
	if err != nil {
		return nil, wrap("list events", err)
	}
	defer rows.Close()
	list := []*platform.Event{}
	for rows.Next() {
		var e platform.Event
		var data string
		var at int64
		if err := rows.Scan(&e.ID, &e.Namespace, &e.Service, &e.Region, &e.Type, &e.Message, &data, &at); err != nil {
			return nil, wrap("list events", err)
		}
		if err := unmarshalJSON(data, &e.Data); err != nil {
			return nil, wrap("list events", err)
		}
		e.Time = fromMicros(at)
		list = append(list, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list events", err)
	}
	if newest {
		slices.Reverse(list)
	}
	return list, nil
}
