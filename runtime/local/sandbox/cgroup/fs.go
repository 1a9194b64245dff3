package cgroup

import (
	"os"
	"sort"
	"strings"
	"syscall"
)

// fsys is the filesystem the package drives: the kernel's cgroupfs in production, a fake
// kernel over a temporary directory in the unit tests. Paths are absolute.
type fsys interface {
	// ReadFile returns the contents of a control file.
	ReadFile(name string) ([]byte, error)
	// WriteFile writes data to an existing control file in one write(2).
	WriteFile(name, data string) error
	// Mkdir creates one cgroup directory.
	Mkdir(name string) error
	// Rmdir removes one cgroup directory.
	Rmdir(name string) error
	// SubDirs returns the names of the directories in name, sorted.
	SubDirs(name string) ([]string, error)
	// Exists reports whether name exists.
	Exists(name string) bool
}

// osFS is fsys on the real filesystem.
type osFS struct{}

func (osFS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

func (osFS) WriteFile(name, data string) error {
	// No O_CREATE: a control file that is missing means the controller is missing, and
	// cgroupfs refuses to create files anyway.
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte(data))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (osFS) Mkdir(name string) error { return os.Mkdir(name, 0o755) }

func (osFS) Rmdir(name string) error {
	if err := syscall.Rmdir(name); err != nil {
		return &os.PathError{Op: "rmdir", Path: name, Err: err}
	}
	return nil
}

func (osFS) SubDirs(name string) ([]string, error) {
	entries, err := os.ReadDir(name)
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	sort.Strings(dirs)
	return dirs, nil
}

func (osFS) Exists(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
}

// readInts parses a file of one integer per line (cgroup.procs, tasks).
func readInts(fs fsys, name string) ([]int, error) {
	b, err := fs.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		n, err := parseInt(f)
		if err != nil {
			return nil, err
		}
		out = append(out, int(n))
	}
	return out, nil
}
