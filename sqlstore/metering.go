package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/micro/platform"
)

var _ platform.MeteringStore = (*Store)(nil)

// The tables of migration 00015. A commit takes the horizon row first (an update that
// changes nothing), so that commits and prunes serialise on it on PostgreSQL too: a
// prune cannot forget an ID between a commit's reading of the horizon and its insert of
// that ID. It then moves the stream's position by compare-and-set, inserts the events'
// IDs with ON CONFLICT DO NOTHING RETURNING (the rows returned are the events not seen
// before), and adds those events, summed in memory, to the rollups.

// meteringChunk is how many rows one multi-row statement writes: few statements per
// commit, far below both engines' limit on parameters.
const meteringChunk = 200

// eventKey is how the store remembers an event: its hour and ID.
type eventKey struct {
	hour int64
	id   string
}

// CommitUsage counts the events of c that are neither duplicates nor late into their
// rollups, remembers their IDs and moves c.Stream from c.From to c.To, in one
// transaction. Returns platform.ErrUsageConflict (ECONFLICT), writing nothing, when the
// stream is not at c.From, and EINVALID, writing nothing, without a stream, with To <=
// From (or beyond the int64 range) or with an invalid event.
func (s *Store) CommitUsage(ctx context.Context, c *platform.UsageCommit) (platform.UsageCommitResult, error) {
	var res platform.UsageCommitResult
	var problems []string
	if c.Stream == "" {
		problems = append(problems, "a usage commit needs a stream")
	}
	if c.To <= c.From {
		problems = append(problems, fmt.Sprintf("a usage commit moves its stream forward, not from %d to %d", c.From, c.To))
	}
	if c.To > math.MaxInt64 {
		problems = append(problems, fmt.Sprintf("stream position %d is out of range", c.To))
	}
	for i, e := range c.Events {
		if err := e.Validate(); err != nil {
			problems = append(problems, fmt.Sprintf("usage event %d (%q): %s", i, e.ID, platform.ErrorMessage(err)))
		}
	}
	if err := invalid(problems); err != nil {
		return res, err
	}
	// Duplicates within the commit count once, the first one.
	keys := make([]eventKey, 0, len(c.Events))
	index := make(map[eventKey]int, len(c.Events))
	for i, e := range c.Events {
		k := eventKey{micros(platform.UsageHour(e.Time)), e.ID}
		if _, dup := index[k]; dup {
			res.Duplicates++
			continue
		}
		index[k] = i
		keys = append(keys, k)
	}
	at := now()
	var counted []*platform.UsageEvent
	err := s.inTx(ctx, func(tx conn) error {
		var horizon int64
		if err := tx.queryRow(ctx, `UPDATE usage_horizon SET hour = hour WHERE id = 1 RETURNING hour`).Scan(&horizon); err != nil {
			return fmt.Errorf("usage horizon: %w", err)
		}
		if err := moveUsageOffset(ctx, tx, c.Stream, c.From, c.To, at); err != nil {
			return err
		}
		fresh := keys[:0:0]
		for _, k := range keys {
			if k.hour < horizon {
				res.Late++
				continue
			}
			fresh = append(fresh, k)
		}
		seen, err := insertEventIDs(ctx, tx, fresh)
		if err != nil {
			return err
		}
		counted = make([]*platform.UsageEvent, 0, len(fresh))
		for _, k := range fresh {
			if seen == nil || seen[k] {
				counted = append(counted, c.Events[index[k]])
			}
		}
		return addRollups(ctx, tx, platform.SumUsage(counted))
	})
	if err != nil {
		return platform.UsageCommitResult{}, wrap("commit usage", err)
	}
	res.Counted = len(counted)
	res.Duplicates += len(keys) - res.Late - res.Counted
	return res, nil
}

