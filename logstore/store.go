// Package logstore keeps the output of service instances on disk, bounded, and serves it
// back as timestamped lines merged across the instances of a service.
//
// # Why files, and two of them
//
// An instance's stdout and stderr are plain files opened O_APPEND (Attach returns them),
// never pipes to the platform: a pipe dies with the platform, and an instance writing to a
// dead pipe gets SIGPIPE/EPIPE. With files, an instance keeps running and logging while
// the platform is down or restarting, and is re-adopted afterwards.
//
// A child writes raw bytes without timestamps, so the store ingests them: it reads the new
// bytes of each raw file, splits them into lines and appends one JSON object per line,
// stamped with the time it was read, to the instance's entries.jsonl. Readers (Tail,
// Follow) only ever read entries.jsonl. The read offsets of the raw files are persisted
// after every append, so ingestion resumes where it stopped after a restart; lines written
// while the platform was down are stamped with the time they were ingested. A crash between
// the append and the offset write re-ingests those lines once: delivery is at least once,
// never lossy.
//
// # Bounds and retention
//
//   - Raw files: once more than 1 MiB of a raw file is ingested, the ingested range is
//     released with fallocate(PUNCH_HOLE), which is safe while the child appends. Where the
//     file system cannot punch holes, a fully ingested raw file is truncated instead (a
//     write racing the truncate can then be lost).
//   - entries.jsonl: when it reaches Options.MaxBytes it is renamed to entries.1.jsonl,
//     replacing the previous generation, so an instance keeps at most 2×MaxBytes.
//   - Per service: the logs of attached (running) instances are always kept. Detach marks
//     an instance stopped; of the stopped instances of a service the KeepStopped most
//     recently stopped are kept for Retention after they stopped, the rest are deleted.
//
// # Layout
//
//	<dir>/<namespace>/<service>/<instance>/
//	    stdout, stderr            raw output, written by the instance
//	    offsets                   16 bytes: ingested length of stdout and stderr
//	    entries.jsonl             {"t":time,"s":"stdout"|"stderr","l":line} per line
//	    entries.1.jsonl           previous generation
//	    stopped                   present once detached: the stop time
//
// One Store owns a directory; ingestion runs in Start's loop and, for freshness, before
// every Tail and on every Follow poll.
package logstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"sync"
	"time"

	platform "github.com/micro/platform"
)

// File names inside an instance directory.
const (
	fileEntries  = "entries.jsonl"
	fileRotated  = "entries.1.jsonl"
	fileOffsets  = "offsets"
	fileStopped  = "stopped"
	punchMinimum = 1 << 20
	maxLine      = 64 << 10
	readChunk    = 1 << 20
)

// Options configure a Store. Zero fields take the defaults shown.
type Options struct {
	// Dir holds the logs; created if missing. Required.
	Dir string
	// MaxBytes bounds one generation of an instance's entries (4 MiB).
	MaxBytes int64
	// KeepStopped is how many stopped instances of a service keep their logs (10).
	KeepStopped int
	// Retention is how long a stopped instance's logs are kept (24h).
	Retention time.Duration
	// PollInterval is how often raw output is ingested and followers poll (200ms).
	PollInterval time.Duration
	// Clock stamps lines; the system clock by default.
	Clock platform.Clock
	// Logger reports ingestion problems; discarded by default.
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 4 << 20
	}
	if o.KeepStopped <= 0 {
		o.KeepStopped = 10
	}
	if o.Retention <= 0 {
		o.Retention = 24 * time.Hour
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 200 * time.Millisecond
	}
	if o.Clock == nil {
		o.Clock = platform.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Key names one instance's logs.
type Key struct {
	Namespace string
	Service   string
	Instance  string
}

var segmentRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Validate returns EINVALID unless every part of k is a safe path segment.
func (k Key) Validate() error {
	var errs []error
	for _, p := range []struct{ name, v string }{
		{"namespace", k.Namespace}, {"service", k.Service}, {"instance", k.Instance},
	} {
		if !segmentRE.MatchString(p.v) || p.v == ".." {
			errs = append(errs, platform.Errorf(platform.EINVALID, "invalid log %s %q", p.name, p.v))
		}
	}
	return errors.Join(errs...)
}

func (k Key) String() string { return k.Namespace + "/" + k.Service + "/" + k.Instance }

// Store is a directory of instance logs. It is safe for concurrent use.
type Store struct {
	opts Options

	mu       sync.Mutex
	sources  map[Key]*source // attached instances, ingested continuously
	notifyCh chan struct{}   // closed and replaced whenever lines are appended
}

// Open opens (creating if needed) the store in opts.Dir and resumes ingesting every
// instance that was attached and not detached when the store was last used.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, platform.Errorf(platform.EINVALID, "logstore: Dir is required")
	}
	opts.defaults()
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	s := &Store{opts: opts, sources: make(map[Key]*source), notifyCh: make(chan struct{})}
	keys, err := s.scan("", "")
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if _, err := os.Stat(filepath.Join(s.dir(k), fileStopped)); err == nil {
			continue
		}
		src, err := s.openSource(k)
		if err != nil {
			return nil, err
		}
		s.sources[k] = src
	}
	return s, nil
}

