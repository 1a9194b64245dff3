package archive

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	platform "github.com/micro/platform"
)

// vcsDirs are directories Pack never includes.
var vcsDirs = map[string]bool{".git": true, ".hg": true, ".svn": true, ".bzr": true, ".jj": true}

// epoch is the modification time of every packed entry.
var epoch = time.Unix(0, 0).UTC()

// Pack writes dir as a gzip-compressed tar to w. Entries are in lexical order with zeroed
// times, owners and normalised modes (0755 for directories and executables, 0644
// otherwise), so packing the same tree twice gives byte-identical output. Version control
// directories and paths matched by .platformignore are left out (see the package doc).
// Symlinks are kept when their target stays inside dir and refused otherwise; sockets,
// devices and fifos are refused. Refusals are EINVALID naming the path.
func Pack(dir string, w io.Writer) error {
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	if !info.IsDir() {
		return platform.Errorf(platform.EINVALID, "%s is not a directory", dir)
	}
	rules, err := readIgnoreFile(filepath.Join(dir, IgnoreFile))
	if err != nil {
		return err
	}
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	tw := tar.NewWriter(zw)
	p := &packer{dir: dir, rules: rules, tw: tw}
	if err := filepath.WalkDir(dir, p.visit); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	return nil
}

// packer holds the state of one Pack.
type packer struct {
	dir   string
	rules []ignoreRule
	tw    *tar.Writer
}

// visit is the filepath.WalkDir callback; WalkDir's lexical order makes output stable.
func (p *packer) visit(file string, d fs.DirEntry, err error) error {
	if err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	rel, err := filepath.Rel(p.dir, file)
	if err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	if rel == "." {
		return nil
	}
	rel = filepath.ToSlash(rel)
	if d.IsDir() && vcsDirs[d.Name()] || ignored(p.rules, rel, d.IsDir()) {
		if d.IsDir() {
			return filepath.SkipDir
		}
		return nil
	}
	hdr := &tar.Header{Name: rel, ModTime: epoch}
	switch t := d.Type(); {
	case t.IsDir():
		hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, rel+"/", 0o755
	case t&fs.ModeSymlink != 0:
		target, err := os.Readlink(file)
		if err != nil {
			return fmt.Errorf("pack: %w", err)
		}
		if err := checkPackedLink(rel, target); err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, filepath.ToSlash(target), 0o777
	case t.IsRegular():
		return p.writeFile(file, hdr)
	default:
		return platform.Errorf(platform.EINVALID, "%s is a %s; only regular files, directories and symlinks can be packed", rel, kind(t)).
			WithHint("list it in %s", IgnoreFile)
	}
	if err := p.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("pack %s: %w", rel, err)
	}
	return nil
}

// writeFile writes a regular file's header and content.
func (p *packer) writeFile(file string, hdr *tar.Header) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	hdr.Typeflag, hdr.Size, hdr.Mode = tar.TypeReg, info.Size(), 0o644
	if info.Mode()&0o111 != 0 {
		hdr.Mode = 0o755
	}
	if err := p.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("pack %s: %w", hdr.Name, err)
	}
	// A file growing while it is read would corrupt the archive; copy exactly Size bytes.
	if _, err := io.CopyN(p.tw, f, info.Size()); err != nil {
		return fmt.Errorf("pack %s: %w", hdr.Name, err)
	}
	return nil
}

// checkPackedLink refuses a symlink at rel whose target is absolute or leaves the root.
func checkPackedLink(rel, target string) error {
	slashed := filepath.ToSlash(target)
	if filepath.IsAbs(target) || strings.HasPrefix(slashed, "/") {
		return platform.Errorf(platform.EINVALID, "symlink %s points to the absolute path %s; only relative links inside the directory can be packed", rel, target)
	}
	resolved := path.Join(path.Dir(rel), slashed)
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return platform.Errorf(platform.EINVALID, "symlink %s points to %s, outside the directory being packed", rel, target).
			WithHint("copy the file into the service directory or list the link in %s", IgnoreFile)
	}
	return nil
}

func kind(t fs.FileMode) string {
	switch {
	case t&fs.ModeSocket != 0:
		return "socket"
	case t&fs.ModeNamedPipe != 0:
		return "named pipe"
	case t&fs.ModeDevice != 0:
		return "device"
	default:
		return "special file"
	}
}

// ignoreRule is one parsed line of an ignore file.
type ignoreRule struct {
	pattern string
	dirOnly bool // pattern ended with "/"
	full    bool // pattern contained "/": matched against the whole path
}

// readIgnoreFile parses an ignore file; a missing file means no rules. Every bad pattern
// is reported at once.
func readIgnoreFile(name string) ([]ignoreRule, error) {
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	defer f.Close()
	var (
		rules []ignoreRule
		bad   []string
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{pattern: line}
		if strings.HasSuffix(r.pattern, "/") {
			r.dirOnly, r.pattern = true, strings.TrimRight(r.pattern, "/")
		}
		if strings.Contains(r.pattern, "/") {
			r.full, r.pattern = true, strings.TrimPrefix(r.pattern, "/")
		}
		if _, err := path.Match(r.pattern, ""); err != nil || r.pattern == "" {
			bad = append(bad, fmt.Sprintf("line %d: bad pattern %q", n, line))
			continue
		}
		rules = append(rules, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("pack: read %s: %w", IgnoreFile, err)
	}
	if len(bad) > 0 {
		return nil, platform.Errorf(platform.EINVALID, "%s: %s", IgnoreFile, strings.Join(bad, "; "))
	}
	return rules, nil
}

// ignored reports whether the slash-separated relative path rel matches a rule.
func ignored(rules []ignoreRule, rel string, isDir bool) bool {
	for _, r := range rules {
		if r.dirOnly && !isDir {
			continue
		}
		subject := path.Base(rel)
		if r.full {
			subject = rel
		}
		if ok, _ := path.Match(r.pattern, subject); ok {
			return true
		}
	}
	return false
}
