package oauth

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of a registration.
const (
	// MaxRedirectURIs bounds the redirect URIs of one client: a native client has one
	// or two loopback listeners.
	MaxRedirectURIs = 5
	// MaxRedirectURILen bounds each redirect URI, in bytes.
	MaxRedirectURILen = 512
	// MaxClientName bounds the client's name, in characters: the access token is named
	// "mcp:" and the name, and token names have at most 64 characters.
	MaxClientName = 60
	// DefaultClientName names a client that gave no name.
	DefaultClientName = "MCP client"
)

// maxBody bounds the bodies the Server reads (registrations, forms).
const maxBody = 64 << 10

// Registration errors of RFC 7591 §3.2.2.
const (
	errInvalidRedirectURI    = "invalid_redirect_uri"
	errInvalidClientMetadata = "invalid_client_metadata"
)

// client is a registered client as its client id carries it. The redirect URIs are kept
// as hashes, which is all an exact match needs, so that a client id stays short enough
// for URLs and cookies.
type client struct {
	Name      string   `json:"n"`
	Redirects [][]byte `json:"r"` // SHA-256 of each redirect URI
	IssuedAt  int64    `json:"t"` // Unix seconds
}

// allows reports whether uri is one of the client's redirect URIs, exactly.
func (c *client) allows(uri string) bool {
	d := digest(uri)
	return slices.ContainsFunc(c.Redirects, func(r []byte) bool { return subtle.ConstantTimeCompare(r, d) == 1 })
}