// Close closes the files the store holds. Ingestion stops; raw files keep receiving output.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for k, src := range s.sources {
		errs = append(errs, src.close())
		delete(s.sources, k)
	}
	return errors.Join(errs...)
}

func (s *Store) dir(k Key) string {
	return filepath.Join(s.opts.Dir, k.Namespace, k.Service, k.Instance)
}

// Attach registers an instance for ingestion (again, if it restarts) and returns its stdout
// and stderr files, opened write-only with O_APPEND, to hand to the child process. The
// caller closes them once the child has started. Attaching a detached instance reopens it.
func (s *Store) Attach(k Key) (stdout, stderr *os.File, err error) {
	if err := k.Validate(); err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := s.dir(k)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("create instance log dir: %w", err)
	}
	if err := os.Remove(filepath.Join(dir, fileStopped)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("reattach %s: %w", k, err)
	}
	files := make([]*os.File, 2)
	for i, name := range []string{string(platform.Stdout), string(platform.Stderr)} {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			closeAll(files...)
			return nil, nil, fmt.Errorf("open %s of %s: %w", name, k, err)
		}
		files[i] = f
	}
	if _, ok := s.sources[k]; !ok {
		src, err := s.openSource(k)
		if err != nil {
			closeAll(files...)
			return nil, nil, err
		}
		s.sources[k] = src
	}
	return files[0], files[1], nil
}

// Detach ingests the rest of an instance's output, including an unterminated last line,
// marks it stopped and stops ingesting it. Its logs remain readable under the retention
// policy. Detaching an unknown or detached instance is not an error.
func (s *Store) Detach(k Key) error {
	s.mu.Lock()
	src, ok := s.sources[k]
	delete(s.sources, k)
	s.mu.Unlock()
	if !ok {
		return nil
	}
	n, err := src.ingest(s.opts, true)
	if n > 0 {
		s.notify()
	}
	stamp := s.opts.Clock.Now().UTC().Format(time.RFC3339Nano)
	err = errors.Join(err, os.WriteFile(filepath.Join(src.dir, fileStopped), []byte(stamp), 0o640), src.close())
	if err != nil {
		return fmt.Errorf("detach %s: %w", k, err)
	}
	return s.enforceRetention(k.Namespace, k.Service)
}

// Attached returns the keys of the instances being ingested, sorted.
func (s *Store) Attached() []Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]Key, 0, len(s.sources))
	for k := range s.sources {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	return keys
}

// Sync ingests new output of the attached instances matching namespace and service (""
// matches any) now.
func (s *Store) Sync(namespace, service string) error {
	s.mu.Lock()
	var srcs []*source
	for k, src := range s.sources {
		if (namespace == "" || k.Namespace == namespace) && (service == "" || k.Service == service) {
			srcs = append(srcs, src)
		}
	}
	s.mu.Unlock()
	var errs []error
	total := 0
	for _, src := range srcs {
		n, err := src.ingest(s.opts, false)
		total += n
		errs = append(errs, err)
	}
	if total > 0 {
		s.notify()
	}
	return errors.Join(errs...)
}

