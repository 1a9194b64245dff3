package logstore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	platform "github.com/micro/platform"
	"golang.org/x/sys/unix"
)

// record is one line of entries.jsonl.
type record struct {
	Time   time.Time          `json:"t"`
	Stream platform.LogStream `json:"s"`
	Line   string             `json:"l"`
}

// rawFile is the reading side of one raw output file.
type rawFile struct {
	stream  platform.LogStream
	f       *os.File
	offset  int64 // bytes ingested
	punched int64 // bytes released with PUNCH_HOLE
	noPunch bool  // the file system cannot punch holes
	last    string
}

// source ingests one attached instance.
type source struct {
	dir     string
	mu      sync.Mutex
	raw     [2]*rawFile
	offsets *os.File
	out     *os.File
	outSize int64
}

func (s *Store) openSource(k Key) (*source, error) {
	src := &source{dir: s.dir(k)}
	off, err := readOffsets(filepath.Join(src.dir, fileOffsets))
	if err != nil {
		return nil, err
	}
	for i, stream := range []platform.LogStream{platform.Stdout, platform.Stderr} {
		// Read-write: punching holes needs a writable descriptor. Nothing is written.
		f, err := os.OpenFile(filepath.Join(src.dir, string(stream)), os.O_RDWR|os.O_CREATE, 0o640)
		if err != nil {
			_ = src.close()
			return nil, fmt.Errorf("open %s of %s: %w", stream, k, err)
		}
		src.raw[i] = &rawFile{stream: stream, f: f, offset: off[i]}
	}
	if src.offsets, err = os.OpenFile(filepath.Join(src.dir, fileOffsets), os.O_RDWR|os.O_CREATE, 0o640); err != nil {
		_ = src.close()
		return nil, fmt.Errorf("open offsets of %s: %w", k, err)
	}
	if err := src.openOut(); err != nil {
		_ = src.close()
		return nil, err
	}
	return src, nil
}

func (src *source) openOut() error {
	out, err := os.OpenFile(filepath.Join(src.dir, fileEntries), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("open entries: %w", err)
	}
	fi, err := out.Stat()
	if err != nil {
		_ = out.Close()
		return fmt.Errorf("stat entries: %w", err)
	}
	src.out, src.outSize = out, fi.Size()
	return nil
}

func (src *source) close() error {
	src.mu.Lock()
	defer src.mu.Unlock()
	var errs []error
	for _, r := range src.raw {
		if r != nil {
			errs = append(errs, r.f.Close())
		}
	}
	for _, f := range []*os.File{src.offsets, src.out} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	src.raw, src.offsets, src.out = [2]*rawFile{}, nil, nil
	return errors.Join(errs...)
}

// ingest appends the complete new lines of both raw files to the entries (with final, an
// unterminated last line too), persists the offsets and releases ingested raw bytes. It
// returns how many lines it appended.
func (src *source) ingest(opts Options, final bool) (int, error) {
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.out == nil {
		return 0, nil // closed
	}
	now := opts.Clock.Now().UTC()
	var buf bytes.Buffer
	var advanced [2]int64
	lines := 0
	for i, r := range src.raw {
		n, end, err := r.readLines(now, final, &buf)
		if err != nil {
			return 0, err
		}
		lines += n
		advanced[i] = end
	}
	if lines == 0 && advanced == [2]int64{src.raw[0].offset, src.raw[1].offset} {
		return 0, nil
	}
	if err := src.append(opts, buf.Bytes()); err != nil {
		return 0, err
	}
	var off [16]byte
	for i, r := range src.raw {
		r.offset = advanced[i]
		r.release()
		binary.LittleEndian.PutUint64(off[i*8:i*8+8], uint64(r.offset))
	}
	if _, err := src.offsets.WriteAt(off[:], 0); err != nil {
		return lines, fmt.Errorf("write offsets: %w", err)
	}
	return lines, nil
}

