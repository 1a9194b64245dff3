package logstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	platform "github.com/micro/platform"
)

// defaultTail is how many lines a query with Tail 0 returns.
const defaultTail = 100

// Tail returns the last q.Tail lines (0 means 100, -1 all kept) of every instance of the
// service, merged and ordered by time. q.Follow is ignored.
func (s *Store) Tail(q platform.LogQuery) ([]platform.LogEntry, error) {
	entries, _, err := s.tail(q)
	return entries, err
}

// Logs sends the tail of q and, with q.Follow, the lines appended afterwards until ctx
// ends. The channel closes when the tail is sent (without Follow) or when ctx ends.
func (s *Store) Logs(ctx context.Context, q platform.LogQuery) (<-chan platform.LogEntry, error) {
	if !q.Follow {
		entries, err := s.Tail(q)
		if err != nil {
			return nil, err
		}
		ch := make(chan platform.LogEntry, len(entries))
		for _, e := range entries {
			ch <- e
		}
		close(ch)
		return ch, nil
	}
	return s.Follow(ctx, q)
}

// Follow sends the tail of q, then every line appended to any instance of the service,
// including instances that appear later, until ctx ends; then it closes the channel.
func (s *Store) Follow(ctx context.Context, q platform.LogQuery) (<-chan platform.LogEntry, error) {
	entries, cursors, err := s.tail(q)
	if err != nil {
		return nil, err
	}
	ch := make(chan platform.LogEntry, 64)
	go func() {
		defer close(ch)
		if !send(ctx, ch, entries) {
			return
		}
		s.follow(ctx, q, cursors, ch)
	}()
	return ch, nil
}

func (s *Store) follow(ctx context.Context, q platform.LogQuery, cursors map[Key]*cursor, ch chan<- platform.LogEntry) {
	poll := time.NewTicker(s.opts.PollInterval)
	defer poll.Stop()
	for {
		changed := s.changed()
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
			if err := s.Sync(q.Namespace, q.Service); err != nil {
				s.opts.Logger.Warn("ingest logs", "err", err)
			}
		case <-changed:
		}
		keys, err := s.scan(q.Namespace, q.Service)
		if err != nil {
			s.opts.Logger.Warn("follow logs", "err", err)
			continue
		}
		var batch []platform.LogEntry
		for _, k := range keys {
			c, ok := cursors[k]
			if !ok {
				c = &cursor{}
				cursors[k] = c
			}
			recs, err := c.next(s.dir(k))
			if err != nil {
				s.opts.Logger.Warn("follow logs", "instance", k.String(), "err", err)
			}
			batch = append(batch, entriesOf(k, recs)...)
		}
		slices.SortStableFunc(batch, func(a, b platform.LogEntry) int { return a.Time.Compare(b.Time) })
		if !send(ctx, ch, batch) {
			return
		}
	}
}

