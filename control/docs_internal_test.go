package control

import (
	"maps"
	"reflect"
	"testing"

	platform "github.com/micro/platform"
)

func TestWithDocs(t *testing.T) {
	t.Parallel()
	docs := map[string]platform.EndpointDoc{
		"H.Bare":    {Description: "Bare.", Example: `{"a": 1}`},
		"H.Partial": {Description: "Partial.", Example: `{"b": 2}`},
		"H.Full":    {Description: "Full.", Example: `{"c": 3}`},
		"H.NoEx":    {Description: "No example."},
	}
	endpoints := []platform.Endpoint{
		{Name: "H.Bare"},
		{Name: "H.Partial", Metadata: map[string]string{"example": `{"own": true}`, "stream": "true"}},
		{Name: "H.Full", Metadata: map[string]string{"description": "Own.", "example": `{"own": 1}`}},
		{Name: "H.NoEx", Metadata: map[string]string{"description": ""}},
		{Name: "H.Undocumented"},
	}
	before := clone(endpoints)
	got := withDocs(endpoints, docs)
	want := []platform.Endpoint{
		{Name: "H.Bare", Metadata: map[string]string{"description": "Bare.", "example": `{"a": 1}`}},
		{Name: "H.Partial", Metadata: map[string]string{"description": "Partial.", "example": `{"own": true}`, "stream": "true"}},
		{Name: "H.Full", Metadata: map[string]string{"description": "Own.", "example": `{"own": 1}`}},
		{Name: "H.NoEx", Metadata: map[string]string{"description": "No example."}},
		{Name: "H.Undocumented"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("withDocs:\n got %+v\nwant %+v", got, want)
	}
	if !reflect.DeepEqual(endpoints, before) {
		t.Errorf("withDocs changed the mesh's endpoints or metadata:\n now %+v\nwas %+v", endpoints, before)
	}

	t.Run("nothing to add returns the endpoints as they are", func(t *testing.T) {
		eps := endpoints[2:3]
		if got := withDocs(eps, docs); &got[0] != &eps[0] {
			t.Errorf("withDocs copied endpoints it did not change")
		}
	})
}

// clone deep-copies endpoints' names and metadata.
func clone(eps []platform.Endpoint) []platform.Endpoint {
	out := make([]platform.Endpoint, len(eps))
	for i, ep := range eps {
		out[i] = platform.Endpoint{Name: ep.Name, Metadata: maps.Clone(ep.Metadata)}
	}
	return out
}
