package archive

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	platform "github.com/micro/platform"
)

// errTooLarge is returned by a byteCounter once its budget is spent.
var errTooLarge = errors.New("archive size limit exceeded")

// byteCounter is a budget shared by the compressed and the uncompressed stream, so a
// gzip bomb is stopped after MaxBytes of output, not after it is fully inflated.
type byteCounter struct {
	used, max int64
}

// countingReader charges every byte read from r to a byteCounter.
type countingReader struct {
	r io.Reader
	c *byteCounter
}

func (cr *countingReader) Read(p []byte) (int, error) {
	if cr.c.used >= cr.c.max {
		return 0, errTooLarge
	}
	if rest := cr.c.max - cr.c.used; int64(len(p)) > rest {
		// Read one byte more than the budget so that reaching the limit exactly is
		// allowed and going past it is detected.
		p = p[:rest+1]
	}
	n, err := cr.r.Read(p)
	cr.c.used += int64(n)
	if cr.c.used > cr.c.max {
		return n, errTooLarge
	}
	return n, err
}

// Extract unpacks the gzip-compressed tar read from r into dest, creating dest if
// needed. dest should be empty: an entry whose name already exists there is refused.
//
// Every write goes through an os.Root opened on dest. Extract refuses, as EINVALID naming
// the offending entry: absolute names, names with ".." elements or backslashes, duplicate
// names, entries below a symlink of the archive, symlinks whose target leaves dest, hard
// links to anything but a regular file earlier in the archive, device, fifo and other
// special entries, and archives past limits (counted while streaming). Entries written
// before a refusal stay in dest; the caller removes dest on error.
func Extract(r io.Reader, dest string, limits Limits) error {
	limits = limits.withDefaults()
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	defer root.Close()

	budget := &byteCounter{max: limits.MaxBytes}
	zr, err := gzip.NewReader(&countingReader{r: r, c: budget})
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return tooLarge("", limits)
		}
		return platform.Errorf(platform.EINVALID, "archive is not a gzip-compressed tar file: %v", err).
			WithHint("create it with `tar czf` or let the platform CLI pack the directory")
	}
	defer zr.Close()

	x := &extractor{
		root:     root,
		limits:   limits,
		seen:     make(map[string]byte),
		symlinks: make(map[string]bool),
	}
	tr := tar.NewReader(&countingReader{r: zr, c: budget})
	last := ""
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return readError(err, last, limits)
		}
		last = hdr.Name
		if err := x.entry(hdr, tr); err != nil {
			return err
		}
	}
}

// readError turns an error from the tar or gzip stream into a user-facing error.
func readError(err error, entry string, limits Limits) error {
	if errors.Is(err, errTooLarge) {
		return tooLarge(entry, limits)
	}
	if entry == "" {
		return platform.Errorf(platform.EINVALID, "archive is not a valid tar.gz file: %v", err)
	}
	return platform.Errorf(platform.EINVALID, "archive is corrupt after entry %q: %v", entry, err)
}

func tooLarge(entry string, limits Limits) error {
	msg := fmt.Sprintf("archive exceeds the %s size limit (compressed and extracted bytes together)",
		FormatSize(limits.MaxBytes))
	if entry != "" {
		msg = fmt.Sprintf("archive entry %q: %s", entry, msg)
	}
	return platform.Errorf(platform.EINVALID, "%s", msg).
		WithHint("leave build outputs and large data out of the source (list them in %s)", IgnoreFile)
}

// entryError is the user-facing error for one bad entry.
func entryError(name, format string, args ...any) error {
	return platform.Errorf(platform.EINVALID, "archive entry %q: %s", name, fmt.Sprintf(format, args...))
}

// extractor holds the state of one Extract.
type extractor struct {
	root   *os.Root
	limits Limits
	files  int
	// seen maps every extracted name to its tar type flag.
	seen map[string]byte
	// symlinks holds the names of extracted symlinks; no entry may be written below one.
	symlinks map[string]bool
}

