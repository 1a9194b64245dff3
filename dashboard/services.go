package dashboard

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	platform "github.com/micro/platform"
)

// servicesData is the services page's data.
type servicesData struct {
	Services []*platform.ServiceView
	// Activity holds each service's recent request and error counts per minute, for the
	// sparklines; missing when the caller may not read metrics.
	Activity map[string]*activity
}

// services is the services page. The listing asks each service's region about it, which
// takes a while for many services; the page's layout and heading need none of it, so they
// go out first (render streams a template with a "later" part) and the table follows.
func (d *Dashboard) services(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	var err error
	if v.Regions, err = d.cp.ListRegions(r.Context()); err != nil {
		return "", err
	}
	v.Title, v.Section = v.NS, "services"
	v.later = func(ctx context.Context) error {
		list, err := d.cp.ListServices(ctx, v.NS)
		if err != nil {
			return err
		}
		slices.SortFunc(list, func(a, b *platform.ServiceView) int { return cmp.Compare(a.Name, b.Name) })
		if v.Region != "" {
			// One region's view: the services placed there, with that region's status.
			list = slices.DeleteFunc(list, func(sv *platform.ServiceView) bool {
				i := slices.IndexFunc(sv.PerRegion, func(pr platform.ServiceRegion) bool { return pr.Region == v.Region })
				if i < 0 {
					return true
				}
				sv.PerRegion = sv.PerRegion[i : i+1]
				return false
			})
		}
		// The sparklines come after the page (activityFragment), so that a namespace of
		// many services paints at once.
		v.Data = servicesData{Services: list}
		return nil
	}
	return "services", nil
}

// serviceData is the data of the service's tabs.
type serviceData struct {
	Service  *platform.ServiceView
	Releases []*platform.Release
	Events   []*platform.Event
	// Calls are the endpoints with their generated forms.
	Calls   []*callForm
	Metrics any
	Release *platform.Release
	Build   *platform.Build
	// Gateway is the base URL of the curl lines.
	Gateway string
	// Instances are the distinct instance ids, for the log filter.
	Instances []string
	// Result is the answer of a call posted without script.
	Result *endpointsCallResult
	// Live is the release still building or rolling out, whose progress the overview
	// follows.
	Live *platform.Release
}

func (d *Dashboard) loadService(r *http.Request, v *view, tab string) (*serviceData, error) {
	sv, err := d.cp.GetService(r.Context(), v.NS, v.Service)
	if err != nil {
		return nil, err
	}
	v.Title, v.Section, v.Tab = sv.Name+" · "+v.NS, "services", tab
	sd := &serviceData{Service: sv}
	for _, in := range sv.Instances {
		if !slices.Contains(sd.Instances, in.ID) {
			sd.Instances = append(sd.Instances, in.ID)
		}
	}
	return sd, nil
}

func (d *Dashboard) serviceOverview(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	sd, err := d.loadService(r, v, "overview")
	if err != nil {
		return "", err
	}
	rels, err := d.cp.ListReleases(r.Context(), v.NS, v.Service)
	if err != nil {
		return "", err
	}
	sd.Releases = rels
	for _, rel := range rels {
		switch rel.Status {
		case platform.ReleasePending, platform.ReleaseBuilding, platform.ReleaseRollingOut:
			if sd.Live == nil || rel.CreatedAt.After(sd.Live.CreatedAt) {
				sd.Live = rel
			}
		}
	}
	v.Data = sd
	return "service", nil
}

func (d *Dashboard) serviceEndpoints(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	sd, err := d.loadService(r, v, "endpoints")
	if err != nil {
		return "", err
	}
	for _, ep := range sd.Service.Endpoints {
		sd.Calls = append(sd.Calls, newCallForm(v.NS, sd.Service.Name, ep))
	}
	sd.Gateway = d.baseURL(r)
	v.Data = sd
	return "endpoints", nil
}

func (d *Dashboard) serviceLogs(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	sd, err := d.loadService(r, v, "logs")
	if err != nil {
		return "", err
	}
	if v.Regions, err = d.cp.ListRegions(r.Context()); err != nil {
		return "", err
	}
	v.Data = sd
	return "logs", nil
}

func (d *Dashboard) serviceEvents(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	sd, err := d.loadService(r, v, "events")
	if err != nil {
		return "", err
	}
	if sd.Events, err = d.events(r, v); err != nil {
		return "", err
	}
	v.Data = sd
	return "events", nil
}

func (d *Dashboard) namespaceEvents(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	events, err := d.events(r, v)
	if err != nil {
		return "", err
	}
	v.Title, v.Section = "Events · "+v.NS, "events"
	v.Data = &serviceData{Events: events}
	return "events", nil
}

// events reads the newest 200 events of the page's filter, newest first, and the regions
// to filter by.
func (d *Dashboard) events(r *http.Request, v *view) ([]*platform.Event, error) {
	regions, err := d.cp.ListRegions(r.Context())
	if err != nil {
		return nil, err
	}
	v.Regions = regions
	events, err := d.cp.Events(r.Context(), platform.EventFilter{Namespace: v.NS, Service: v.Service, Type: r.URL.Query().Get("type"), Region: v.Region, Limit: 200})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(events, func(a, b *platform.Event) int { return cmp.Compare(b.ID, a.ID) })
	return events, nil
}

