package dashboard

import (
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	platform "github.com/micro/platform"
)

// parsePages parses each page template with the layout, one template set per page.
func parsePages() map[string]*template.Template {
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := make(map[string]*template.Template, len(files))
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		if name == "activity" { // a fragment: no layout
			pages[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, f))
			continue
		}
		pages[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", f))
	}
	return pages
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"errMessage": platform.ErrorMessage,
	"errHint":    platform.ErrorHint,
	"rfc3339":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"ago":        ago,
	"until":      until,
	"join":       strings.Join,
	"short": func(s string) string {
		if len(s) > 8 {
			return s[:8]
		}
		return s
	},
	"shellQuote":   shellQuote,
	"shellArg":     shellArg,
	"compactJSON":  compactJSON,
	"epid":         func(name string) string { return "ep-" + notIDChars.ReplaceAllString(name, "-") },
	"sizeDescribe": func(s platform.Size) string { return s.OrDefault().Describe() },
	"bytes":        func(n any) string { return humanBytes(toUint64(n)) },
	"ms":           func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) },
	"windows":      func() []string { return metricsWindows },
	"running": func(list []*platform.Instance) int {
		n := 0
		for _, in := range list {
			if in.State == platform.InstanceRunning {
				n++
			}
		}
		return n
	},
	"lines": func(s string) int {
		n := strings.Count(s, "\n") + 2
		return max(3, min(n, 16))
	},
	"lastEvent": func(events []*platform.Event) int64 {
		var id int64
		for _, e := range events {
			id = max(id, e.ID)
		}
		return id
	},
	"stepClass":   stepClass,
	"releaseHint": releaseHint,
	"sparkline":   sparkline,
	"chart":       chart,
	"series": func(name, class string, values []float64) series {
		return series{Name: name, Class: class, Values: values}
	},
}

// ago says how long ago t was, briefly.
func ago(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := time.Since(t)
	switch {
	case d < 5*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return t.UTC().Format("2 Jan 2006")
}

func until(t *time.Time) string {
	d := time.Until(*t)
	if d <= 0 {
		return "expired"
	}
	switch {
	case d < time.Hour:
		return fmt.Sprintf("in %dm", int(d.Minutes())+1)
	case d < 48*time.Hour:
		return fmt.Sprintf("in %dh", int(d.Hours()))
	}
	return t.UTC().Format("2 Jan 2006")
}

func toUint64(n any) uint64 {
	switch n := n.(type) {
	case uint64:
		return n
	case int64:
		return uint64(max(n, 0))
	case int:
		return uint64(max(n, 0))
	case float64:
		return uint64(max(n, 0))
	}
	return 0
}

func humanBytes(n uint64) string {
	switch {
	case n == 0:
		return "—"
	case n < 1<<20:
		return fmt.Sprintf("%d KiB", n>>10)
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
}

// stepClass says where a release is on the build → roll out → serve path: done,
// current, failed or waiting.
func stepClass(rel *platform.Release, step string) string {
	order := map[string]int{"build": 0, "rollout": 1, "live": 2}
	at := 0
	switch rel.Status {
	case platform.ReleasePending, platform.ReleaseBuilding:
		at = 0
	case platform.ReleaseRollingOut:
		at = 1
	case platform.ReleaseLive, platform.ReleaseSuperseded, platform.ReleaseCanary:
		at = 3
	case platform.ReleaseFailed:
		if rel.Artifact == "" {
			at = 0
		} else {
			at = 1
		}
		if order[step] == at {
			return "failed"
		}
	}
	switch {
	case order[step] < at:
		return "done"
	case order[step] == at:
		return "current"
	}
	return "waiting"
}

// releaseHint says what to do about a failed release.
func releaseHint(rel *platform.Release) string {
	if rel.Status != platform.ReleaseFailed {
		return ""
	}
	if rel.Artifact == "" {
		return "The build failed: the output below shows the compiler's message. Fix the code and deploy again; what served before keeps serving."
	}
	return "The new instances did not become healthy: the service's logs show why (a crash, a missing environment variable, a port it could not bind). What served before keeps serving; fix it and deploy again, or roll back."
}

// goNamespace is the namespace switcher's target.
func (d *Dashboard) goNamespace(w http.ResponseWriter, r *http.Request) {
	ns := r.URL.Query().Get("ns")
	if ns == "" {
		http.Redirect(w, r, Prefix+"/namespaces", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, Prefix+"/n/"+url.PathEscape(ns), http.StatusSeeOther)
}