// RegistrationRequest is the client metadata of RFC 7591 §2 the platform reads; other
// fields are ignored (and not returned).
type RegistrationRequest struct {
	RedirectURIs            []string `json:"redirect_uris"`
	ClientName              string   `json:"client_name,omitempty"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
}

// RegistrationResponse is the client information response of RFC 7591 §3.2.1: the
// metadata as the platform registered it. There is never a client secret: every client
// is public and proves itself with PKCE.
type RegistrationResponse struct {
	ClientID                string   `json:"client_id"`
	ClientIDIssuedAt        int64    `json:"client_id_issued_at"`
	ClientName              string   `json:"client_name"`
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
}

// register serves POST /oauth/register (RFC 7591) for public clients. The client id it
// returns is the registration itself, sealed: nothing is stored.
func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	if !allowCORS(w, r, http.MethodPost) {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	var req RegistrationRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(&req); err != nil {
		writeOAuthError(w, http.StatusBadRequest, errInvalidClientMetadata, "the body must be a JSON object of client metadata (RFC 7591)")
		return
	}
	resp, code, problems := checkRegistration(req)
	if len(problems) > 0 {
		s.log.Info("oauth: client registration refused", "error", code, "problems", strings.Join(problems, "; "), "source", r.RemoteAddr)
		writeOAuthError(w, http.StatusBadRequest, code, strings.Join(problems, "; "))
		return
	}
	c := &client{Name: resp.ClientName, IssuedAt: s.now().Unix()}
	for _, u := range resp.RedirectURIs {
		c.Redirects = append(c.Redirects, digest(u))
	}
	id, err := s.clients.seal(c)
	if err != nil {
		s.log.Error("oauth: seal a client id", "err", err)
		writeOAuthError(w, http.StatusInternalServerError, "server_error", "the client could not be registered")
		return
	}
	resp.ClientID, resp.ClientIDIssuedAt = id, c.IssuedAt
	s.log.Info("oauth: client registered", "client", c.Name, "redirect_uris", len(c.Redirects), "source", r.RemoteAddr)
	writeJSON(w, http.StatusCreated, resp)
}

// checkRegistration returns the registration req asks for, or the RFC 7591 error code
// and every problem with it: invalid_redirect_uri when a redirect URI is at fault,
// invalid_client_metadata otherwise. Grant types the platform does not offer
// (refresh_token, which many clients ask for) are left out of the answer rather than
// refused, as §3.2.1 allows; a client that cannot use the authorization code is refused.
func checkRegistration(req RegistrationRequest) (resp *RegistrationResponse, code string, problems []string) {
	resp = &RegistrationResponse{
		ClientName: strings.TrimSpace(req.ClientName), TokenEndpointAuthMethod: "none",
		GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
	}
	switch n := len(req.RedirectURIs); {
	case n == 0:
		problems = append(problems, "redirect_uris: at least one is required")
	case n > MaxRedirectURIs:
		problems = append(problems, fmt.Sprintf("redirect_uris: at most %d, got %d", MaxRedirectURIs, n))
	}
	for _, u := range req.RedirectURIs {
		if err := checkRedirectURI(u); err != nil {
			problems = append(problems, err.Error())
		} else if !slices.Contains(resp.RedirectURIs, u) {
			resp.RedirectURIs = append(resp.RedirectURIs, u)
		}
	}
	if len(problems) > 0 {
		code = errInvalidRedirectURI
	}
	var meta []string
	switch n := utf8.RuneCountInString(resp.ClientName); {
	case !utf8.ValidString(resp.ClientName) || strings.ContainsFunc(resp.ClientName, unicode.IsControl):
		meta = append(meta, "client_name: control characters or invalid UTF-8")
	case n > MaxClientName:
		meta = append(meta, fmt.Sprintf("client_name: at most %d characters, got %d", MaxClientName, n))
	case n == 0:
		resp.ClientName = DefaultClientName
	}
	if m := req.TokenEndpointAuthMethod; m != "" && m != "none" {
		meta = append(meta, fmt.Sprintf("token_endpoint_auth_method %q: only \"none\" (a public client with PKCE)", m))
	}
	if len(req.GrantTypes) > 0 && !slices.Contains(req.GrantTypes, "authorization_code") {
		meta = append(meta, fmt.Sprintf("grant_types %q: the platform offers authorization_code only", req.GrantTypes))
	}
	if len(req.ResponseTypes) > 0 && !slices.Contains(req.ResponseTypes, "code") {
		meta = append(meta, fmt.Sprintf("response_types %q: the platform offers code only", req.ResponseTypes))
	}
	if code == "" && len(meta) > 0 {
		code = errInvalidClientMetadata
	}
	return resp, code, append(problems, meta...)
}

// checkRedirectURI accepts an absolute https URL, or an http URL on the loopback
// interface (localhost, 127.0.0.1, [::1]) for a native client's listener (RFC 8252
// §7.3), with neither user information nor fragment.
func checkRedirectURI(raw string) error {
	if len(raw) > MaxRedirectURILen {
		return fmt.Errorf("redirect URI of %d bytes: at most %d", len(raw), MaxRedirectURILen)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Opaque != "" || u.Host == "":
		return fmt.Errorf("redirect URI %q is not an absolute URL", raw)
	case strings.Contains(raw, "#"):
		return fmt.Errorf("redirect URI %q has a fragment", raw)
	case u.User != nil:
		return fmt.Errorf("redirect URI %q has user information", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("redirect URI %q: http only on the loopback interface (localhost, 127.0.0.1, [::1]); use https", raw)
	default:
		return fmt.Errorf("redirect URI %q: the scheme must be https, or http on the loopback interface", raw)
	}
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// writeJSON writes v as the JSON answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// OAuthError is the error answer of RFC 6749 §5.2 and RFC 7591 §3.2.2.
type OAuthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, OAuthError{Error: code, Description: desc})
}

// allowCORS lets browser-based clients (an MCP inspector in a page) call the JSON
// endpoints: they carry no cookie and every answer is meant for whoever asks. It answers
// a preflight and a method other than method itself, and reports whether the request is
// left to the caller.
func allowCORS(w http.ResponseWriter, r *http.Request, method string) bool {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	switch {
	case r.Method == method || (method == http.MethodGet && r.Method == http.MethodHead):
		return true
	case r.Method == http.MethodOptions:
		h.Set("Access-Control-Allow-Methods", method+", OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return false
	}
	h.Set("Allow", method+", OPTIONS")
	writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", fmt.Sprintf("%s takes %s", r.URL.Path, method))
	return false
}
