// Package registry is the platform's own OCI registry: the embedded default that the
// image builder (package oci) pushes to and a cluster pulls from, and the registry the
// tests run against.
//
// It serves go-containerregistry's pkg/registry (the OCI distribution API) with two
// additions that make it fit to hold a platform's images:
//
//   - Persistence. Blobs live on disk under Dir/blobs, each upload written aside,
//     synced and renamed into place (and removed if its digest is wrong). The
//     upstream handler keeps manifests in memory only, so every manifest accepted is
//     also written to disk (its bytes as a blob, and one small index file per tag or
//     digest under Dir/manifests) and replayed into the handler by New: nothing is
//     lost on restart.
//   - Authentication (HTTP basic auth), with credentials derived from the platform's
//     secret (Options.Secret), so none is stored:
//     the push credential (PushCredential) may do everything; it stays in the server.
//     A namespace's pull credential (PullCredential) may only read repositories
//     <prefix>/<namespace>/<service> of that namespace: it is what a cluster gets as
//     that namespace's image pull secret, and it neither pushes nor reads another
//     namespace's images nor lists the catalog.
//     Anonymous clients may read only from a loopback address, and only while
//     Options.RequirePullAuth is false: a registry on 127.0.0.1 serves the local
//     machine's pulls without a secret; from any other address pulls need a credential.
//
// # Layout under Options.Dir
//
//	blobs/sha256/<hex>              layers, configs and manifests, by digest
//	manifests/<repo>/<reference>    one JSON file per tag or digest: {"digest", "media_type"}
//
// The repository's slashes are written as '+' (which no repository name contains), so
// one repository is one directory.
package registry

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	upstream "github.com/google/go-containerregistry/pkg/registry"

	platform "github.com/micro/platform"
)

// DefaultAddr is where Start listens when Options.Addr is empty.
const DefaultAddr = "127.0.0.1:5000"

// maxManifestBytes bounds one manifest; real ones are a few kilobytes.
const maxManifestBytes = 4 << 20

// PushUsername is the user name of the push credential; a pull credential's is
// PullUsernamePrefix + namespace.
const (
	PushUsername       = "platform"
	PullUsernamePrefix = "pull-"
)

// Credential is a user name and password for HTTP basic auth.
type Credential struct {
	Username, Password string
}

// PushCredential is the credential that may push, derived from the platform's secret.
func PushCredential(secret []byte) Credential {
	return Credential{Username: PushUsername, Password: derive(secret, "push")}
}

// PullCredential is the credential that may pull the images of one namespace only,
// derived from the platform's secret.
func PullCredential(secret []byte, namespace string) Credential {
	return Credential{Username: PullUsernamePrefix + namespace, Password: derive(secret, "pull\x00"+namespace)}
}

func derive(secret []byte, purpose string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("micro-platform oci registry v1\x00" + purpose))
	return hex.EncodeToString(mac.Sum(nil))
}

// Options configure a Registry.
type Options struct {
	// Dir holds blobs and manifests. Required.
	Dir string
	// Addr is the listen address of Start. Empty means DefaultAddr.
	Addr string
	// Secret is what credentials are derived from (see PushCredential and
	// PullCredential): the server's secret key. Required, at least 16 bytes.
	Secret []byte
	// RequirePullAuth makes pulls from loopback clients need the credential too. Pulls
	// from any other address always need it.
	RequirePullAuth bool
	// Logger receives request logs (at debug level) and replay warnings. Nil discards them.
	Logger *slog.Logger
}

// Registry is a persisted, authenticated OCI registry. It is an http.Handler serving
// /v2/, and Start runs it on its own address. It is safe for concurrent use.
type Registry struct {
	opts     Options
	push     Credential
	log      *slog.Logger
	handler  http.Handler // upstream, unauthenticated, manifests in memory
	blobs    string
	index    string
	mu       sync.Mutex // serialises manifest writes with their persistence
	lnMu     sync.Mutex
	listener net.Listener
}

// New creates the directory layout under opts.Dir and replays the stored manifests. It
// returns EINVALID for missing options.
func New(opts Options) (*Registry, error) {
	var problems []string
	if opts.Dir == "" {
		problems = append(problems, "Dir is required")
	}
	if len(opts.Secret) < 16 {
		problems = append(problems, "a Secret of at least 16 bytes is required: the registry never accepts anonymous pushes")
	}
	if len(problems) > 0 {
		return nil, platform.Errorf(platform.EINVALID, "registry: %s", strings.Join(problems, "; "))
	}
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Registry{
		opts:  opts,
		push:  PushCredential(opts.Secret),
		log:   opts.Logger,
		blobs: filepath.Join(opts.Dir, "blobs"),
		index: filepath.Join(opts.Dir, "manifests"),
	}
	for _, d := range []string{r.blobs, r.index} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
	}
	blobs, err := newDiskBlobs(r.blobs)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	r.handler = upstream.New(
		upstream.WithBlobHandler(blobs),
		upstream.Logger(slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug)),
	)
	if err := r.replay(); err != nil {
		return nil, fmt.Errorf("registry: replay manifests: %w", err)
	}
	return r, nil
}

