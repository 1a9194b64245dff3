package stripetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Recorder is an HTTP server in front of stripe-mock that records every request and adds
// the part of Stripe's behaviour that stripe-mock lacks and idempotency depends on:
//
//   - Idempotency keys. A POST with the key of one that succeeded is not executed again:
//     the first answer is replayed (with Idempotent-Replayed: true), or, when its method,
//     path or parameters differ from the first's, it is refused with an idempotency_error
//     (400). ExpireKeys forgets every key, as Stripe does after 24 hours.
//   - Objects. Customers, invoices and invoice items created through it are kept, with the
//     metadata sent, so that what an exporter looks up finds them: an invoice by id, the
//     invoices of a customer, the items of an invoice (lists are consistent at once, as
//     Stripe's are) and customers by metadata search (eventually consistent in Stripe: here
//     a customer becomes searchable only once the keys have expired, the worst case).
//     Finalising a draft invoice makes it open; finalising it again, or adding an item to a
//     finalised invoice, is refused (400) as by Stripe.
//   - Faults. Fail makes a later POST fail: before it reaches stripe-mock, or after it was
//     executed (its answer lost), which is what a crash or a dropped connection looks like.
//
// Every request that is executed goes to stripe-mock, which validates it against Stripe's
// OpenAPI spec; the recorded Status is stripe-mock's (or the overlay's refusal).
type Recorder struct {
	srv      *httptest.Server
	upstream string
	client   *http.Client

	mu       sync.Mutex
	requests []Request
	keys     map[string]*keyed
	objects  map[string]*Object
	order    []string // object ids, oldest first
	posts    int
	faults   map[int]bool // POST number → executed before failing
}

// Request is one request the Recorder received.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	// Form is the body of a POST.
	Form           url.Values
	IdempotencyKey string
	// Status is what the client got; 0 when the connection was dropped (Fail).
	Status int
	// Executed: the request reached "Stripe" (stripe-mock and the overlay); false for a
	// replayed or refused idempotent request and for a Fail before execution.
	Executed bool
	// Replayed: answered with the first answer of its idempotency key.
	Replayed bool
}

// Object is a customer, invoice or invoice item created through the Recorder.
type Object struct {
	// Type is "customer", "invoice" or "invoiceitem".
	Type string
	ID   string
	// Key is the idempotency key of the request that created it.
	Key string
	// JSON is the object as Stripe would return it now.
	JSON map[string]any
	// Searchable: search finds it (see ExpireKeys).
	searchable bool
}

// Str returns a string field of the object ("" when absent or not a string).
func (o *Object) Str(field string) string {
	s, _ := o.JSON[field].(string)
	return s
}

// Metadata returns the object's metadata.
func (o *Object) Metadata() map[string]string {
	out := map[string]string{}
	m, _ := o.JSON["metadata"].(map[string]any)
	for k, v := range m {
		out[k], _ = v.(string)
	}
	return out
}

type keyed struct {
	method, path string
	form         url.Values
	status       int
	header       http.Header
	body         []byte
}

// NewRecorder starts a Recorder in front of the stripe-mock at upstream (URL's answer);
// it stops with the test.
func NewRecorder(tb testing.TB, upstream string) *Recorder {
	tb.Helper()
	r := &Recorder{
		upstream: strings.TrimSuffix(upstream, "/"),
		client:   &http.Client{},
		keys:     map[string]*keyed{},
		objects:  map[string]*Object{},
		faults:   map[int]bool{},
	}
	r.srv = httptest.NewServer(r)
	tb.Cleanup(r.srv.Close)
	return r
}

// URL is the Recorder's base URL, for the client under test.
func (r *Recorder) URL() string { return r.srv.URL }

// Requests returns every request received so far, in order.
func (r *Recorder) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// Reset forgets the recorded requests (not the keys, objects or faults).
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = nil
}

// Objects returns the objects of a type ("customer", "invoice", "invoiceitem") created so
// far, oldest first, as copies.
func (r *Recorder) Objects(typ string) []Object {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Object
	for _, id := range r.order {
		if o := r.objects[id]; o.Type == typ {
			c := *o
			c.JSON = cloneJSON(o.JSON)
			out = append(out, c)
		}
	}
	return out
}

// ExpireKeys forgets every idempotency key, as Stripe does 24 hours after their first
// use, and makes every object searchable, as Stripe's search index has long caught up by
// then.
func (r *Recorder) ExpireKeys() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.keys)
	for _, o := range r.objects {
		o.searchable = true
	}
}

// Fail makes the nth POST from now on (1 the next) fail: the connection is closed without
// an answer, after the request was executed (executed: its answer is lost; its key
// remembers the answer) or before it reached Stripe.
func (r *Recorder) Fail(n int, executed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults[r.posts+n] = executed
}

