package builder

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// cache is the reuse index: which build produced the artifact of a source key. It lives
// in one small JSON file, rewritten atomically, so it survives restarts.
type cache struct {
	mu   sync.Mutex
	file string
}

// cacheEntry records one artifact.
type cacheEntry struct {
	Build    string    `json:"build"`
	Artifact string    `json:"artifact"`
	Built    time.Time `json:"built"`
}

func (c *cache) load() (map[string]cacheEntry, error) {
	data, err := os.ReadFile(c.file)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]cacheEntry{}, nil
	}
	if err != nil {
		return nil, err
	}
	var m map[string]cacheEntry
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		// A corrupt index only costs recompiles; start over rather than fail builds.
		return map[string]cacheEntry{}, nil
	}
	return m, nil
}

func (c *cache) save(m map[string]cacheEntry) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.file), ".index-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), c.file)
}

// reuse places the artifact recorded for key at dst and returns the build that made it.
// A missing or unreadable earlier artifact is forgotten and reported as a miss.
func (c *cache) reuse(key, dst string) (build string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.load()
	if err != nil {
		return "", false
	}
	e, found := m[key]
	if !found {
		return "", false
	}
	if err := linkOrCopy(e.Artifact, dst); err != nil {
		delete(m, key)
		_ = c.save(m)
		return "", false
	}
	return e.Build, true
}

// record remembers that build produced artifact for key.
func (c *cache) record(key, build, artifact string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.load()
	if err != nil {
		return fmt.Errorf("load reuse index: %w", err)
	}
	m[key] = cacheEntry{Build: build, Artifact: artifact, Built: time.Now().UTC()}
	if err := c.save(m); err != nil {
		return fmt.Errorf("save reuse index: %w", err)
	}
	return nil
}

// linkOrCopy makes dst a hard link to src, or a copy when linking is impossible. The
// copy is written beside dst and renamed, so dst is never a partial file.
func linkOrCopy(src, dst string) error {
	info, err := os.Stat(src)
	if err != nil || !info.Mode().IsRegular() {
		return fmt.Errorf("artifact %s is gone", src)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	os.Remove(dst) // a retried build may have left its earlier result
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".copy-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
