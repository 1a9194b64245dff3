package control

import (
	"context"
	"maps"
	"slices"

	platform "github.com/micro/platform"
)

// Endpoint metadata keys go-micro fills from a handler's doc comment.
const (
	metaDescription = platform.EndpointDescription
	metaExample     = platform.EndpointExample
)

// addBuildDocs fills the description and example metadata of the views' endpoints from
// the docs of the build of each view's release, where the registry has none: go-micro
// reads them from the handler's source, which a service built with -trimpath lacks, while
// metadata the service sets in code (server.WithEndpointExample) arrives and wins. The
// builds' docs are read in one query for all the views, and only for views with an
// endpoint that lacks some. Docs are a nicety: when they cannot be read, the views keep
// what the registry says.
func (p *Plane) addBuildDocs(ctx context.Context, views []*platform.ServiceView) {
	var ids []string
	for _, v := range views {
		if v.Release != nil && v.Release.BuildID != "" && slices.ContainsFunc(v.Endpoints, lacksDocs) {
			ids = append(ids, v.Release.BuildID)
		}
	}
	if len(ids) == 0 {
		return
	}
	docs, err := p.store.BuildDocs(ctx, ids)
	if err != nil {
		p.logger.Warn("read the endpoint docs of builds", "builds", len(ids), "err", err)
		return
	}
	for _, v := range views {
		if v.Release != nil && len(docs[v.Release.BuildID]) > 0 {
			v.Endpoints = withDocs(v.Endpoints, docs[v.Release.BuildID])
		}
	}
}

// lacksDocs reports whether the registry gives ep no description or no example.
func lacksDocs(ep platform.Endpoint) bool {
	return ep.Metadata[metaDescription] == "" || ep.Metadata[metaExample] == ""
}

// withDocs returns endpoints with the description and example of docs where their
// metadata has none. The endpoints and their metadata are the mesh's: a changed endpoint
// gets a copy of both, and the originals are left as they are.
func withDocs(endpoints []platform.Endpoint, docs map[string]platform.EndpointDoc) []platform.Endpoint {
	out := endpoints
	copied := false
	for i, ep := range endpoints {
		d, ok := docs[ep.Name]
		if !ok {
			continue
		}
		add := map[string]string{}
		if ep.Metadata[metaDescription] == "" && d.Description != "" {
			add[metaDescription] = d.Description
		}
		if ep.Metadata[metaExample] == "" && d.Example != "" {
			add[metaExample] = d.Example
		}
		if len(add) == 0 {
			continue
		}
		if !copied {
			out, copied = slices.Clone(endpoints), true
		}
		md := make(map[string]string, len(ep.Metadata)+len(add))
		maps.Copy(md, ep.Metadata)
		maps.Copy(md, add)
		out[i].Metadata = md
	}
	return out
}