func send(ctx context.Context, ch chan<- platform.LogEntry, entries []platform.LogEntry) bool {
	for _, e := range entries {
		select {
		case ch <- e:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// tail returns the merged tail of q and, per instance, a cursor just after it.
func (s *Store) tail(q platform.LogQuery) ([]platform.LogEntry, map[Key]*cursor, error) {
	if err := errors.Join(platform.ValidateName("namespace", q.Namespace), platform.ValidateName("service", q.Service)); err != nil {
		return nil, nil, err
	}
	n := q.Tail
	switch {
	case n == 0:
		n = defaultTail
	case n < -1:
		return nil, nil, platform.Errorf(platform.EINVALID, "tail must be -1 (all), 0 (default %d) or positive, not %d", defaultTail, n)
	}
	if err := s.Sync(q.Namespace, q.Service); err != nil {
		s.opts.Logger.Warn("ingest logs", "err", err)
	}
	keys, err := s.scan(q.Namespace, q.Service)
	if err != nil {
		return nil, nil, err
	}
	var all []platform.LogEntry
	cursors := make(map[Key]*cursor, len(keys))
	for _, k := range keys {
		c, recs, err := tailInstance(s.dir(k), n)
		if err != nil {
			return nil, nil, fmt.Errorf("tail %s: %w", k, err)
		}
		cursors[k] = c
		all = append(all, entriesOf(k, recs)...)
	}
	slices.SortStableFunc(all, func(a, b platform.LogEntry) int { return a.Time.Compare(b.Time) })
	if n >= 0 && len(all) > n {
		all = all[len(all)-n:]
	}
	return all, cursors, nil
}

func entriesOf(k Key, recs []record) []platform.LogEntry {
	out := make([]platform.LogEntry, len(recs))
	for i, r := range recs {
		out[i] = platform.LogEntry{
			Time: r.Time, Namespace: k.Namespace, Service: k.Service, InstanceID: k.Instance,
			Stream: r.Stream, Line: r.Line,
		}
	}
	return out
}

// tailInstance reads the last n records (all with n < 0) of an instance, from the current
// generation and, if that holds fewer, the rotated one, and a cursor at the current end.
func tailInstance(dir string, n int) (*cursor, []record, error) {
	c := &cursor{}
	f, err := os.Open(filepath.Join(dir, fileEntries))
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	c.ino, c.off = inode(fi), fi.Size()
	recs, err := tailFile(f, fi.Size(), n)
	if err != nil {
		return nil, nil, err
	}
	if n >= 0 && len(recs) >= n {
		return c, recs, nil
	}
	rf, err := os.Open(filepath.Join(dir, fileRotated))
	if errors.Is(err, fs.ErrNotExist) {
		return c, recs, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer rf.Close()
	rfi, err := rf.Stat()
	if err != nil {
		return nil, nil, err
	}
	more := -1
	if n >= 0 {
		more = n - len(recs)
	}
	older, err := tailFile(rf, rfi.Size(), more)
	if err != nil {
		return nil, nil, err
	}
	return c, append(older, recs...), nil
}

// tailFile parses the last n complete lines (all with n < 0) of f's first size bytes,
// reading backwards in chunks so a short tail of a large file stays cheap.
func tailFile(f *os.File, size int64, n int) ([]record, error) {
	if n == 0 || size == 0 {
		return nil, nil
	}
	start := int64(0)
	if n > 0 {
		const chunk = 64 << 10
		count := 0
		start = size
		buf := make([]byte, chunk)
		for start > 0 && count <= n {
			from := max(start-chunk, 0)
			b := buf[:start-from]
			if _, err := f.ReadAt(b, from); err != nil && !errors.Is(err, io.EOF) {
				return nil, err
			}
			for i := len(b) - 1; i >= 0; i-- {
				if b[i] == '\n' {
					count++
					if count == n+1 {
						start = from + int64(i) + 1
						break
					}
				}
			}
			if count <= n {
				start = from
			}
		}
	}
	data := make([]byte, size-start)
	if _, err := f.ReadAt(data, start); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	recs, _ := parseRecords(data)
	if n > 0 && len(recs) > n {
		recs = recs[len(recs)-n:]
	}
	return recs, nil
}

// parseRecords decodes the complete lines of data and returns how many bytes they span.
func parseRecords(data []byte) ([]record, int) {
	var recs []record
	used := 0
	for {
		nl := bytes.IndexByte(data[used:], '\n')
		if nl < 0 {
			return recs, used
		}
		var r record
		if err := json.Unmarshal(data[used:used+nl], &r); err == nil {
			recs = append(recs, r)
		}
		used += nl + 1
	}
}

// cursor is a follower's position in an instance's entries: the inode of the generation it
// reads and the offset in it.
type cursor struct {
	ino uint64
	off int64
}

// next returns the records appended since the cursor, following a rotation once.
func (c *cursor) next(dir string) ([]record, error) {
	fi, err := os.Stat(filepath.Join(dir, fileEntries))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var recs []record
	if ino := inode(fi); ino != c.ino {
		if c.ino != 0 {
			// Rotated since the last read: finish the old generation first.
			if rfi, err := os.Stat(filepath.Join(dir, fileRotated)); err == nil && inode(rfi) == c.ino {
				old, _, err := readFrom(filepath.Join(dir, fileRotated), c.off)
				if err != nil {
					return nil, err
				}
				recs = old
			}
		}
		c.ino, c.off = ino, 0
	}
	if fi.Size() <= c.off {
		return recs, nil
	}
	more, used, err := readFrom(filepath.Join(dir, fileEntries), c.off)
	c.off += int64(used)
	return append(recs, more...), err
}

func readFrom(path string, off int64) ([]record, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, 0, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, 0, err
	}
	recs, used := parseRecords(data)
	return recs, used, nil
}

func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
