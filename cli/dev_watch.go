package cli

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// devBatch is a burst of changes: the paths, relative to the root and slash-separated,
// and when the first of them was seen (a redeploy's time counts from it).
type devBatch struct {
	paths []string
	at    time.Time
}

// devWatcher watches a directory tree with fsnotify (recursively: new directories are
// added as they appear) and sends debounced batches of the changed paths, leaving out
// version control, hidden files, editors' temporary files and build outputs.
type devWatcher struct {
	root     string
	fsw      *fsnotify.Watcher
	debounce time.Duration
	batches  chan devBatch
	errs     chan error
	done     chan struct{}
	stop     context.CancelFunc
}

func newDevWatcher(root string, debounce time.Duration) (*devWatcher, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", root, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &devWatcher{root: root, fsw: fsw, debounce: debounce, batches: make(chan devBatch),
		errs: make(chan error, 1), done: make(chan struct{}), stop: cancel}
	if _, err := w.addTree(root); err != nil {
		cancel()
		fsw.Close()
		return nil, fmt.Errorf("watch %s: %w", root, err)
	}
	go w.loop(ctx)
	return w, nil
}

func (w *devWatcher) close() {
	w.stop()
	<-w.done
	w.fsw.Close()
}

// addTree watches dir and every directory below it that is not ignored, and returns the
// files found in them (relative, slash-separated): a directory that appears (moved in,
// or made by a checkout) changes those files.
func (w *devWatcher) addTree(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			return nil // gone meanwhile
		}
		rel := w.rel(p)
		if rel != "" && devIgnored(rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if err := w.fsw.Add(p); err != nil && p == dir {
				return err
			}
			return nil
		}
		files = append(files, rel)
		return nil
	})
	return files, err
}

func (w *devWatcher) rel(p string) string {
	r, err := filepath.Rel(w.root, p)
	if err != nil || r == "." {
		return ""
	}
	return filepath.ToSlash(r)
}

// loop collects changes until debounce has passed without one, then offers the batch;
// changes that come while the batch waits to be taken join it.
func (w *devWatcher) loop(ctx context.Context) {
	defer close(w.done)
	pending := map[string]bool{}
	var first time.Time
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	ready := false
	for {
		var out chan devBatch
		if ready && len(pending) > 0 {
			out = w.batches
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			changed := w.changed(ev)
			if len(changed) == 0 {
				continue
			}
			if len(pending) == 0 {
				first = time.Now()
			}
			for _, c := range changed {
				pending[c] = true
			}
			ready = false
			timer.Reset(w.debounce)
		case <-timer.C:
			ready = true
		case out <- devBatch{paths: slices.Sorted(maps.Keys(pending)), at: first}:
			pending, ready = map[string]bool{}, false
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			select {
			case w.errs <- err:
			default:
			}
		}
	}
}

// changed returns the paths an event changes: none for an ignored path or a mode
// change; a new directory's files (and it is watched from then on).
func (w *devWatcher) changed(ev fsnotify.Event) []string {
	rel := w.rel(ev.Name)
	if rel == "" || ev.Op == fsnotify.Chmod {
		return nil
	}
	if ev.Op.Has(fsnotify.Create) {
		if st, err := os.Lstat(ev.Name); err == nil && st.IsDir() {
			if devIgnored(rel, true) {
				return nil
			}
			files, _ := w.addTree(ev.Name)
			return append(files, rel)
		}
	}
	if devIgnored(rel, false) {
		return nil
	}
	return []string{rel}
}

// devIgnoredDirs are directories whose changes never redeploy: version control,
// dependencies of other tools, build outputs.
var devIgnoredDirs = map[string]bool{
	".git": true, ".hg": true, ".svn": true, ".bzr": true, ".jj": true,
	"node_modules": true, "bin": true, "dist": true, "tmp": true,
}

// devIgnored reports whether a change to rel (relative, slash-separated) is left out:
// under an ignored or hidden directory, a hidden file (editors' swap and lock files:
// .main.go.swp, .#main.go), an editor's backup or temporary file (main.go~, #main.go#,
// vim's 4913, *.tmp, JetBrains' safe-write files), or a build output (*.exe, *.test,
// *.out).
func devIgnored(rel string, isDir bool) bool {
	parts := strings.Split(rel, "/")
	for i, p := range parts {
		last := i == len(parts)-1
		if strings.HasPrefix(p, ".") || (!last || isDir) && devIgnoredDirs[p] {
			return true
		}
	}
	if isDir {
		return false
	}
	base := path.Base(rel)
	switch {
	case strings.HasSuffix(base, "~"), strings.HasPrefix(base, "#") && strings.HasSuffix(base, "#"),
		base == "4913", strings.HasSuffix(base, ".tmp"), strings.HasSuffix(base, ".swp"),
		strings.Contains(base, "___jb_"),
		strings.HasSuffix(base, ".exe"), strings.HasSuffix(base, ".test"), strings.HasSuffix(base, ".out"):
		return true
	}
	return false
}
