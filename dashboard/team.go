package dashboard

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
)

func (d *Dashboard) namespaces(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	regions, err := d.cp.ListRegions(r.Context())
	if err != nil {
		return "", err
	}
	v.Title, v.Section, v.Regions = "Namespaces", "namespaces", regions
	return "namespaces", nil
}

func (d *Dashboard) createNamespace(r *http.Request) (string, string, error) {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	var regions []string
	for _, reg := range r.PostForm["region"] {
		if reg = strings.TrimSpace(reg); reg != "" {
			regions = append(regions, reg)
		}
	}
	ns, err := d.cp.CreateNamespace(r.Context(), name, regions...)
	if err != nil {
		return "", "", err
	}
	return Prefix + "/n/" + url.PathEscape(ns.Name), fmt.Sprintf("Namespace %s created.", ns.Name), nil
}

func (d *Dashboard) deleteNamespace(r *http.Request) (string, string, error) {
	ns := r.PostForm.Get("ns")
	if r.PostForm.Get("confirm") != ns {
		return "", "", platform.Errorf(platform.EINVALID, "type the namespace's name, %s, to delete it", ns)
	}
	if err := d.cp.DeleteNamespace(r.Context(), ns); err != nil {
		return "", "", err
	}
	return Prefix + "/namespaces", fmt.Sprintf("Namespace %s deleted with everything in it.", ns), nil
}

// teamData is the team page's data.
type teamData struct {
	Members []*platform.Member
	// Links are the GitHub team links (admins only; nil otherwise).
	Links []*platform.GitHubLink
	Roles []platform.Role
}

func (d *Dashboard) team(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	members, err := d.cp.ListUsers(r.Context())
	if err != nil {
		return "", err
	}
	td := teamData{Members: members, Roles: platform.Roles}
	if v.Can(string(authz.OrgRead)) {
		if td.Links, err = d.cp.GitHubLinks(r.Context()); err != nil {
			return "", err
		}
	}
	v.Title, v.Section, v.Data = "Team", "team", td
	return "team", nil
}

func (d *Dashboard) setRole(r *http.Request) (string, string, error) {
	login := chi.URLParam(r, "login")
	role, err := platform.ParseRole(r.PostForm.Get("role"))
	if err != nil {
		return "", "", err
	}
	if _, err := d.cp.SetUserRole(r.Context(), login, role); err != nil {
		return "", "", err
	}
	return Prefix + "/team", fmt.Sprintf("%s is now %s.", login, role), nil
}

func (d *Dashboard) setDisabled(disabled bool) actionFunc {
	return func(r *http.Request) (string, string, error) {
		login := chi.URLParam(r, "login")
		if _, err := d.cp.SetUserDisabled(r.Context(), login, disabled); err != nil {
			return "", "", err
		}
		if disabled {
			return Prefix + "/team", fmt.Sprintf("%s is disabled: every token and session of theirs is revoked.", login), nil
		}
		return Prefix + "/team", fmt.Sprintf("%s is enabled.", login), nil
	}
}

// tokensData is the tokens page's data.
type tokensData struct {
	Tokens []*platform.Token
	// Created is the token just made and Secret its secret, shown this once.
	Created *platform.Token
	Secret  string
	Roles   []platform.Role
}

func (d *Dashboard) tokens(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	list, err := d.cp.ListTokens(r.Context())
	if err != nil {
		return "", err
	}
	v.Title, v.Section, v.Data = "Tokens", "tokens", tokensData{Tokens: list, Roles: platform.Roles}
	return "tokens", nil
}

// createToken makes a token and renders the tokens page with its secret: the one time
// it is shown, so the answer is not a redirect (and the page is never cached).
func (d *Dashboard) createToken(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return "", platform.Errorf(platform.EINVALID, "could not read the form: %v", err)
	}
	req := platform.CreateTokenRequest{Name: strings.TrimSpace(r.PostForm.Get("name")), Role: platform.Role(r.PostForm.Get("role"))}
	for _, ns := range strings.FieldsFunc(r.PostForm.Get("namespaces"), func(c rune) bool { return c == ',' || c == ' ' }) {
		req.Namespaces = append(req.Namespaces, ns)
	}
	if ttl := strings.TrimSpace(r.PostForm.Get("ttl")); ttl != "" {
		dur, err := time.ParseDuration(ttl)
		if err != nil {
			return "", platform.Errorf(platform.EINVALID, "expiry %q is not a duration", ttl).WithHint("write it like 720h or 30m; leave it empty for a token that does not expire")
		}
		req.TTL = dur
	}
	tok, secret, err := d.cp.CreateToken(r.Context(), req)
	if err != nil {
		return "", err
	}
	list, err := d.cp.ListTokens(r.Context())
	if err != nil {
		return "", err
	}
	v.Title, v.Section = "Tokens", "tokens"
	v.Data = tokensData{Tokens: list, Created: tok, Secret: secret, Roles: platform.Roles}
	return "tokens", nil
}

func (d *Dashboard) revokeToken(r *http.Request) (string, string, error) {
	id := chi.URLParam(r, "id")
	if err := d.cp.DeleteToken(r.Context(), id); err != nil {
		return "", "", err
	}
	if tok := platform.TokenFromContext(r.Context()); tok != nil && tok.ID == id {
		return Prefix + "/signin", "Token revoked: this browser signed in with it, so sign in again.", nil
	}
	return Prefix + "/tokens", fmt.Sprintf("Token %s revoked.", id), nil
}

// auditData is the audit page's data.
type auditData struct {
	Entries []*platform.AuditEntry
	Filter  url.Values
	// Older pages back from the last entry shown; 0 when there is no more.
	Older int64
}

func (d *Dashboard) audit(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	q := r.URL.Query()
	f := platform.AuditFilter{Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action")), Limit: 100}
	if s := q.Get("since"); s != "" {
		dur, err := time.ParseDuration(s)
		if err != nil {
			return "", platform.Errorf(platform.EINVALID, "since %q is not a duration", s).WithHint("write it like 24h or 30m")
		}
		f.Since = time.Now().Add(-dur)
	}
	if s := q.Get("before"); s != "" {
		if _, err := fmt.Sscan(s, &f.BeforeID); err != nil {
			return "", platform.Errorf(platform.EINVALID, "before %q is not an entry id", s)
		}
	}
	entries, err := d.cp.ListAudit(r.Context(), f)
	if err != nil {
		return "", err
	}
	ad := auditData{Entries: entries, Filter: q}
	if len(entries) == f.Limit {
		ad.Older = entries[len(entries)-1].ID
	}
	v.Title, v.Section, v.Data = "Audit log", "audit", ad
	return "audit", nil
}

func (d *Dashboard) regions(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	regions, err := d.cp.ListRegions(r.Context())
	if err != nil {
		return "", err
	}
	v.Title, v.Section, v.Regions = "Regions", "regions", regions
	return "regions", nil
}
