package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
)

// Shared header values; net/http never modifies them, so one slice serves every response.
var jsonContentType = []string{"application/json"}

// emptyBody stands in for an empty request body, as go-micro's own gateway does.
var emptyBody = []byte("{}")

// maxPooledBuffer keeps an occasional large body from pinning memory in the pool.
const maxPooledBuffer = 64 << 10

// statusClientClosed is logged and metered for requests whose client went away before
// the answer (nginx's convention); the client never sees it.
const statusClientClosed = 499

// buffer is a pooled request body buffer.
type buffer struct{ b []byte }

// statusError gives an error an HTTP status that its code alone does not imply.
type statusError struct {
	status int
	err    *platform.Error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

var (
	errMethod = &statusError{http.StatusMethodNotAllowed,
		platform.Errorf(platform.EINVALID, "the gateway only takes POST").WithHint("POST a JSON body to /api/{service}/{Type.Method}")}
	errNoToken = platform.Errorf(platform.EUNAUTHENTICATED, "no bearer token").
			WithHint("send `Authorization: Bearer <token>`; create a token with `platform tokens create`")
	errBadJSON = platform.Errorf(platform.EINVALID, "request body is not valid JSON").
			WithHint("send a JSON object, e.g. '{\"name\":\"Alice\"}'")
)

// target is who a request was for, known once it is authorised; until then requests are
// metered to no namespace, so an outsider cannot add to a tenant's usage.
type target struct {
	ns, service string
	// org owns ns (the authorised token's): usage is billed to it.
	org        string
	authorized bool
	// egress is the bytes of the response body sent.
	egress int64
	// throttled calls were refused by the organisation's rate limit: not billed.
	throttled bool
	// forwardedIn calls came from another region's gateway, which bills them.
	forwardedIn bool
	// forwarded calls were served by another region's gateway, which meters them for
	// usage; here they count only in the metrics.
	forwarded bool
}

// ServeHTTP serves POST /api/{service}/{Type.Method}.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := g.opts.Clock.Now()
	tgt, err := g.serve(w, r)
	status := http.StatusOK
	if err != nil {
		status = g.writeError(w, r, err)
	}
	g.meter.record(tgt, status, start, g.opts.Clock.Now().Sub(start))
}

// serve handles one request up to writing a successful response; errors are written by
// the caller.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) (target, error) {
	var tgt target
	if r.Method != http.MethodPost {
		w.Header()["Allow"] = []string{http.MethodPost}
		return tgt, errMethod
	}
	secret := bearer(r)
	if secret == "" {
		return tgt, errNoToken
	}
	tok, err := g.opts.Auth.Authenticate(r.Context(), secret)
	if err != nil {
		return tgt, err
	}
	service, endpoint, ns, err := g.route(r)
	if err != nil {
		return tgt, err
	}
	ctx := platform.NewContextWithToken(r.Context(), tok)
	if err := g.policy.Authorize(ctx, authz.ServiceCall, ns); err != nil {
		g.denials.record(tok, ns, service, r.RemoteAddr, err)
		return tgt, err
	}
	tgt = target{ns: ns, service: service, org: cmp.Or(tok.Org, platform.DefaultOrg), authorized: true,
		forwardedIn: r.Header.Get(HeaderForwardedBy) != ""}
	if !tok.AllowsTool(service, endpoint) {
		err := platform.Errorf(platform.EFORBIDDEN, "this token may not call %s", platform.ToolName(service, endpoint)).
			WithHint("its tools are narrowed (`platform tokens list` shows them); use a token that allows this tool")
		g.denials.record(tok, ns, service, r.RemoteAddr, err)
		return tgt, err
	}
	if err := g.limiter.allow(tgt.org); err != nil {
		tgt.throttled = true
		return tgt, err
	}
	tgt.forwarded, tgt.egress, err = g.call(ctx, w, r, platform.CallRequest{
		Namespace: ns,
		Service:   service,
		Endpoint:  endpoint,
		Version:   firstHeader(r, HeaderVersion),
		Timeout:   g.opts.Timeout,
		Scoped:    true,
		Scopes:    tok.Scopes,
	})
	return tgt, err
}

// call reads the body into a pooled buffer, makes the call (or forwards it to another
// region, reporting true) and writes the answer, reporting the bytes of its body.
func (g *Gateway) call(ctx context.Context, w http.ResponseWriter, r *http.Request, req platform.CallRequest) (bool, int64, error) {
	buf := g.bufs.Get().(*buffer)
	body, err := readBody(r, buf.b, g.opts.MaxBodyBytes)
	buf.b = body
	recycle := true
	defer func() {
		if recycle && cap(buf.b) <= maxPooledBuffer {
			g.bufs.Put(buf)
		}
	}()
	if err != nil {
		return false, 0, err
	}
	switch {
	case len(body) == 0:
		req.Body = emptyBody
	case !json.Valid(body):
		return false, 0, errBadJSON
	default:
		req.Body = body
	}
	// A service placed only in other regions goes straight to them, without asking this
	// region's registry first.
	if g.forwardable(r, nil) && !g.opts.Router.Local(req.Namespace, req.Service) {
		if ok, ferr := g.forward(ctx, w, r, req, req.Body); ok {
			return true, 0, ferr
		}
	}
	resp, err := g.opts.Mesh.Call(ctx, req)
	if err != nil && g.forwardable(r, err) {
		if ok, ferr := g.forward(ctx, w, r, req, req.Body); ok {
			return true, 0, ferr
		}
	}
	if err != nil && g.opts.Router != nil && platform.IsNotFound(err) && !g.opts.Router.Ready() {
		err = errStarting(g.opts.Region)
	}
	if err != nil {
		// A call that timed out or was abandoned may still be sending the body from a
		// goroutine of the RPC client; let the garbage collector have that buffer.
		recycle = platform.ErrorCode(err) != platform.ETIMEOUT && ctx.Err() == nil
		return false, 0, err
	}
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusOK)
	n, _ := w.Write(resp) // a client that went away is not the gateway's error
	return false, int64(n), nil
}

