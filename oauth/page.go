package oauth

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"strings"

	platform "github.com/micro/platform"
)

//go:embed templates/pages.html
var templateFS embed.FS

var pages = template.Must(template.ParseFS(templateFS, "templates/pages.html"))

// view is what every page gets: its title and its own data.
type view struct {
	Title string
	Data  any
}

// errorData is the error page's.
type errorData struct{ Message, Hint string }

// render writes page name. The headers keep it out of caches and frames (the consent
// form must not be clickjacked). There is no CSP form-action: it would also hold back
// the redirect to the application that follows the form.
func (s *Server) render(w http.ResponseWriter, status int, name, title string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, view{Title: title, Data: data}); err != nil {
		s.log.Error("oauth: render a page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// fail renders the error page for err: what is wrong and what to do.
func (s *Server) fail(w http.ResponseWriter, status int, title string, err error) {
	s.render(w, status, "error", title, errorData{
		Message: upperFirst(strings.TrimSuffix(platform.ErrorMessage(err), ".")),
		Hint:    upperFirst(strings.TrimSuffix(platform.ErrorHint(err), ".")),
	})
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