// append writes encoded records, rotating the entries file first when it is full.
func (src *source) append(opts Options, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	for len(b) > 0 {
		// Write what fits in this generation (at least one line), then rotate.
		n := 0
		for n < len(b) {
			nl := bytes.IndexByte(b[n:], '\n') + 1
			if nl == 0 {
				nl = len(b) - n
			}
			if n > 0 && src.outSize+int64(n+nl) > opts.MaxBytes {
				break
			}
			n += nl
		}
		if src.outSize > 0 && src.outSize+int64(n) > opts.MaxBytes {
			if err := src.rotate(); err != nil {
				return err
			}
		}
		w, err := src.out.Write(b[:n])
		src.outSize += int64(w)
		if err != nil {
			return fmt.Errorf("append entries: %w", err)
		}
		b = b[n:]
	}
	return nil
}

// rotate makes the current entries the rotated generation and starts a new one.
func (src *source) rotate() error {
	if err := src.out.Close(); err != nil {
		return fmt.Errorf("close entries: %w", err)
	}
	src.out = nil
	if err := os.Rename(filepath.Join(src.dir, fileEntries), filepath.Join(src.dir, fileRotated)); err != nil {
		return fmt.Errorf("rotate entries: %w", err)
	}
	return src.openOut()
}

// readLines encodes the complete lines after r.offset into buf and returns how many, and
// the offset after the last one consumed.
func (r *rawFile) readLines(now time.Time, final bool, buf *bytes.Buffer) (int, int64, error) {
	fi, err := r.f.Stat()
	if err != nil {
		return 0, r.offset, fmt.Errorf("stat %s: %w", r.stream, err)
	}
	if fi.Size() < r.offset { // truncated behind our back: start over
		r.offset, r.punched = 0, 0
	}
	pos, n := r.offset, 0
	chunk := make([]byte, 0, 64<<10)
	for pos < fi.Size() {
		size := min(fi.Size()-pos, readChunk)
		chunk = slicesGrow(chunk, int(size))
		m, err := r.f.ReadAt(chunk, pos)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, r.offset, fmt.Errorf("read %s: %w", r.stream, err)
		}
		data := chunk[:m]
		consumed := 0
		for {
			nl := bytes.IndexByte(data[consumed:], '\n')
			if nl < 0 {
				rest := len(data) - consumed
				if rest > maxLine || (final && pos+int64(len(data)) >= fi.Size() && rest > 0) {
					r.encode(now, data[consumed:], buf)
					n, consumed = n+1, len(data)
				}
				break
			}
			r.encode(now, data[consumed:consumed+nl], buf)
			n, consumed = n+1, consumed+nl+1
		}
		if consumed == 0 {
			break // a partial line: wait for the rest
		}
		pos += int64(consumed)
		if m < int(size) {
			break
		}
	}
	return n, pos, nil
}

func slicesGrow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

func (r *rawFile) encode(now time.Time, line []byte, buf *bytes.Buffer) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	r.last = string(line)
	b, _ := json.Marshal(record{Time: now, Stream: r.stream, Line: r.last})
	buf.Write(b)
	buf.WriteByte('\n')
}

// release frees the disk space of ingested raw bytes: a hole punched up to the offset
// (page aligned), or, where holes are unsupported, a truncate once all is ingested.
func (r *rawFile) release() {
	if !r.noPunch {
		end := r.offset &^ 4095
		if end-r.punched < punchMinimum {
			return
		}
		err := unix.Fallocate(int(r.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, r.punched, end-r.punched)
		if err == nil {
			r.punched = end
			return
		}
		if !errors.Is(err, syscall.EOPNOTSUPP) && !errors.Is(err, syscall.ENOSYS) {
			return
		}
		r.noPunch = true
	}
	if r.offset < punchMinimum {
		return
	}
	if fi, err := r.f.Stat(); err == nil && fi.Size() == r.offset {
		if r.f.Truncate(0) == nil {
			r.offset = 0
		}
	}
}
