package control

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	platform "github.com/micro/platform"
)

// buildLogs keeps each build's output in a file under dir (so it survives restarts) and
// lets followers of a running build receive lines as they are written.
type buildLogs struct {
	dir string

	mu   sync.Mutex
	live map[string]*liveLog
}

// liveLog is the output of a build in progress.
type liveLog struct {
	f     *os.File
	mu    sync.Mutex
	lines int
	subs  map[chan logLine]struct{}
	done  bool
	owner *buildLogs
	id    string
}

type logLine struct {
	seq  int
	text string
}

func newBuildLogs(dir string) (*buildLogs, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &buildLogs{dir: dir, live: map[string]*liveLog{}}, nil
}

func (b *buildLogs) path(id string) string { return filepath.Join(b.dir, id+".log") }

// Remove deletes the log of build id; a missing log is not an error.
func (b *buildLogs) Remove(id string) error {
	if err := os.Remove(b.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Open starts (or restarts, truncating) the log of build id.
func (b *buildLogs) Open(id string) (*liveLog, error) {
	f, err := os.OpenFile(b.path(id), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	l := &liveLog{f: f, subs: map[chan logLine]struct{}{}, owner: b, id: id}
	b.mu.Lock()
	b.live[id] = l
	b.mu.Unlock()
	return l, nil
}

// WriteLine implements platform.LogWriter.
func (l *liveLog) WriteLine(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return
	}
	_, _ = l.f.WriteString(line + "\n")
	l.lines++
	for ch := range l.subs {
		select {
		case ch <- logLine{seq: l.lines - 1, text: line}:
		default:
			delete(l.subs, ch)
			close(ch)
		}
	}
}

// Close ends the log: followers get the end of the stream.
func (l *liveLog) Close() {
	l.mu.Lock()
	l.done = true
	for ch := range l.subs {
		close(ch)
	}
	l.subs = nil
	_ = l.f.Close()
	l.mu.Unlock()
	l.owner.mu.Lock()
	if l.owner.live[l.id] == l {
		delete(l.owner.live, l.id)
	}
	l.owner.mu.Unlock()
}

// Stream sends the lines written so far and, with follow and while the build runs, the
// lines that follow. The channel closes at the end.
func (b *buildLogs) Stream(ctx context.Context, id string, follow bool) (<-chan string, error) {
	var sub chan logLine
	var live *liveLog
	if follow {
		b.mu.Lock()
		live = b.live[id]
		b.mu.Unlock()
		if live != nil {
			live.mu.Lock()
			if !live.done {
				sub = make(chan logLine, 1024)
				live.subs[sub] = struct{}{}
			}
			live.mu.Unlock()
		}
	}
	f, err := os.Open(b.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		f = nil
	} else if err != nil {
		return nil, err
	}
	out := make(chan string, 64)
	go func() {
		defer close(out)
		if sub != nil {
			defer func() {
				live.mu.Lock()
				if _, ok := live.subs[sub]; ok {
					delete(live.subs, sub)
					close(sub)
				}
				live.mu.Unlock()
			}()
		}
		n := 0
		if f != nil {
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				select {
				case out <- sc.Text():
					n++
				case <-ctx.Done():
					f.Close()
					return
				}
			}
			f.Close()
		}
		if sub == nil {
			return
		}
		for {
			select {
			case l, ok := <-sub:
				if !ok {
					return
				}
				if l.seq < n {
					continue // already sent from the file
				}
				select {
				case out <- l.text:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

var _ platform.LogWriter = (*liveLog)(nil)
