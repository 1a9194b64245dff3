// Package archive defines the source archive the CLI uploads and the server builds from:
// a gzip-compressed tar of one service directory.
//
// Pack writes an archive deterministically (sorted entries, zeroed times and owners,
// normalised modes), so the same source always has the same sha256 and the server can
// reuse the artifact of an earlier build of it. Extract unpacks an untrusted archive
// through an os.Root, refusing anything that could write or point outside the
// destination, and stops as soon as the archive grows past its Limits.
//
// # Ignore rules
//
// Pack always skips version control directories (.git, .hg, .svn, .bzr, .jj) and reads
// an optional .platformignore file at the root of the packed directory. Each non-blank
// line that does not start with '#' is a path.Match pattern:
//
//   - a pattern without a slash matches the base name of a file or directory at any
//     depth ("*.log", "node_modules");
//   - a pattern with a slash matches the whole slash-separated path relative to the root;
//     a leading slash is ignored ("/bin", "docs/*.pdf");
//   - a trailing slash restricts the pattern to directories ("tmp/").
//
// An ignored directory is skipped with everything below it. Negation ("!") is not
// supported.
package archive

import (
	"fmt"
)

// IgnoreFile is the name of the optional ignore file read by Pack.
const IgnoreFile = ".platformignore"

// Limits bound what Extract accepts. A zero field takes its value from DefaultLimits.
type Limits struct {
	// MaxBytes bounds the compressed bytes read plus the uncompressed bytes produced.
	MaxBytes int64
	// MaxFiles bounds the number of entries (files, directories and links).
	MaxFiles int
}

// DefaultLimits returns the limits Extract applies to a zero Limits field.
func DefaultLimits() Limits {
	return Limits{MaxBytes: 256 << 20, MaxFiles: 20000}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = d.MaxFiles
	}
	return l
}

// FormatSize renders n bytes for people: "512 B", "12 KiB", "64 MiB", "1.5 GiB".
func FormatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	suffix := []string{"KiB", "MiB", "GiB", "TiB", "PiB"}[exp]
	if n%div == 0 || v >= 10 {
		return fmt.Sprintf("%.0f %s", v, suffix)
	}
	return fmt.Sprintf("%.1f %s", v, suffix)
}
