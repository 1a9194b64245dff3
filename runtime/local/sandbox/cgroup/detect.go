package cgroup

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// DefaultRoot is where cgroup filesystems are mounted on every mainstream distribution.
const DefaultRoot = "/sys/fs/cgroup"

// mount is one cgroup filesystem from /proc/self/mountinfo.
type mount struct {
	root   string   // the path inside the hierarchy that is mounted (field 4)
	point  string   // where it is mounted, rebased onto the configured root
	fstype string   // "cgroup" (v1) or "cgroup2"
	opts   []string // super options: the v1 controllers of the hierarchy
}

// has reports whether the v1 mount carries controller c.
func (m mount) has(c string) bool {
	for _, o := range m.opts {
		if o == c {
			return true
		}
	}
	return false
}

// parseMountInfo returns the cgroup and cgroup2 mounts of a mountinfo file. Mount points
// under DefaultRoot are rebased onto root, so tests can point a standard mountinfo at a
// fake tree.
func parseMountInfo(data []byte, root string) []mount {
	var out []mount
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		sep := -1
		for i, f := range fields {
			if f == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || len(fields) < sep+4 {
			continue
		}
		fstype := fields[sep+1]
		if fstype != "cgroup" && fstype != "cgroup2" {
			continue
		}
		m := mount{
			root:   unescapeMount(fields[3]),
			point:  rebase(unescapeMount(fields[4]), root),
			fstype: fstype,
			opts:   strings.Split(fields[sep+3], ","),
		}
		out = append(out, m)
	}
	return out
}

// rebase moves p from under DefaultRoot to under root.
func rebase(p, root string) string {
	if root == DefaultRoot {
		return p
	}
	if p == DefaultRoot {
		return root
	}
	if rest, ok := strings.CutPrefix(p, DefaultRoot+"/"); ok {
		return path.Join(root, rest)
	}
	return p
}

// unescapeMount undoes the octal escapes (\040 for a space, ...) of mountinfo paths.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// procCgroups is /proc/self/cgroup: the path of the process in each v1 controller's
// hierarchy and in the unified one.
type procCgroups struct {
	v1      map[string]string // controller → path
	unified string            // path in the v2 hierarchy ("" when there is no 0:: line)
	hasV2   bool
}

// parseProcCgroup parses lines of the form "hierarchy-id:controller,list:/path".
func parseProcCgroup(data []byte) procCgroups {
	pc := procCgroups{v1: map[string]string{}}
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			pc.unified, pc.hasV2 = parts[2], true
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c != "" {
				pc.v1[c] = parts[2]
			}
		}
	}
	return pc
}

// ownDir is the directory of the cgroup at path p (from /proc/self/cgroup) on mount m. A
// path outside the mounted subtree (another cgroup namespace) falls back to the mount
// point itself.
func ownDir(m mount, p string) string {
	if p == "" || strings.HasPrefix(p, "/..") {
		return m.point
	}
	if m.root == "/" || m.root == "" {
		return path.Join(m.point, p)
	}
	if p == m.root {
		return m.point
	}
	if rest, ok := strings.CutPrefix(p, m.root+"/"); ok {
		return path.Join(m.point, rest)
	}
	return m.point
}

// parseInt parses a decimal integer, treating "max" as -1 (no limit).
func parseInt(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "max" {
		return -1, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a number: %q", s)
	}
	return n, nil
}

// keyed returns the value of key in a flat keyed file ("key value" lines: cpu.stat,
// memory.events, memory.oom_control), and whether it is there.
func keyed(data []byte, key string) (uint64, bool) {
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
