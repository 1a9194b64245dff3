package registry

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	upstream "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// diskBlobs is upstream's disk blob handler with a durable Put: the upload is written
// aside, synced, and renamed into place, and removed if it fails (a digest mismatch
// included), where upstream's leaves the partial file behind and does not sync.
type diskBlobs struct {
	upstream.BlobHandler
	stat upstream.BlobStatHandler
	del  upstream.BlobDeleteHandler
	dir  string
}

var (
	_ upstream.BlobStatHandler   = (*diskBlobs)(nil)
	_ upstream.BlobPutHandler    = (*diskBlobs)(nil)
	_ upstream.BlobDeleteHandler = (*diskBlobs)(nil)
)

func newDiskBlobs(dir string) (*diskBlobs, error) {
	h := upstream.NewDiskBlobHandler(dir)
	stat, ok1 := h.(upstream.BlobStatHandler)
	del, ok2 := h.(upstream.BlobDeleteHandler)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("upstream disk blob handler lacks Stat or Delete")
	}
	return &diskBlobs{BlobHandler: h, stat: stat, del: del, dir: dir}, nil
}

// Stat implements upstream.BlobStatHandler.
func (d *diskBlobs) Stat(ctx context.Context, repo string, h v1.Hash) (int64, error) {
	return d.stat.Stat(ctx, repo, h)
}

// Delete implements upstream.BlobDeleteHandler.
func (d *diskBlobs) Delete(ctx context.Context, repo string, h v1.Hash) error {
	return d.del.Delete(ctx, repo, h)
}

// Put implements upstream.BlobPutHandler. rc verifies size and digest as it is read;
// its error is returned as is, so upstream answers DIGEST_INVALID.
func (d *diskBlobs) Put(_ context.Context, _ string, h v1.Hash, rc io.ReadCloser) (err error) {
	defer rc.Close()
	final := filepath.Join(d.dir, h.Algorithm, h.Hex)
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(final), ".upload-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = io.Copy(f, rc); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), final)
}
