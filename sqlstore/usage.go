package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/micro/platform"
)

var _ platform.UsageStore = (*Store)(nil)

// AddRequestUsage adds each record to the stored row of the same namespace, service and
// minute (counts add up, the max latency takes the maximum), creating it if needed. All
// records are written in one transaction. Minute is truncated to the minute in UTC, so a
// record stamped within a minute lands on that minute's row. Returns EINVALID, writing
// nothing, when a record lacks a namespace or has negative counts.
func (s *Store) AddRequestUsage(ctx context.Context, records []*platform.RequestUsage) error {
	if len(records) == 0 {
		return nil
	}
	var problems []string
	for i, u := range records {
		if u.Namespace == "" {
			problems = append(problems, fmt.Sprintf("usage record %d has no namespace", i))
		}
		if u.Requests < 0 || u.Errors < 0 || u.ClientErrors < 0 || u.LatencyMicros < 0 || u.MaxLatencyMicros < 0 {
			problems = append(problems, fmt.Sprintf("usage record %d has a negative count", i))
		}
	}
	if err := invalid(problems); err != nil {
		return err
	}
	err := s.inTx(ctx, func(tx conn) error {
		stmt, err := tx.prepare(ctx, `INSERT INTO request_usage (namespace, service, minute, requests, errors,
					client_errors, latency_micros, max_latency_micros)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (namespace, minute, service) DO UPDATE SET
					requests = request_usage.requests + excluded.requests,
					errors = request_usage.errors + excluded.errors,
					client_errors = request_usage.client_errors + excluded.client_errors,
					latency_micros = request_usage.latency_micros + excluded.latency_micros,
					max_latency_micros = CASE WHEN excluded.max_latency_micros > request_usage.max_latency_micros
						THEN excluded.max_latency_micros ELSE request_usage.max_latency_micros END`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, u := range records {
			_, err := stmt.ExecContext(ctx, u.Namespace, u.Service, micros(minuteOf(u.Minute)), u.Requests, u.Errors, u.ClientErrors,
				u.LatencyMicros, u.MaxLatencyMicros)
			if err != nil {
				return err
			}
		}
		return nil
	})
	return wrap("add request usage", err)
}

// ListRequestUsage returns a namespace's rows with from <= minute < to, ordered by minute
// then service; service "" means all services.
func (s *Store) ListRequestUsage(ctx context.Context, namespace, service string, from, to time.Time) ([]*platform.RequestUsage, error) {
	q := `SELECT namespace, service, minute, requests, errors, client_errors, latency_micros, max_latency_micros
		FROM request_usage WHERE namespace = ? AND minute >= ? AND minute < ?`
	args := []any{namespace, micros(from), micros(to)}
	if service != "" {
		q += ` AND service = ?`
		args = append(args, service)
	}
	rows, err := s.r.query(ctx, q+` ORDER BY minute, service`, args...)
	if err != nil {
		return nil, wrap("list request usage", err)
	}
	defer rows.Close()
	list := []*platform.RequestUsage{}
	for rows.Next() {
		var u platform.RequestUsage
		var minute int64
		err := rows.Scan(&u.Namespace, &u.Service, &minute, &u.Requests, &u.Errors, &u.ClientErrors,
			&u.LatencyMicros, &u.MaxLatencyMicros)
		if err != nil {
			return nil, wrap("list request usage", err)
		}
		u.Minute = fromMicros(minute)
		list = append(list, &u)
	}
	return list, wrap("list request usage", rows.Err())
}

// minuteOf returns the start of t's minute in UTC.
func minuteOf(t time.Time) time.Time { return t.UTC().Truncate(time.Minute) }
