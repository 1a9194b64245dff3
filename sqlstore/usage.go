package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/micro/platform"
)

var _ platform.UsageStore = (*Store)(nil)

// latencyColumns are the columns of platform.RequestUsage.LatencyBuckets, one per bucket
// (migration 00011), and latencyUpsert adds them up in AddRequestUsage's upsert.
var latencyColumns, latencyUpsert = func() (string, string) {
	cols := make([]string, platform.LatencyBucketCount)
	sets := make([]string, platform.LatencyBucketCount)
	for i := range cols {
		cols[i] = fmt.Sprintf("latency_bucket_%02d", i)
		sets[i] = fmt.Sprintf("%[1]s = request_usage.%[1]s + excluded.%[1]s", cols[i])
	}
	return strings.Join(cols, ", "), strings.Join(sets, ",\n")
}()

// AddRequestUsage adds each record to the stored row of the same namespace, service and
// minute (counts and latency buckets add up, the max latency takes the maximum), creating
// it if needed. All records are written in one transaction. Minute is truncated to the
// minute in UTC, so a record stamped within a minute lands on that minute's row. Returns
// EINVALID, writing nothing, when a record lacks a namespace, has negative counts or has
// latency buckets that are not platform.LatencyBucketCount long.
func (s *Store) AddRequestUsage(ctx context.Context, records []*platform.RequestUsage) error {
	if len(records) == 0 {
		return nil
	}
	var problems []string
	for i, u := range records {
		if u.Namespace == "" {
			problems = append(problems, fmt.Sprintf("usage record %d has no namespace", i))
		}
		negative := u.Requests < 0 || u.Errors < 0 || u.ClientErrors < 0 || u.LatencyMicros < 0 || u.MaxLatencyMicros < 0
		for _, c := range u.LatencyBuckets {
			negative = negative || c < 0
		}
		if negative {
			problems = append(problems, fmt.Sprintf("usage record %d has a negative count", i))
		}
		if n := len(u.LatencyBuckets); n != 0 && n != platform.LatencyBucketCount {
			problems = append(problems, fmt.Sprintf("usage record %d has %d latency buckets, not %d", i, n, platform.LatencyBucketCount))
		}
	}
	if err := invalid(problems); err != nil {
		return err
	}
	err := s.inTx(ctx, func(tx conn) error {
		stmt, err := tx.prepare(ctx, `INSERT INTO request_usage (namespace, service, minute, requests, errors,
					client_errors, latency_micros, max_latency_micros, `+latencyColumns+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?`+strings.Repeat(", ?", platform.LatencyBucketCount)+`)
				ON CONFLICT (namespace, minute, service) DO UPDATE SET
					requests = request_usage.requests + excluded.requests,
					errors = request_usage.errors + excluded.errors,
					client_errors = request_usage.client_errors + excluded.client_errors,
					latency_micros = request_usage.latency_micros + excluded.latency_micros,
					max_latency_micros = CASE WHEN excluded.max_latency_micros > request_usage.max_latency_micros
						THEN excluded.max_latency_micros ELSE request_usage.max_latency_micros END,
					`+latencyUpsert)
		if err != nil {
			return err
		}
		defer stmt.Close()
		args := make([]any, 8+platform.LatencyBucketCount)
		for _, u := range records {
			args = append(args[:0], u.Namespace, u.Service, micros(minuteOf(u.Minute)), u.Requests, u.Errors, u.ClientErrors,
				u.LatencyMicros, u.MaxLatencyMicros)
			for i := range platform.LatencyBucketCount {
				var c int64
				if i < len(u.LatencyBuckets) {
					c = u.LatencyBuckets[i]
				}
				args = append(args, c)
			}
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap("add request usage", err)
}

// ListRequestUsage returns a namespace's rows with from <= minute < to, ordered by minute
// then service; service "" means all services. A row whose latency buckets are all zero
// (written before the histogram) has nil LatencyBuckets.
func (s *Store) ListRequestUsage(ctx context.Context, namespace, service string, from, to time.Time) ([]*platform.RequestUsage, error) {
	q := `SELECT namespace, service, minute, requests, errors, client_errors, latency_micros, max_latency_micros, ` + latencyColumns + `
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
		buckets := make([]int64, platform.LatencyBucketCount)
		dest := []any{&u.Namespace, &u.Service, &minute, &u.Requests, &u.Errors, &u.ClientErrors,
			&u.LatencyMicros, &u.MaxLatencyMicros}
		for i := range buckets {
			dest = append(dest, &buckets[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, wrap("list request usage", err)
		}
		u.Minute = fromMicros(minute)
		if slices.ContainsFunc(buckets, func(c int64) bool { return c != 0 }) {
			u.LatencyBuckets = buckets
		}
		list = append(list, &u)
	}
	return list, wrap("list request usage", rows.Err())
}

var _ platform.ResourceStore = (*Store)(nil)

// PutResourceUsage stores each sample as its service's sample of the minute (Minute
// truncated to the minute in UTC), replacing an earlier one; all in one transaction.
// Returns EINVALID, writing nothing, when a sample lacks a namespace or has negative
// figures.
func (s *Store) PutResourceUsage(ctx context.Context, samples []*platform.ResourceUsage) error {
	if len(samples) == 0 {
		return nil
	}
	var problems []string
	for i, u := range samples {
		if u.Namespace == "" {
			problems = append(problems, fmt.Sprintf("resource sample %d has no namespace", i))
		}
		if u.CPUMillicores < 0 || u.MemoryBytes < 0 {
			problems = append(problems, fmt.Sprintf("resource sample %d has a negative figure", i))
		}
	}
	if err := invalid(problems); err != nil {
		return err
	}
	err := s.inTx(ctx, func(tx conn) error {
		stmt, err := tx.prepare(ctx, `INSERT INTO resource_usage (namespace, service, minute, cpu_millicores, memory_bytes)
				VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (namespace, service, minute) DO UPDATE SET
					cpu_millicores = excluded.cpu_millicores,
					memory_bytes = excluded.memory_bytes`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, u := range samples {
			if _, err := stmt.ExecContext(ctx, u.Namespace, u.Service, micros(minuteOf(u.Minute)), u.CPUMillicores, u.MemoryBytes); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap("put resource usage", err)
}

// ListResourceUsage returns a service's samples with from <= minute < to, ordered by
// minute.
func (s *Store) ListResourceUsage(ctx context.Context, namespace, service string, from, to time.Time) ([]*platform.ResourceUsage, error) {
	rows, err := s.r.query(ctx, `SELECT namespace, service, minute, cpu_millicores, memory_bytes
		FROM resource_usage WHERE namespace = ? AND service = ? AND minute >= ? AND minute < ?
		ORDER BY minute`, namespace, service, micros(from), micros(to))
	if err != nil {
		return nil, wrap("list resource usage", err)
	}
	defer rows.Close()
	list := []*platform.ResourceUsage{}
	for rows.Next() {
		var u platform.ResourceUsage
		var minute int64
		if err := rows.Scan(&u.Namespace, &u.Service, &minute, &u.CPUMillicores, &u.MemoryBytes); err != nil {
			return nil, wrap("list resource usage", err)
		}
		u.Minute = fromMicros(minute)
		list = append(list, &u)
	}
	return list, wrap("list resource usage", rows.Err())
}

// minuteOf returns the start of t's minute in UTC.
func minuteOf(t time.Time) time.Time { return t.UTC().Truncate(time.Minute) }
