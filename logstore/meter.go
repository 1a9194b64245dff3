package logstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	platform "github.com/micro/platform"
)

// fileMetered holds, per instance, what the log meter has counted: the ingested bytes
// counted so far and, while a count is being published, that count (write-ahead), so a
// count interrupted by a crash is published again exactly as it was.
const fileMetered = "metered"

// UsagePublisher takes usage events to the metering pipeline (metering.Publisher).
type UsagePublisher interface {
	// PublishWait hands e over, waiting for room until ctx ends.
	PublishWait(ctx context.Context, e platform.UsageEvent) error
	// Flush waits until what was handed over is published; an error when some was not.
	Flush(ctx context.Context) error
}

// MeterOptions configure the log meter (Store.Meter).
type MeterOptions struct {
	// Publisher receives the events. Required.
	Publisher UsagePublisher
	// Region is the region the store's instances run in, on every event.
	Region string
	// OrgOf returns the organisation of a namespace (an error skips the namespace
	// until the next pass).
	OrgOf func(ctx context.Context, namespace string) (string, error)
	// Interval is how often Meter counts; default 1m.
	Interval time.Duration
	// Clock stamps the events; the store's clock by default.
	Clock platform.Clock
}

// metered is an instance's meter state: counted is the ingested bytes (stdout and
// stderr) already counted; a pending count, when to > from, covers [from, to) and is
// stamped at (Unix seconds).
type metered struct {
	counted, from, to, at int64
}

// Meter counts the bytes of instance output the store has ingested (platform.
// MeterLogBytes), every opts.Interval until ctx ends: for each instance whose ingested
// bytes grew since the last count, one event "log/<region>/<instance>/<bytes counted
// before>" of the growth. Each count is written to the instance's directory before it is
// published and marked done after, so a crash, a failed publish or a restart publishes
// the same event again (the pipeline counts it once) and nothing is counted twice or
// lost while the instance's logs are kept. Output ingested again after a torn offsets
// file (logstore's at-least-once ingestion) is not counted again.
func (s *Store) Meter(ctx context.Context, opts MeterOptions) {
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	if opts.Clock == nil {
		opts.Clock = s.opts.Clock
	}
	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	for {
		if err := s.meterOnce(ctx, opts); err != nil && ctx.Err() == nil {
			s.opts.Logger.Warn("metering log bytes failed; trying again", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// meterOnce counts every instance's new output once.
func (s *Store) meterOnce(ctx context.Context, opts MeterOptions) error {
	keys, err := s.scan("", "")
	if err != nil {
		return err
	}
	orgs := map[string]string{}
	var errs []error
	for _, k := range keys {
		org, ok := orgs[k.Namespace]
		if !ok {
			// A namespace deleted while its logs are kept is not billed for them.
			if org, err = opts.OrgOf(ctx, k.Namespace); err != nil && !platform.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("organisation of namespace %s: %w", k.Namespace, err))
			}
			orgs[k.Namespace] = org
		}
		if org == "" {
			continue
		}
		if err := s.meterInstance(ctx, opts, k, org); err != nil {
			errs = append(errs, fmt.Errorf("instance %s: %w", k, err))
		}
	}
	return errors.Join(errs...)
}

// meterInstance publishes k's pending count, if any, then counts its new output.
func (s *Store) meterInstance(ctx context.Context, opts MeterOptions, k Key, org string) error {
	dir := s.dir(k)
	m, err := readMetered(filepath.Join(dir, fileMetered))
	if err != nil {
		return err
	}
	if m.to <= m.from {
		off, err := readOffsets(filepath.Join(dir, fileOffsets))
		if err != nil {
			return err
		}
		ingested := off[0] + off[1]
		if ingested <= m.counted {
			return nil
		}
		m.from, m.to, m.at = m.counted, ingested, opts.Clock.Now().Unix()
		if err := writeMetered(dir, m); err != nil {
			return err
		}
	}
	e := platform.UsageEvent{
		ID:  fmt.Sprintf("log/%s/%s/%d", opts.Region, k.Instance, m.from),
		Org: org, Namespace: k.Namespace, Service: k.Service, Region: opts.Region,
		Meter: platform.MeterLogBytes, Quantity: m.to - m.from, Time: time.Unix(m.at, 0).UTC(),
	}
	if err := opts.Publisher.PublishWait(ctx, e); err != nil {
		return err
	}
	if err := opts.Publisher.Flush(ctx); err != nil {
		return err
	}
	return writeMetered(dir, metered{counted: m.to})
}

// readMetered reads an instance's meter state; none yet is the zero state.
func readMetered(path string) (metered, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return metered{}, nil
	}
	if err != nil {
		return metered{}, fmt.Errorf("read meter state: %w", err)
	}
	if len(b) != 32 {
		return metered{}, fmt.Errorf("meter state %s is %d bytes, want 32", path, len(b))
	}
	le := binary.LittleEndian
	return metered{counted: int64(le.Uint64(b)), from: int64(le.Uint64(b[8:])), to: int64(le.Uint64(b[16:])), at: int64(le.Uint64(b[24:]))}, nil
}

// writeMetered replaces an instance's meter state atomically (a new file renamed over
// the old), so a crash leaves the old state or the new, never a mix.
func writeMetered(dir string, m metered) error {
	var b [32]byte
	le := binary.LittleEndian
	le.PutUint64(b[:], uint64(m.counted))
	le.PutUint64(b[8:], uint64(m.from))
	le.PutUint64(b[16:], uint64(m.to))
	le.PutUint64(b[24:], uint64(m.at))
	tmp := filepath.Join(dir, fileMetered+".tmp")
	if err := os.WriteFile(tmp, b[:], 0o640); err != nil {
		return fmt.Errorf("write meter state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, fileMetered)); err != nil {
		return fmt.Errorf("write meter state: %w", err)
	}
	return nil
}