// moveUsageOffset sets stream's position from from to to, or returns
// platform.ErrUsageConflict. Under PostgreSQL's read committed, a concurrent commit of
// the same stream waits for the row and then finds it moved.
func moveUsageOffset(ctx context.Context, tx conn, stream string, from, to uint64, at time.Time) error {
	if from == 0 {
		// A stream never committed is at 0: written now, or it exists.
		res, err := tx.exec(ctx, `INSERT INTO usage_offsets (stream, position, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (stream) DO NOTHING`, stream, int64(to), micros(at))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
	}
	res, err := tx.exec(ctx, `UPDATE usage_offsets SET position = ?, updated_at = ? WHERE stream = ? AND position = ?`,
		int64(to), micros(at), stream, int64(from))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	return platform.ErrUsageConflict
}

// insertEventIDs inserts the keys (distinct) and returns those that were not there,
// nil meaning all of them. Duplicates are rare (a re-emission after JetStream's
// duplicate window), so it first inserts them all under a savepoint with plain inserts
// (PostgreSQL's ON CONFLICT costs about half as much again per row); only when one of
// them was there (a unique violation) does it roll back to the savepoint and insert
// them again, skipping those there and returning the others. Keys go in in key order,
// so the inserts walk the index once.
func insertEventIDs(ctx context.Context, tx conn, keys []eventKey) (map[eventKey]bool, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	slices.SortFunc(keys, func(a, b eventKey) int { return cmp.Or(cmp.Compare(a.hour, b.hour), strings.Compare(a.id, b.id)) })
	if _, err := tx.exec(ctx, `SAVEPOINT usage_event_ids`); err != nil {
		return nil, err
	}
	err := eachChunk(ctx, tx, keys, `INSERT INTO usage_event_ids (hour, id) VALUES %s`,
		func(stmt *sql.Stmt, args []any) error {
			_, err := stmt.ExecContext(ctx, args...)
			return err
		})
	if err == nil {
		_, err := tx.exec(ctx, `RELEASE SAVEPOINT usage_event_ids`)
		return nil, err
	}
	if !isUniqueViolation(err) {
		return nil, err
	}
	if _, err := tx.exec(ctx, `ROLLBACK TO SAVEPOINT usage_event_ids`); err != nil {
		return nil, err
	}
	seen := make(map[eventKey]bool, len(keys))
	err = eachChunk(ctx, tx, keys, `INSERT INTO usage_event_ids (hour, id) VALUES %s ON CONFLICT (hour, id) DO NOTHING RETURNING hour, id`,
		func(stmt *sql.Stmt, args []any) error {
			rows, err := stmt.QueryContext(ctx, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var k eventKey
				if err := rows.Scan(&k.hour, &k.id); err != nil {
					return err
				}
				seen[k] = true
			}
			return rows.Err()
		})
	if err != nil {
		return nil, err
	}
	_, err = tx.exec(ctx, `RELEASE SAVEPOINT usage_event_ids`)
	return seen, err
}

// eachChunk runs the statement query (whose %s takes the rows' placeholders) on keys,
// meteringChunk of them at a time, through run, which gets the statement prepared for
// the chunk and its arguments.
func eachChunk(ctx context.Context, tx conn, keys []eventKey, query string, run func(*sql.Stmt, []any) error) error {
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, 2*meteringChunk)
	for len(keys) > 0 {
		n := min(len(keys), meteringChunk)
		args = args[:0]
		for _, k := range keys[:n] {
			args = append(args, k.hour, k.id)
		}
		keys = keys[n:]
		stmt := full
		if n < meteringChunk || full == nil {
			var err error
			if stmt, err = tx.prepare(ctx, fmt.Sprintf(query, placeholders(n, 2))); err != nil {
				return err
			}
			if n == meteringChunk {
				full = stmt
			} else {
				defer stmt.Close()
			}
		}
		if err := run(stmt, args); err != nil {
			return err
		}
	}
	return nil
}