// LastLine returns the last line an attached instance wrote to stream since the store
// opened, after ingesting its pending output; "" if none.
func (s *Store) LastLine(k Key, stream platform.LogStream) string {
	s.mu.Lock()
	src, ok := s.sources[k]
	s.mu.Unlock()
	if !ok {
		return ""
	}
	if n, err := src.ingest(s.opts, false); err != nil {
		s.opts.Logger.Warn("ingest logs", "instance", k.String(), "err", err)
	} else if n > 0 {
		s.notify()
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	for _, r := range src.raw {
		if r.stream == stream {
			return r.last
		}
	}
	return ""
}

// Start ingests the attached instances every PollInterval and applies the retention policy
// every minute, until ctx ends.
func (s *Store) Start(ctx context.Context) error {
	poll := time.NewTicker(s.opts.PollInterval)
	defer poll.Stop()
	retain := time.NewTicker(time.Minute)
	defer retain.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
			if err := s.Sync("", ""); err != nil {
				s.opts.Logger.Warn("ingest logs", "err", err)
			}
		case <-retain.C:
			if err := s.enforceRetention("", ""); err != nil {
				s.opts.Logger.Warn("log retention", "err", err)
			}
		}
	}
}

func (s *Store) notify() {
	s.mu.Lock()
	close(s.notifyCh)
	s.notifyCh = make(chan struct{})
	s.mu.Unlock()
}

func (s *Store) changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notifyCh
}

// scan lists the instance keys on disk, restricted to namespace and service when set.
func (s *Store) scan(namespace, service string) ([]Key, error) {
	var keys []Key
	nss, err := subdirs(s.opts.Dir, namespace)
	if err != nil {
		return nil, err
	}
	for _, ns := range nss {
		svcs, err := subdirs(filepath.Join(s.opts.Dir, ns), service)
		if err != nil {
			return nil, err
		}
		for _, svc := range svcs {
			insts, err := subdirs(filepath.Join(s.opts.Dir, ns, svc), "")
			if err != nil {
				return nil, err
			}
			for _, in := range insts {
				keys = append(keys, Key{Namespace: ns, Service: svc, Instance: in})
			}
		}
	}
	return keys, nil
}

// subdirs lists the directories in dir, or only only when set and present.
func subdirs(dir, only string) ([]string, error) {
	if only != "" {
		if fi, err := os.Stat(filepath.Join(dir, only)); err == nil && fi.IsDir() {
			return []string{only}, nil
		}
		return nil, nil
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list logs: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && segmentRE.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// enforceRetention deletes the logs of stopped instances beyond KeepStopped per service or
// older than Retention.
func (s *Store) enforceRetention(namespace, service string) error {
	keys, err := s.scan(namespace, service)
	if err != nil {
		return err
	}
	type stopped struct {
		key Key
		at  time.Time
	}
	bySvc := map[[2]string][]stopped{}
	for _, k := range keys {
		b, err := os.ReadFile(filepath.Join(s.dir(k), fileStopped))
		if err != nil {
			continue // attached, or being attached
		}
		at, _ := time.Parse(time.RFC3339Nano, string(b))
		svc := [2]string{k.Namespace, k.Service}
		bySvc[svc] = append(bySvc[svc], stopped{k, at})
	}
	cutoff := s.opts.Clock.Now().Add(-s.opts.Retention)
	var errs []error
	for _, list := range bySvc {
		slices.SortFunc(list, func(a, b stopped) int { return b.at.Compare(a.at) })
		for i, st := range list {
			if i < s.opts.KeepStopped && st.at.After(cutoff) {
				continue
			}
			s.mu.Lock()
			_, attached := s.sources[st.key]
			if !attached {
				errs = append(errs, os.RemoveAll(s.dir(st.key)))
			}
			s.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

func closeAll(files ...*os.File) {
	for _, f := range files {
		if f != nil {
			_ = f.Close()
		}
	}
}

// readOffsets returns the persisted ingested lengths of stdout and stderr.
func readOffsets(path string) ([2]int64, error) {
	var off [2]int64
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return off, nil
	}
	if err != nil {
		return off, fmt.Errorf("read offsets: %w", err)
	}
	if len(b) < 16 {
		return off, nil // torn or empty: re-ingest from the start (at least once)
	}
	off[0] = int64(binary.LittleEndian.Uint64(b[0:8]))
	off[1] = int64(binary.LittleEndian.Uint64(b[8:16]))
	return off, nil
}

var _ io.Closer = (*Store)(nil)
