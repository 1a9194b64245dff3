package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	platform "github.com/micro/platform"
)

// DefaultUIDBase is the first user ID given to a namespace's sandboxed instances. It lies
// above the ranges /etc/subuid usually hands out (100000–165535), so no host account or
// rootless container shares it.
const DefaultUIDBase = 200000

// maxNamespaceUIDs bounds the range: UIDBase … UIDBase+maxNamespaceUIDs-1.
const maxNamespaceUIDs = 1 << 20

// uidTable gives every namespace a user (and group) ID of its own, UIDBase upwards in the
// order namespaces are first started. The table is kept in a file so a namespace keeps its
// ID across restarts: files its instances made in earlier runs stay its own.
type uidTable struct {
	path string
	base int

	mu   sync.Mutex
	uids map[string]int
}

func openUIDTable(path string, base int) (*uidTable, error) {
	t := &uidTable{path: path, base: base, uids: map[string]int{}}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return t, nil
	case err != nil:
		return nil, fmt.Errorf("read namespace uids: %w", err)
	}
	if err := json.Unmarshal(b, &t.uids); err != nil {
		return nil, fmt.Errorf("read namespace uids %s: %w", path, err)
	}
	return t, nil
}

// uid returns ns's ID, assigning the next free one on first use.
func (t *uidTable) uid(ns string) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id, ok := t.uids[ns]; ok {
		return id, nil
	}
	used := make(map[int]bool, len(t.uids))
	for _, id := range t.uids {
		used[id] = true
	}
	id := t.base
	for used[id] {
		id++
	}
	if id >= t.base+maxNamespaceUIDs {
		return 0, platform.Errorf(platform.EUNAVAILABLE, "no sandbox user ID left for namespace %q", ns)
	}
	t.uids[ns] = id
	b, _ := json.Marshal(t.uids)
	tmp := t.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		delete(t.uids, ns)
		return 0, fmt.Errorf("record namespace uid: %w", err)
	}
	if err := os.Rename(tmp, t.path); err != nil {
		delete(t.uids, ns)
		return 0, fmt.Errorf("record namespace uid: %w", err)
	}
	return id, nil
}