// addRollups adds each rollup's quantity to its stored row, creating it if needed. The
// rollups' keys are distinct.
func addRollups(ctx context.Context, tx conn, rollups []*platform.UsageRollup) error {
	args := make([]any, 0, 7*meteringChunk)
	for len(rollups) > 0 {
		n := min(len(rollups), meteringChunk)
		args = args[:0]
		for _, r := range rollups[:n] {
			args = append(args, r.Org, micros(r.Hour), r.Namespace, r.Service, r.Region, string(r.Meter), r.Quantity)
		}
		rollups = rollups[n:]
		if _, err := tx.exec(ctx, `INSERT INTO usage_rollups (org, hour, namespace, service, region, meter, quantity)
			VALUES `+placeholders(n, 7)+`
			ON CONFLICT (org, hour, namespace, service, region, meter)
			DO UPDATE SET quantity = usage_rollups.quantity + excluded.quantity`, args...); err != nil {
			return err
		}
	}
	return nil
}

// placeholders returns rows groups of cols '?' placeholders: "(?, ?), (?, ?)".
func placeholders(rows, cols int) string {
	group := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	var b strings.Builder
	b.Grow(rows * (len(group) + 2))
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(group)
	}
	return b.String()
}

// UsageOffset returns a stream's position, 0 if it was never committed.
func (s *Store) UsageOffset(ctx context.Context, stream string) (uint64, error) {
	var pos int64
	err := s.r.queryRow(ctx, `SELECT position FROM usage_offsets WHERE stream = ?`, stream).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, wrap("usage offset", err)
	}
	return uint64(pos), nil
}

// ListUsageRollups returns the matching rollups ordered by hour, org, namespace,
// service, region and meter.
func (s *Store) ListUsageRollups(ctx context.Context, f platform.UsageRollupFilter) ([]*platform.UsageRollup, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, val string }{
		{"org", f.Org}, {"namespace", f.Namespace}, {"service", f.Service}, {"region", f.Region}, {"meter", string(f.Meter)},
	} {
		if c.val != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.val)
		}
	}
	if !f.From.IsZero() {
		where = append(where, "hour >= ?")
		args = append(args, micros(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "hour < ?")
		args = append(args, micros(f.To))
	}
	q := `SELECT org, namespace, service, region, meter, hour, quantity FROM usage_rollups`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY hour, org, namespace, service, region, meter`
	return list(ctx, s.r, "list usage rollups", q, args, func(sc scanner) (*platform.UsageRollup, error) {
		var r platform.UsageRollup
		var meter string
		var hour int64
		if err := sc.Scan(&r.Org, &r.Namespace, &r.Service, &r.Region, &meter, &hour, &r.Quantity); err != nil {
			return nil, err
		}
		r.Meter, r.Hour = platform.Meter(meter), fromMicros(hour)
		return &r, nil
	})
}

// PruneUsageEvents forgets the IDs of the hours before before's hour and moves the
// horizon there, never back; it returns how many IDs it forgot.
func (s *Store) PruneUsageEvents(ctx context.Context, before time.Time) (int64, error) {
	hour := micros(platform.UsageHour(before))
	var forgotten int64
	err := s.inTx(ctx, func(tx conn) error {
		var horizon int64
		if err := tx.queryRow(ctx, `UPDATE usage_horizon SET hour = CASE WHEN hour < ? THEN ? ELSE hour END
			WHERE id = 1 RETURNING hour`, hour, hour).Scan(&horizon); err != nil {
			return err
		}
		res, err := tx.exec(ctx, `DELETE FROM usage_event_ids WHERE hour < ?`, horizon)
		if err != nil {
			return err
		}
		forgotten, err = res.RowsAffected()
		return err
	})
	return forgotten, wrap("prune usage events", err)
}

// UsageHorizon returns the hour before which events are refused as late; zero when
// none are.
func (s *Store) UsageHorizon(ctx context.Context) (time.Time, error) {
	var hour int64
	if err := s.r.queryRow(ctx, `SELECT hour FROM usage_horizon WHERE id = 1`).Scan(&hour); err != nil {
		return time.Time{}, wrap("usage horizon", err)
	}
	if hour == 0 {
		return time.Time{}, nil
	}
	return fromMicros(hour), nil
}