func (r *Recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rec := Request{Method: req.Method, Path: req.URL.Path, Query: req.URL.Query(), IdempotencyKey: req.Header.Get("Idempotency-Key")}
	if req.Method == http.MethodPost {
		if rec.Form, err = url.ParseQuery(string(body)); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}

	r.mu.Lock()
	failAfter, failing := false, false
	if req.Method == http.MethodPost {
		r.posts++
		failAfter, failing = r.faults[r.posts]
		delete(r.faults, r.posts)
		if k := r.keys[rec.IdempotencyKey]; rec.IdempotencyKey != "" && k != nil {
			if k.method != req.Method || k.path != req.URL.Path || !reflect.DeepEqual(k.form, rec.Form) {
				rec.Status = http.StatusBadRequest
				r.requests = append(r.requests, rec)
				r.mu.Unlock()
				writeError(w, http.StatusBadRequest, "idempotency_error",
					"Keys for idempotent requests can only be used with the same parameters they were first used with.")
				return
			}
			rec.Replayed = true
			if failing { // the replay's answer is lost too
				r.requests = append(r.requests, rec)
				r.mu.Unlock()
				hangUp(w)
				return
			}
			rec.Status = k.status
			r.requests = append(r.requests, rec)
			r.mu.Unlock()
			maps.Copy(w.Header(), k.header)
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(k.status)
			_, _ = w.Write(k.body)
			return
		}
		if failing && !failAfter {
			r.requests = append(r.requests, rec)
			r.mu.Unlock()
			hangUp(w)
			return
		}
	}
	// Executed: stripe-mock validates it, the overlay applies it. The lock is held
	// throughout so that requests execute one at a time, in order.
	defer r.mu.Unlock()
	status, header, out, err := r.forward(req, body)
	if err != nil {
		rec.Status = http.StatusBadGateway
		r.requests = append(r.requests, rec)
		http.Error(w, "stripetest: stripe-mock: "+err.Error(), http.StatusBadGateway)
		return
	}
	if status < 300 {
		status, out = r.apply(&rec, status, out)
	}
	rec.Executed = true
	rec.Status = status
	r.requests = append(r.requests, rec)
	// Stripe keeps the answer of a request that executed; here, of one that succeeded.
	if req.Method == http.MethodPost && rec.IdempotencyKey != "" && status < 300 {
		r.keys[rec.IdempotencyKey] = &keyed{method: req.Method, path: req.URL.Path, form: rec.Form, status: status, header: header, body: out}
	}
	if failing {
		r.requests[len(r.requests)-1].Status = 0
		hangUp(w)
		return
	}
	maps.Copy(w.Header(), header)
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

func (r *Recorder) forward(req *http.Request, body []byte) (int, http.Header, []byte, error) {
	u := r.upstream + req.URL.Path
	if req.URL.RawQuery != "" {
		u += "?" + req.URL.RawQuery
	}
	up, err := http.NewRequestWithContext(req.Context(), req.Method, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	up.Header = req.Header.Clone()
	resp, err := r.client.Do(up)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	h := http.Header{}
	for _, k := range []string{"Content-Type", "Request-Id", "Stripe-Version"} {
		if v := resp.Header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	return resp.StatusCode, h, out, nil
}

var (
	finalizePath  = regexp.MustCompile(`^/v1/invoices/([^/]+)/finalize$`)
	objectPath    = regexp.MustCompile(`^/v1/(customers|invoices|invoiceitems)/([^/]+)$`)
	metadataQuery = regexp.MustCompile(`^metadata\['([^']*)'\]:'((?:[^'\\]|\\.)*)'$`)
	createPaths   = map[string]string{"/v1/customers": "customer", "/v1/invoices": "invoice", "/v1/invoiceitems": "invoiceitem"}
)

// apply gives stripe-mock's successful answer the state Stripe would have: r.mu is held.
func (r *Recorder) apply(rec *Request, status int, out []byte) (int, []byte) {
	switch rec.Method {
	case http.MethodPost:
		if typ, ok := createPaths[rec.Path]; ok {
			return r.create(rec, typ, out)
		}
		if m := finalizePath.FindStringSubmatch(rec.Path); m != nil {
			o := r.objects[m[1]]
			if o == nil {
				return status, out
			}
			if o.Str("status") != "draft" {
				return errorBody(http.StatusBadRequest, "invalid_request_error", "This invoice is already finalized, you can't re-finalize a non-draft invoice.")
			}
			o.JSON["status"] = "open"
			o.JSON["auto_advance"] = rec.Form.Get("auto_advance") == "true"
			return http.StatusOK, mustJSON(o.JSON)
		}
	case http.MethodGet:
		if m := objectPath.FindStringSubmatch(rec.Path); m != nil && m[2] != "search" {
			if o := r.objects[m[2]]; o != nil {
				return http.StatusOK, mustJSON(o.JSON)
			}
			return status, out
		}
		switch rec.Path {
		case "/v1/invoices":
			if c := rec.Query.Get("customer"); c != "" {
				return r.list(out, func(o *Object) bool { return o.Type == "invoice" && o.Str("customer") == c })
			}
		case "/v1/invoiceitems":
			if in := rec.Query.Get("invoice"); in != "" {
				return r.list(out, func(o *Object) bool { return o.Type == "invoiceitem" && o.Str("invoice") == in })
			}
		case "/v1/customers/search":
			m := metadataQuery.FindStringSubmatch(rec.Query.Get("query"))
			if m == nil {
				return errorBody(http.StatusBadRequest, "invalid_request_error", "stripetest: the Recorder searches only metadata['KEY']:'VALUE'")
			}
			value := regexp.MustCompile(`\\(.)`).ReplaceAllString(m[2], "$1")
			return r.list(out, func(o *Object) bool {
				return o.Type == "customer" && o.searchable && o.Metadata()[m[1]] == value
			})
		}
	}
	return status, out
}

func (r *Recorder) create(rec *Request, typ string, out []byte) (int, []byte) {
	obj, err := decode(out)
	if err != nil {
		return errorBody(http.StatusBadGateway, "api_error", "stripetest: stripe-mock's answer: "+err.Error())
	}
	id, _ := obj["id"].(string)
	if id == "" || r.objects[id] != nil {
		return errorBody(http.StatusBadGateway, "api_error", fmt.Sprintf("stripetest: stripe-mock gave %s a used or empty id %q", typ, id))
	}
	meta := map[string]any{}
	for k, vs := range rec.Form {
		if name, ok := strings.CutPrefix(k, "metadata["); ok && strings.HasSuffix(name, "]") {
			meta[strings.TrimSuffix(name, "]")] = vs[0]
		}
	}
	obj["metadata"] = meta
	for _, f := range []string{"customer", "invoice", "currency", "description", "email", "name"} {
		if v, ok := rec.Form[f]; ok {
			obj[f] = v[0]
		}
	}
	switch typ {
	case "invoice":
		obj["status"] = "draft"
		obj["auto_advance"] = rec.Form.Get("auto_advance") == "true"
	case "invoiceitem":
		var amount int64
		if _, err := fmt.Sscan(rec.Form.Get("amount"), &amount); err == nil {
			obj["amount"] = amount
		}
		if in := r.objects[rec.Form.Get("invoice")]; in != nil && in.Str("status") != "draft" {
			return errorBody(http.StatusBadRequest, "invalid_request_error", "You can only add invoice items to draft invoices.")
		}
	}
	r.objects[id] = &Object{Type: typ, ID: id, Key: rec.IdempotencyKey, JSON: obj}
	r.order = append(r.order, id)
	return http.StatusOK, mustJSON(obj)
}

// list replaces the data of stripe-mock's list or search answer with the kept objects
// that match, newest first, as Stripe lists them.
func (r *Recorder) list(out []byte, match func(*Object) bool) (int, []byte) {
	l, err := decode(out)
	if err != nil {
		return errorBody(http.StatusBadGateway, "api_error", "stripetest: stripe-mock's answer: "+err.Error())
	}
	data := []any{}
	for _, id := range slices.Backward(r.order) {
		if o := r.objects[id]; match(o) {
			data = append(data, o.JSON)
		}
	}
	l["data"] = data
	l["has_more"] = false
	if _, ok := l["total_count"]; ok {
		l["total_count"] = len(data)
	}
	return http.StatusOK, mustJSON(l)
}

// hangUp drops the connection in the middle of an answer. Closing it before any answer
// would not do: Go's transport silently retries a request that has an Idempotency-Key
// when a reused connection closes before answering.
func hangUp(w http.ResponseWriter) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"id\":")
	_ = buf.Flush()
	_ = conn.Close()
}

func errorBody(status int, typ, msg string) (int, []byte) {
	return status, mustJSON(map[string]any{"error": map[string]any{"type": typ, "message": msg}})
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	_, body := errorBody(status, typ, msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// decode keeps numbers as json.Number, so that amounts and times pass through exactly.
func decode(b []byte) (map[string]any, error) {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return m, d.Decode(&m)
}

func cloneJSON(m map[string]any) map[string]any {
	c, _ := decode(mustJSON(m))
	return c
}