// readBody reads r's body into b, reusing its capacity, and fails with 413 beyond limit.
func readBody(r *http.Request, b []byte, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return b[:0], errTooLarge(limit)
	}
	b = b[:0]
	if n := int(r.ContentLength) + 1; r.ContentLength > 0 && cap(b) < n {
		b = make([]byte, 0, n)
	} else if cap(b) == 0 {
		b = make([]byte, 0, 512)
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if int64(len(b)) > limit {
			return b, errTooLarge(limit)
		}
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return b, &statusError{http.StatusBadRequest, platform.Errorf(platform.EINVALID, "read request body: %v", err)}
		}
	}
}

func errTooLarge(limit int64) error {
	return &statusError{http.StatusRequestEntityTooLarge,
		platform.Errorf(platform.EINVALID, "request body is larger than %d bytes", limit)}
}

// route returns the service, endpoint and namespace of r, reporting every problem with
// them at once.
func (g *Gateway) route(r *http.Request) (service, endpoint, ns string, err error) {
	var problems []string
	rest, ok := strings.CutPrefix(r.URL.Path, pathPrefix)
	service, endpoint, ok2 := strings.Cut(rest, "/")
	switch {
	case !ok || !ok2:
		problems = append(problems, fmt.Sprintf("path %q is not /api/{service}/{Type.Method}", r.URL.Path))
	default:
		if err := validateName("service", service); err != nil {
			problems = append(problems, platform.ErrorMessage(err))
		}
		if !validEndpoint(endpoint) {
			problems = append(problems, fmt.Sprintf("invalid endpoint %q: use Type.Method, e.g. Helloworld.Call", endpoint))
		}
	}
	ns, fromHost := g.namespace(r)
	switch {
	case ns == "" && g.domain == "":
		problems = append(problems, "no namespace: set the "+HeaderNamespace+" header")
	case ns == "":
		problems = append(problems, fmt.Sprintf("no namespace: set the %s header or call NAMESPACE%s", HeaderNamespace, g.domain))
	default:
		if err := validateName("namespace", ns); err != nil {
			msg := platform.ErrorMessage(err)
			if fromHost {
				msg += " (from the host name)"
			}
			problems = append(problems, msg)
		}
	}
	if len(problems) > 0 {
		return "", "", "", platform.Errorf(platform.EINVALID, "%s", strings.Join(problems, "; ")).
			WithHint("POST a JSON body to /api/{service}/{Type.Method} with the %s header", HeaderNamespace)
	}
	return service, endpoint, ns, nil
}

// namespace returns the Micro-Namespace header, else the host prefix under Domain.
// Namespace returns the namespace a request is for: its Micro-Namespace header, else
// the host prefix under Options.Domain; "" when it names none.
func (g *Gateway) Namespace(r *http.Request) string {
	ns, _ := g.namespace(r)
	return ns
}

// Authorize applies the gateway's policy: whether the token in ctx may do action in ns,
// with the organisation of ns from the authenticator's cache.
func (g *Gateway) Authorize(ctx context.Context, action authz.Action, ns string) error {
	return g.policy.Authorize(ctx, action, ns)
}

func (g *Gateway) namespace(r *http.Request) (ns string, fromHost bool) {
	if v := firstHeader(r, HeaderNamespace); v != "" {
		return v, false
	}
	if g.domain == "" {
		return "", false
	}
	host := r.Host
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	if len(host) <= len(g.domain) || !strings.EqualFold(host[len(host)-len(g.domain):], g.domain) {
		return "", false
	}
	prefix := host[:len(host)-len(g.domain)]
	if strings.Contains(prefix, ".") {
		return "", false
	}
	return strings.ToLower(prefix), true
}

// validateName is platform.ValidateName with a fast path: the regular expression costs
// more than the rest of routing, so names are checked by hand first and only a name that
// fails is handed to ValidateName, for its error. TestValidateNameAgrees keeps the two
// in step.
func validateName(kind, name string) error {
	if isDNSLabel(name) {
		return nil
	}
	return platform.ValidateName(kind, name)
}

// isDNSLabel reports whether s matches ^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$.
func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > 40 || s[0] < 'a' || s[0] > 'z' || s[len(s)-1] == '-' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// validEndpoint reports whether s is Type.Method with Go identifiers on both sides.
func validEndpoint(s string) bool {
	typ, method, ok := strings.Cut(s, ".")
	return ok && isIdent(typ) && isIdent(method)
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// bearer returns the token of an `Authorization: Bearer` header, or "".
func bearer(r *http.Request) string {
	v := firstHeader(r, "Authorization")
	const scheme = "Bearer "
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return ""
	}
	return strings.TrimSpace(v[len(scheme):])
}

// firstHeader reads a header by its canonical name without Header.Get's canonicalising.
func firstHeader(r *http.Request, canonicalKey string) string {
	if v := r.Header[canonicalKey]; len(v) > 0 {
		return v[0]
	}
	return ""
}
