package builder

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	platform "github.com/micro/platform"
	"github.com/micro/platform/archive"
)

// StoreArchive streams an uploaded source archive to disk while hashing it, refuses it
// when it is larger than MaxArchiveBytes or does not extract cleanly (EINVALID naming the
// offending entry), and keeps it as Dir/archives/<sha256>.tar.gz. It returns the hex
// sha256, the value of Source.Archive. Storing the same content again is a no-op.
func (b *Builder) StoreArchive(r io.Reader) (digest string, err error) {
	dir := filepath.Join(b.opts.Dir, "archives")
	tmp, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return "", fmt.Errorf("store archive: %w", err)
	}
	defer func() {
		tmp.Close()
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, b.opts.MaxArchiveBytes+1))
	if err != nil {
		return "", fmt.Errorf("store archive: %w", err)
	}
	if n > b.opts.MaxArchiveBytes {
		return "", platform.Errorf(platform.EINVALID, "archive is larger than the %s limit", archive.FormatSize(b.opts.MaxArchiveBytes)).
			WithHint("leave build outputs, vendored binaries and data out of the upload by listing them in %s", archive.IgnoreFile)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("store archive: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("store archive: %w", err)
	}
	scratch, err := os.MkdirTemp(filepath.Join(b.opts.Dir, "work"), "validate-")
	if err != nil {
		return "", fmt.Errorf("store archive: %w", err)
	}
	defer os.RemoveAll(scratch)
	if err := archive.Extract(tmp, filepath.Join(scratch, "src"), b.opts.ExtractLimits); err != nil {
		return "", err
	}
	digest = hex.EncodeToString(h.Sum(nil))
	final := b.archivePath(digest)
	if _, statErr := os.Stat(final); statErr == nil {
		os.Remove(tmp.Name())
		return digest, nil
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("store archive: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", fmt.Errorf("store archive: %w", err)
	}
	b.log.Info("stored source archive", "digest", digest, "bytes", n)
	return digest, nil
}

// HasArchive reports whether an archive with the given digest is stored.
func (b *Builder) HasArchive(digest string) bool {
	if !isDigest(digest) {
		return false
	}
	_, err := os.Stat(b.archivePath(digest))
	return err == nil
}

func (b *Builder) archivePath(digest string) string {
	return filepath.Join(b.opts.Dir, "archives", digest+".tar.gz")
}

// extractStored unpacks a stored archive into dest.
func (b *Builder) extractStored(digest, dest string) error {
	f, err := os.Open(b.archivePath(digest))
	if errors.Is(err, fs.ErrNotExist) {
		return platform.Errorf(platform.EINVALID, "source archive %s is not stored on the server", shortDigest(digest)).
			WithHint("upload the source again and deploy the new archive")
	}
	if err != nil {
		return fmt.Errorf("open archive: %w", err)
	}
	defer f.Close()
	return archive.Extract(f, dest, b.opts.ExtractLimits)
}

// isDigest reports whether s is a lower-case hex sha256.
func isDigest(s string) bool {
	if len(s) != sha256.Size*2 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