// Listen binds Options.Addr, if not bound yet, and returns the address (useful with
// port 0). Start calls it.
func (r *Registry) Listen() (net.Addr, error) {
	r.lnMu.Lock()
	defer r.lnMu.Unlock()
	if r.listener == nil {
		ln, err := net.Listen("tcp", r.opts.Addr)
		if err != nil {
			return nil, platform.Errorf(platform.EUNAVAILABLE, "registry: listen on %s: %v", r.opts.Addr, err)
		}
		r.listener = ln
	}
	return r.listener.Addr(), nil
}

// Start serves the registry on Options.Addr until ctx ends, then shuts down gracefully
// (5 s for requests in flight). It returns nil after a shutdown caused by ctx.
func (r *Registry) Start(ctx context.Context) error {
	addr, err := r.Listen()
	if err != nil {
		return err
	}
	conns := &newConns{m: map[net.Conn]bool{}}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, ConnState: conns.track}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(r.listener) }()
	r.log.Info("registry listening", "addr", addr.String())
	select {
	case err := <-errc:
		return fmt.Errorf("registry: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go conns.closeAll() // Shutdown would wait 5 s for connections that never sent a request
	if err := srv.Shutdown(shutdown); err != nil {
		srv.Close()
	}
	r.lnMu.Lock()
	r.listener = nil
	r.lnMu.Unlock()
	return nil
}

// newConns tracks connections that have not sent a request yet: a client that opened
// one and gave up (go-containerregistry tries HTTPS first) would otherwise hold
// Shutdown for 5 s.
type newConns struct {
	mu sync.Mutex
	m  map[net.Conn]bool
}

func (c *newConns) track(conn net.Conn, st http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st == http.StateNew {
		c.m[conn] = true
	} else {
		delete(c.m, conn)
	}
}

func (c *newConns) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for conn := range c.m {
		conn.Close()
	}
}

// ServeHTTP implements http.Handler: authentication, then the distribution API, with
// manifest writes persisted before they are acknowledged.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !r.authorized(req) {
		w.Header().Set("WWW-Authenticate", `Basic realm="micro-platform registry"`)
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return
	}
	repo, ref, ok := manifestPath(req.URL.Path)
	if !ok || (req.Method != http.MethodPut && req.Method != http.MethodDelete) {
		r.handler.ServeHTTP(w, req)
		return
	}
	if !validRepo.MatchString(repo) || !validRef(ref) {
		writeError(w, http.StatusBadRequest, "NAME_INVALID", "invalid repository name or reference")
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.Method == http.MethodPut {
		r.putManifest(w, req, repo, ref)
	} else {
		r.deleteManifest(w, req, repo, ref)
	}
}

// authorized reports whether req may proceed: the push credential may do anything; a
// namespace's pull credential may read that namespace's repositories; anonymous
// clients may read from loopback unless RequirePullAuth. A wrong credential is refused
// even where none is needed.
func (r *Registry) authorized(req *http.Request) bool {
	read := req.Method == http.MethodGet || req.Method == http.MethodHead
	user, pass, given := req.BasicAuth()
	if !given {
		return read && !r.opts.RequirePullAuth && fromLoopback(req)
	}
	if same(user, r.push.Username) {
		return same(pass, r.push.Password)
	}
	ns, ok := strings.CutPrefix(user, PullUsernamePrefix)
	if !ok || !same(pass, PullCredential(r.opts.Secret, ns).Password) {
		return false
	}
	return read && (req.URL.Path == "/v2/" || repoNamespace(req.URL.Path) == ns)
}

// repoNamespace returns the namespace of the repository a /v2/ path names: the element
// before the service's, as the image builder pushes to <prefix>/<namespace>/<service>.
// It returns "" for paths that name no repository (the catalog).
func repoNamespace(p string) string {
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return ""
	}
	for _, kind := range []string{"/manifests/", "/blobs/", "/tags/", "/referrers/"} {
		if i := strings.LastIndex(rest, kind); i > 0 {
			elems := strings.Split(rest[:i], "/")
			if len(elems) < 2 {
				return ""
			}
			return elems[len(elems)-2]
		}
	}
	return ""
}

