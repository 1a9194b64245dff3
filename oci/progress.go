package oci

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	platform "github.com/micro/platform"
)

// progressEvery is how often a push in progress writes a line to the build log.
const progressEvery = time.Second

// logProgress writes "pushing X of Y" lines at most every progressEvery, and the last
// state, until updates is closed.
func logProgress(updates <-chan v1.Update, log platform.LogWriter) {
	var last time.Time
	var latest v1.Update
	var pending bool
	for u := range updates {
		if u.Error != nil {
			continue
		}
		latest, pending = u, true
		if time.Since(last) >= progressEvery {
			log.WriteLine(fmt.Sprintf("pushing: %s of %s", formatBytes(u.Complete), formatBytes(u.Total)))
			last, pending = time.Now(), false
		}
	}
	if pending && latest.Total > 0 {
		log.WriteLine(fmt.Sprintf("pushing: %s of %s", formatBytes(latest.Complete), formatBytes(latest.Total)))
	}
}

// pushStats counts what one push really sent: bytes of blob data, the blobs committed
// and the manifests put.
type pushStats struct {
	mu        sync.Mutex
	n         int64
	blobs     map[string]bool
	manifests int
}

func (s *pushStats) add(n int64) {
	s.mu.Lock()
	s.n += n
	s.mu.Unlock()
}

func (s *pushStats) bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func (s *pushStats) uploaded(digest string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blobs[digest]
}

func (s *pushStats) blobCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.blobs)
}

func (s *pushStats) manifestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.manifests
}

// countingTransport records in stats the request bodies sent for blob uploads, the
// digests of blobs committed (PUT …/blobs/uploads/…?digest=) and the manifests put.
type countingTransport struct {
	inner http.RoundTripper
	stats *pushStats
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	p := req.URL.Path
	switch {
	case strings.Contains(p, "/blobs/uploads/") && (req.Method == http.MethodPatch || req.Method == http.MethodPut):
		if d := req.URL.Query().Get("digest"); d != "" && req.Method == http.MethodPut {
			t.stats.mu.Lock()
			if t.stats.blobs == nil {
				t.stats.blobs = map[string]bool{}
			}
			t.stats.blobs[d] = true
			t.stats.mu.Unlock()
		}
		if req.Body != nil && req.Body != http.NoBody {
			r2 := req.Clone(req.Context())
			r2.Body = &countingBody{ReadCloser: req.Body, stats: t.stats}
			req = r2
		}
	case strings.Contains(p, "/manifests/") && req.Method == http.MethodPut:
		t.stats.mu.Lock()
		t.stats.manifests++
		t.stats.mu.Unlock()
	}
	return t.inner.RoundTrip(req)
}

type countingBody struct {
	io.ReadCloser
	stats *pushStats
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.stats.add(int64(n))
	return n, err
}