// entry validates and writes one tar entry.
func (x *extractor) entry(hdr *tar.Header, body io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "." {
		if hdr.Typeflag == tar.TypeDir {
			return nil
		}
		return entryError(hdr.Name, "only a directory may name the archive root")
	}
	x.files++
	if x.files > x.limits.MaxFiles {
		return entryError(hdr.Name, "archive has more than %d entries", x.limits.MaxFiles)
	}
	if _, dup := x.seen[name]; dup {
		return entryError(hdr.Name, "duplicate entry")
	}
	if link := x.symlinkAbove(name); link != "" {
		return entryError(hdr.Name, "path goes through symlink %q", link)
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA:
		err = x.file(name, hdr, body)
	case tar.TypeDir:
		err = x.root.MkdirAll(name, 0o755)
	case tar.TypeSymlink:
		err = x.symlink(name, hdr)
	case tar.TypeLink:
		err = x.hardlink(name, hdr)
	case tar.TypeChar, tar.TypeBlock:
		return entryError(hdr.Name, "device files are not allowed")
	case tar.TypeFifo:
		return entryError(hdr.Name, "named pipes (fifo) are not allowed")
	default:
		return entryError(hdr.Name, "unsupported entry type %q", string(hdr.Typeflag))
	}
	if err != nil {
		var perr *platform.Error
		if errors.As(err, &perr) || errors.Is(err, errTooLarge) {
			return err
		}
		return entryError(hdr.Name, "cannot be written: %v", unwrapPathError(err))
	}
	x.seen[name] = hdr.Typeflag
	return nil
}

// cleanName validates a tar entry name and returns it cleaned, "." for the root.
func cleanName(raw string) (string, error) {
	switch {
	case raw == "":
		return "", entryError(raw, "empty name")
	case strings.ContainsRune(raw, 0):
		return "", entryError(raw, "name contains a NUL byte")
	case strings.Contains(raw, `\`):
		return "", entryError(raw, "backslashes are not allowed in paths")
	case strings.HasPrefix(raw, "/"), len(raw) >= 2 && raw[1] == ':':
		return "", entryError(raw, "absolute paths are not allowed")
	}
	for _, elem := range strings.Split(raw, "/") {
		if elem == ".." {
			return "", entryError(raw, "path escapes the archive root")
		}
	}
	return path.Clean(raw), nil
}

// symlinkAbove returns the first parent of name that is a symlink of the archive.
func (x *extractor) symlinkAbove(name string) string {
	for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
		if x.symlinks[dir] {
			return dir
		}
	}
	return ""
}

// file writes a regular file, charging its content to the size budget.
func (x *extractor) file(name string, hdr *tar.Header, body io.Reader) error {
	if err := x.mkdirParent(name); err != nil {
		return err
	}
	mode := fs.FileMode(0o644)
	if hdr.Mode&0o111 != 0 {
		mode = 0o755
	}
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, body); err != nil {
		f.Close()
		if errors.Is(err, errTooLarge) {
			return tooLarge(hdr.Name, x.limits)
		}
		return entryError(hdr.Name, "cannot be read: %v", err)
	}
	return f.Close()
}

// symlink creates a symlink after checking that its target stays inside dest. The
// target is stored cleaned, so it holds ".." only as leading elements; with no symlink
// above the link itself, resolving it can therefore never leave dest.
func (x *extractor) symlink(name string, hdr *tar.Header) error {
	target := hdr.Linkname
	switch {
	case target == "":
		return entryError(hdr.Name, "symlink has no target")
	case strings.HasPrefix(target, "/") || strings.Contains(target, `\`) || len(target) >= 2 && target[1] == ':':
		return entryError(hdr.Name, "symlink target %q is absolute", target)
	}
	resolved := path.Join(path.Dir(name), target)
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return entryError(hdr.Name, "symlink target %q escapes the archive root", target)
	}
	if err := x.mkdirParent(name); err != nil {
		return err
	}
	if err := x.root.Symlink(path.Clean(target), name); err != nil {
		return err
	}
	x.symlinks[name] = true
	return nil
}

// hardlink links name to a regular file extracted earlier.
func (x *extractor) hardlink(name string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return entryError(hdr.Name, "hard link target %q escapes the archive root", hdr.Linkname)
	}
	if typ, ok := x.seen[target]; !ok || (typ != tar.TypeReg && typ != tar.TypeRegA) {
		return entryError(hdr.Name, "hard link target %q is not a regular file earlier in the archive", hdr.Linkname)
	}
	if err := x.mkdirParent(name); err != nil {
		return err
	}
	return x.root.Link(target, name)
}

func (x *extractor) mkdirParent(name string) error {
	if dir := path.Dir(name); dir != "." {
		return x.root.MkdirAll(dir, 0o755)
	}
	return nil
}

// unwrapPathError drops the path from an *fs.PathError, which would name the host
// directory; the entry name is reported instead.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}