func same(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func fromLoopback(req *http.Request) bool {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// putManifest hands the manifest to the upstream handler and, once accepted, stores it
// under both the reference and its digest (as upstream does in memory).
func (r *Registry) putManifest(w http.ResponseWriter, req *http.Request, repo, ref string) {
	body, err := io.ReadAll(io.LimitReader(req.Body, maxManifestBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", "read manifest: "+err.Error())
		return
	}
	if len(body) > maxManifestBytes {
		writeError(w, http.StatusRequestEntityTooLarge, "MANIFEST_INVALID", "manifest larger than 4 MiB")
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	r.handler.ServeHTTP(rec, req)
	if rec.Code == http.StatusCreated {
		digest, _, _ := v1.SHA256(bytes.NewReader(body))
		if err := r.persist(repo, ref, digest, req.Header.Get("Content-Type"), body); err != nil {
			r.log.Error("registry: persist manifest", "repo", repo, "ref", ref, "err", err)
			writeError(w, http.StatusInternalServerError, "UNKNOWN", "could not store the manifest")
			return
		}
	}
	copyResponse(w, rec)
}

// deleteManifest deletes one reference, in memory and on disk.
func (r *Registry) deleteManifest(w http.ResponseWriter, req *http.Request, repo, ref string) {
	rec := httptest.NewRecorder()
	r.handler.ServeHTTP(rec, req)
	if rec.Code == http.StatusAccepted {
		if err := os.Remove(r.indexFile(repo, ref)); err != nil && !errors.Is(err, os.ErrNotExist) {
			r.log.Error("registry: remove manifest", "repo", repo, "ref", ref, "err", err)
		}
	}
	copyResponse(w, rec)
}

// indexEntry is the content of one file under manifests/.
type indexEntry struct {
	Digest    string `json:"digest"`
	MediaType string `json:"media_type"`
}

// persist writes the manifest bytes as a blob and an index file for ref and for the
// digest, each atomically (written aside, synced, renamed).
func (r *Registry) persist(repo, ref string, digest v1.Hash, mediaType string, body []byte) error {
	blob := filepath.Join(r.blobs, digest.Algorithm, digest.Hex)
	if _, err := os.Stat(blob); errors.Is(err, os.ErrNotExist) {
		if err := writeAtomic(blob, body); err != nil {
			return err
		}
	}
	entry, _ := json.Marshal(indexEntry{Digest: digest.String(), MediaType: mediaType})
	for _, key := range uniq(ref, digest.String()) {
		if err := writeAtomic(r.indexFile(repo, key), entry); err != nil {
			return err
		}
	}
	return nil
}

func (r *Registry) indexFile(repo, ref string) string {
	return filepath.Join(r.index, strings.ReplaceAll(repo, "/", "+"), ref)
}

// replay puts every stored manifest back into the upstream handler: images before
// indexes, since an index is accepted only once its manifests are there. An entry whose
// blob is gone is skipped with a warning.
func (r *Registry) replay() error {
	repos, err := os.ReadDir(r.index)
	if err != nil {
		return err
	}
	type stored struct {
		repo, ref string
		entry     indexEntry
	}
	var all []stored
	for _, d := range repos {
		if !d.IsDir() {
			continue
		}
		refs, err := os.ReadDir(filepath.Join(r.index, d.Name()))
		if err != nil {
			return err
		}
		repo := strings.ReplaceAll(d.Name(), "+", "/")
		for _, f := range refs {
			if strings.HasPrefix(f.Name(), ".tmp-") {
				continue
			}
			data, err := os.ReadFile(filepath.Join(r.index, d.Name(), f.Name()))
			if err != nil {
				return err
			}
			var e indexEntry
			if err := json.Unmarshal(data, &e); err != nil {
				r.log.Warn("registry: unreadable manifest index entry skipped", "repo", repo, "ref", f.Name(), "err", err)
				continue
			}
			all = append(all, stored{repo, f.Name(), e})
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		return !types.MediaType(all[i].entry.MediaType).IsIndex() && types.MediaType(all[j].entry.MediaType).IsIndex()
	})
	for _, s := range all {
		h, err := v1.NewHash(s.entry.Digest)
		if err != nil {
			r.log.Warn("registry: bad digest in manifest index skipped", "repo", s.repo, "ref", s.ref, "digest", s.entry.Digest)
			continue
		}
		body, err := os.ReadFile(filepath.Join(r.blobs, h.Algorithm, h.Hex))
		if err != nil {
			r.log.Warn("registry: manifest blob missing, reference skipped", "repo", s.repo, "ref", s.ref, "err", err)
			continue
		}
		req := httptest.NewRequest(http.MethodPut, "/v2/"+s.repo+"/manifests/"+s.ref, bytes.NewReader(body))
		req.Header.Set("Content-Type", s.entry.MediaType)
		rec := httptest.NewRecorder()
		r.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			r.log.Warn("registry: stored manifest refused on replay", "repo", s.repo, "ref", s.ref, "status", rec.Code, "body", rec.Body.String())
		}
	}
	return nil
}

// manifestPath splits /v2/<repo>/manifests/<ref>.
func manifestPath(p string) (repo, ref string, ok bool) {
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndex(rest, "/manifests/")
	if i <= 0 {
		return "", "", false
	}
	return rest[:i], rest[i+len("/manifests/"):], true
}

var (
	validRepo = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	validTag  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
)

func validRef(ref string) bool {
	if validTag.MatchString(ref) {
		return true
	}
	_, err := v1.NewHash(ref)
	return err == nil
}

func uniq(a, b string) []string {
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}

// writeAtomic writes data to path through a synced temporary file and a rename, so a
// crash leaves either the old file or the new one.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// writeError writes an error in the distribution API's format.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]string{{"code": code, "message": message}},
	})
}