func (d *Dashboard) serviceReleases(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	sd, err := d.loadService(r, v, "releases")
	if err != nil {
		return "", err
	}
	if sd.Releases, err = d.cp.ListReleases(r.Context(), v.NS, v.Service); err != nil {
		return "", err
	}
	v.Data = sd
	return "releases", nil
}

// release shows one release: its status, its build's output (live while it builds) and
// its rollout's events.
func (d *Dashboard) release(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	rel, err := d.cp.GetRelease(r.Context(), v.NS, chi.URLParam(r, "id"))
	if err != nil {
		return "", err
	}
	if rel.Service != v.Service {
		return "", platform.Errorf(platform.ENOTFOUND, "release %s is not a release of %s", rel.ID, v.Service)
	}
	v.Title, v.Section, v.Tab = rel.Service+" "+rel.Version+" · "+v.NS, "services", "releases"
	sd := &serviceData{Release: rel, Service: &platform.ServiceView{Service: platform.Service{Namespace: v.NS, Name: v.Service}}}
	if rel.BuildID != "" {
		if sd.Build, err = d.cp.GetBuild(r.Context(), v.NS, rel.BuildID); err != nil && !platform.IsNotFound(err) {
			return "", err
		}
	}
	v.Data = sd
	return "release", nil
}

func (d *Dashboard) serviceSettings(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	sd, err := d.loadService(r, v, "settings")
	if err != nil {
		return "", err
	}
	v.Data = sd
	return "settings", nil
}

// newServiceData is the new-service page's data.
type newServiceData struct {
	Links []*platform.RepoLink
	Form  url.Values
	Sizes []platform.Size
}

func (d *Dashboard) newService(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	links, err := d.cp.ListRepoLinks(r.Context(), v.NS)
	if err != nil && platform.ErrorCode(err) != platform.EFORBIDDEN {
		return "", err
	}
	v.Title, v.Section = "New service · "+v.NS, "new"
	v.Data = newServiceData{Links: links, Form: r.URL.Query(), Sizes: platform.Sizes()}
	return "new", nil
}

// deployService deploys a service from a git URL (or a linked repository) and goes to its
// release page, where the build and the rollout show live.
func (d *Dashboard) deployService(r *http.Request) (string, string, error) {
	ns := chi.URLParam(r, "ns")
	f := r.PostForm
	req := platform.DeployRequest{
		Namespace: ns,
		Service:   strings.TrimSpace(f.Get("name")),
		Source: platform.Source{
			Kind: platform.SourceGit,
			URL:  strings.TrimSpace(f.Get("url")),
			Ref:  strings.TrimSpace(f.Get("ref")),
			Path: strings.Trim(strings.TrimSpace(f.Get("path")), "/"),
		},
		Size: platform.Size(f.Get("size")),
	}
	if link := f.Get("link"); link != "" {
		links, err := d.cp.ListRepoLinks(r.Context(), ns)
		if err != nil {
			return "", "", err
		}
		i := slices.IndexFunc(links, func(l *platform.RepoLink) bool { return l.ID == link })
		if i < 0 {
			return "", "", platform.Errorf(platform.EINVALID, "no linked repository %q in %s", link, ns)
		}
		l := links[i]
		if l.CloneURL == "" {
			return "", "", platform.Errorf(platform.EINVALID, "%s is fetched from GitHub: give its https clone URL instead", l.Repo)
		}
		req.Source.URL, req.Source.Ref = l.CloneURL, cmp.Or(req.Source.Ref, l.Branch)
		req.Source.Path = strings.Trim(l.Path+"/"+req.Source.Path, "/")
	}
	if s := strings.TrimSpace(f.Get("replicas")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return "", "", platform.Errorf(platform.EINVALID, "replicas %q is not a number", s)
		}
		req.Replicas = n
	}
	rel, err := d.cp.Deploy(r.Context(), req)
	if err != nil {
		return "", "", err
	}
	return releaseURL(ns, rel), fmt.Sprintf("Deploying %s %s.", rel.Service, rel.Version), nil
}

func releaseURL(ns string, rel *platform.Release) string {
	return Prefix + "/n/" + url.PathEscape(ns) + "/s/" + url.PathEscape(rel.Service) + "/releases/" + url.PathEscape(rel.ID)
}

func (d *Dashboard) rollback(r *http.Request) (string, string, error) {
	ns, svc := chi.URLParam(r, "ns"), chi.URLParam(r, "svc")
	rel, err := d.cp.Rollback(r.Context(), ns, svc, r.PostForm.Get("version"))
	if err != nil {
		return "", "", err
	}
	return releaseURL(ns, rel), fmt.Sprintf("Rolling %s back: %s runs the artifact of %s.", svc, rel.Version, originOf(rel)), nil
}

func originOf(rel *platform.Release) string {
	if rel.Origin != nil && rel.Origin.RollbackOf != "" {
		return rel.Origin.RollbackOf
	}
	return "an earlier release"
}

func (d *Dashboard) deleteService(r *http.Request) (string, string, error) {
	ns, svc := chi.URLParam(r, "ns"), chi.URLParam(r, "svc")
	if r.PostForm.Get("confirm") != svc {
		return "", "", platform.Errorf(platform.EINVALID, "type the service's name, %s, to delete it", svc)
	}
	if err := d.cp.DeleteService(r.Context(), ns, svc); err != nil {
		return "", "", err
	}
	return Prefix + "/n/" + url.PathEscape(ns), fmt.Sprintf("Deleting %s: its instances are stopping.", svc), nil
}

// jsonString renders v as JSON for a data attribute or a script's JSON island.
func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(b)
}
