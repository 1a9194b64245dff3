package platform_test

import (
	"testing"

	platform "github.com/micro/platform"
)

func TestHTTPStatus(t *testing.T) {
	t.Parallel()
	// The table of docs/api.md.
	want := map[string]int{
		platform.EINVALID: 400, platform.EUNAUTHENTICATED: 401, platform.EFORBIDDEN: 403,
		platform.ENOTFOUND: 404, platform.ECONFLICT: 409, platform.EQUOTA: 429,
		platform.EINTERNAL: 500, platform.EUNAVAILABLE: 503, platform.ETIMEOUT: 504,
		"no_such_code": 500,
	}
	for code, status := range want {
		if got := platform.HTTPStatus(code); got != status {
			t.Errorf("HTTPStatus(%q) = %d, want %d", code, got, status)
		}
	}
}
