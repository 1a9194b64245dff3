package http_test

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	platform "github.com/micro/platform"
	platformhttp "github.com/micro/platform/http"
)

func TestErrorResponses(t *testing.T) {
	t.Parallel()
	codes := []string{platform.EINVALID, platform.EUNAUTHENTICATED, platform.EFORBIDDEN, platform.ENOTFOUND,
		platform.ECONFLICT, platform.EQUOTA, platform.EINTERNAL, platform.EUNAVAILABLE, platform.ETIMEOUT}
	for _, code := range codes {
		t.Run(code, func(t *testing.T) {
			t.Parallel()
			err := fmt.Errorf("wrapped: %w", platform.Errorf(code, "namespace %q went %s", "acme", code).WithHint("try again"))
			ts := newTestServer(t, &fakeControlPlane{err: err}, nil)
			resp, body := ts.do(t, "GET", "/v1/namespaces/acme/services", adminSecret, nil)
			if want := platform.HTTPStatus(code); resp.StatusCode != want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, want)
			}
			got := mustErrorBody(t, resp, body)
			want := fmt.Sprintf("namespace %q went %s", "acme", code)
			if got.Code != code || got.Message != want || got.Hint != "try again" {
				t.Fatalf("error = %+v, want code %s message %q hint %q", got, code, want, "try again")
			}
		})
	}

	t.Run("uncoded error is logged and shown as internal", func(t *testing.T) {
		t.Parallel()
		secretDetail := "dial tcp 10.0.0.7:5432: connection refused"
		ts := newTestServer(t, &fakeControlPlane{err: errors.New(secretDetail)}, nil)
		resp, body := ts.do(t, "GET", "/v1/namespaces/acme/services", adminSecret, nil)
		if resp.StatusCode != 500 {
			t.Fatalf("status = %d, want 500", resp.StatusCode)
		}
		got := mustErrorBody(t, resp, body)
		if got.Code != platform.EINTERNAL || got.Message != "internal error" {
			t.Fatalf("error = %+v, want internal/\"internal error\"", got)
		}
		if strings.Contains(string(body), "10.0.0.7") {
			t.Fatalf("response leaks the internal error: %s", body)
		}
		logs := ts.logs.String()
		if !strings.Contains(logs, secretDetail) || !strings.Contains(logs, `"request_id":"`+got.RequestID+`"`) {
			t.Fatalf("log lacks the error with request id %s:\n%s", got.RequestID, logs)
		}
		if !strings.Contains(logs, `"level":"ERROR"`) {
			t.Fatalf("internal error not logged at error level:\n%s", logs)
		}
	})
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		path       string
		header     string // Authorization
		auth       fakeAuth
		wantStatus int
		wantCode   string
		wantCalled bool // whether the ControlPlane saw the request
	}{
		{name: "no token reaches ControlPlane which refuses", path: "/v1/namespaces", wantStatus: 401, wantCode: platform.EUNAUTHENTICATED, wantCalled: true},
		{name: "unknown secret rejected before handler", path: "/v1/namespaces", header: "Bearer nope", wantStatus: 401, wantCode: platform.EUNAUTHENTICATED},
		{name: "wrong scheme", path: "/v1/namespaces", header: "Basic " + adminSecret, wantStatus: 401, wantCode: platform.EUNAUTHENTICATED},
		{name: "empty bearer", path: "/v1/namespaces", header: "Bearer ", wantStatus: 401, wantCode: platform.EUNAUTHENTICATED},
		{name: "lowercase scheme accepted", path: "/v1/namespaces", header: "bearer " + adminSecret, wantStatus: 200, wantCalled: true},
		{name: "scoped token in its namespace", path: "/v1/namespaces/acme/services", header: "Bearer " + scopedSecret, wantStatus: 200, wantCalled: true},
		{name: "scoped token elsewhere is forbidden", path: "/v1/namespaces/other/services", header: "Bearer " + scopedSecret, wantStatus: 403, wantCode: platform.EFORBIDDEN, wantCalled: true},
		{name: "scoped token on admin route is forbidden", path: "/v1/tokens", header: "Bearer " + scopedSecret, wantStatus: 403, wantCode: platform.EFORBIDDEN, wantCalled: true},
		{name: "authenticator unavailable", path: "/v1/namespaces", header: "Bearer " + adminSecret,
			auth: fakeAuth{err: platform.Errorf(platform.EUNAVAILABLE, "token store unavailable")}, wantStatus: 503, wantCode: platform.EUNAVAILABLE},
		{name: "healthz needs no token", path: "/healthz", wantStatus: 200},
		{name: "readyz needs no token", path: "/readyz", wantStatus: 200},
		{name: "metrics needs no token", path: "/metrics", wantStatus: 200},
		{name: "openapi needs no token", path: "/v1/openapi.json", wantStatus: 200},
		{name: "openapi ignores a bad token", path: "/v1/openapi.json", header: "Bearer nope", wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cp := &fakeControlPlane{}
			ts := newTestServer(t, cp, func(o *platformhttp.Options) { o.Auth = tt.auth })
			var hdr []string
			if tt.header != "" {
				hdr = []string{"Authorization", tt.header}
			}
			resp, body := ts.do(t, "GET", tt.path, "", nil, hdr...)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantCode != "" {
				if got := mustErrorBody(t, resp, body); got.Code != tt.wantCode {
					t.Fatalf("code = %q, want %q", got.Code, tt.wantCode)
				}
			}
			if wa := resp.Header.Get("WWW-Authenticate"); (tt.wantStatus == 401) != strings.HasPrefix(wa, "Bearer") {
				t.Errorf("status %d with WWW-Authenticate %q", resp.StatusCode, wa)
			}
			if called := len(cp.Calls()) > 0; called != tt.wantCalled {
				t.Fatalf("ControlPlane called = %v, want %v", called, tt.wantCalled)
			}
		})
	}
}

func TestRequestDecoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		path        string
		body        string
		contentType string
		wantStatus  int    // 400 unless set
		wantMessage string // substring of the error message
	}{
		{name: "malformed JSON", path: "/v1/namespaces", body: `{"name" "acme"}`, wantMessage: "malformed JSON at byte 9: invalid character"},
		{name: "truncated JSON", path: "/v1/namespaces", body: `{"name":`, wantMessage: "malformed JSON: body ends early at byte"},
		{name: "unknown field", path: "/v1/namespaces", body: `{"name":"acme","nmae":"x"}`, wantMessage: `unknown field "nmae"`},
		{name: "wrong type", path: "/v1/namespaces", body: `{"name":42}`, wantMessage: "name must be string, not number"},
		{name: "empty body", path: "/v1/namespaces", body: ``, wantMessage: "request body is empty"},
		{name: "two values", path: "/v1/namespaces", body: `{"name":"a"}{"name":"b"}`, wantMessage: "unexpected data after the JSON value"},
		{name: "oversized body", path: "/v1/namespaces", body: `{"name":"` + strings.Repeat("a", 300) + `"}`, wantStatus: 413, wantMessage: "request body is larger than 256 bytes"},
		{name: "oversized body of a long call", path: "/v1/namespaces/acme/call", body: `{"service":"x","endpoint":"X.Y","body":"` + strings.Repeat("a", 300) + `"}`, wantStatus: 413, wantMessage: "request body is larger than 256 bytes"},
		{name: "bad ttl", path: "/v1/tokens", body: `{"name":"ci","ttl":"a month"}`, wantMessage: `invalid ttl "a month"`},
		{name: "namespace mismatch", path: "/v1/namespaces/acme/deploys", body: `{"namespace":"other","service":"x","source":{"kind":"git"}}`, wantMessage: `body names namespace "other" but the path names "acme"`},
		{name: "oversized upload", path: "/v1/namespaces/acme/sources", body: strings.Repeat("z", 1000), contentType: "application/gzip", wantStatus: 413, wantMessage: "request body is larger than 512 bytes"},
		{name: "upload of JSON", path: "/v1/namespaces/acme/sources", body: `{}`, contentType: "application/json", wantMessage: "send a tar.gz as application/gzip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cp := &fakeControlPlane{}
			ts := newTestServer(t, cp, func(o *platformhttp.Options) {
				o.MaxBodyBytes = 256
				o.MaxUploadBytes = 512
			})
			ct := tt.contentType
			if ct == "" {
				ct = "application/json"
			}
			resp, body := ts.do(t, "POST", tt.path, adminSecret, bytes.NewReader([]byte(tt.body)), "Content-Type", ct)
			want := cmp.Or(tt.wantStatus, http.StatusBadRequest)
			if resp.StatusCode != want {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, want, body)
			}
			got := mustErrorBody(t, resp, body)
			if got.Code != platform.EINVALID || !strings.Contains(got.Message, tt.wantMessage) || got.RequestID == "" {
				t.Fatalf("error = %+v, want invalid containing %q", got, tt.wantMessage)
			}
		})
	}
}

func TestQueryValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		path   string
		header []string
		want   []string // every problem must be reported at once
	}{
		{name: "events", path: "/v1/namespaces/acme/events?after=-1&limit=x&follow=maybe",
			want: []string{`after="-1"`, `limit="x"`, `follow="maybe"`}},
		{name: "last event id", path: "/v1/namespaces/acme/events?follow=true", header: []string{"Last-Event-ID", "abc"},
			want: []string{`Last-Event-ID="abc"`}},
		{name: "logs", path: "/v1/namespaces/acme/services/hello/logs?tail=-2&follow=2x", want: []string{`tail="-2"`, `follow="2x"`}},
		{name: "build log", path: "/v1/namespaces/acme/builds/b-1/log?follow=nah", want: []string{`follow="nah"`}},
		{name: "metrics", path: "/v1/namespaces/acme/services/hello/metrics?since=yesterday", want: []string{`since="yesterday"`, "1h"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cp := &fakeControlPlane{}
			ts := newTestServer(t, cp, nil)
			resp, body := ts.do(t, "GET", tt.path, adminSecret, nil, tt.header...)
			if resp.StatusCode != 400 {
				t.Fatalf("status = %d, want 400; body %s", resp.StatusCode, body)
			}
			got := mustErrorBody(t, resp, body)
			for _, w := range tt.want {
				if !strings.Contains(got.Message, w) {
					t.Errorf("message %q lacks %q", got.Message, w)
				}
			}
			if calls := cp.Calls(); len(calls) != 0 {
				t.Errorf("ControlPlane called %v for an invalid query", calls)
			}
		})
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &fakeControlPlane{}, nil)
	tests := []struct {
		name, method, path string
		status             int
		code               string
		allow              string // the Allow header of a 405
	}{
		{"unknown route", "GET", "/v1/nope", 404, platform.ENOTFOUND, ""},
		{"wrong method", "PUT", "/v1/namespaces", 405, platform.EINVALID, "GET, POST"},
		{"PATCH", "PATCH", "/v1/namespaces/acme", 405, platform.EINVALID, "DELETE"},
		{"PATCH without a token", "PATCH", "/v1/namespaces/acme/services/hello", 405, platform.EINVALID, "GET, DELETE"},
		{"DELETE on a POST route", "DELETE", "/v1/namespaces/acme/call", 405, platform.EINVALID, "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret := adminSecret
			if strings.Contains(tt.name, "without a token") {
				secret = ""
			}
			resp, body := ts.do(t, tt.method, tt.path, secret, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			got := mustErrorBody(t, resp, body)
			if got.Code != tt.code || got.RequestID == "" {
				t.Fatalf("error %+v, want code %q and a request id", got, tt.code)
			}
			if allow := resp.Header.Get("Allow"); allow != tt.allow {
				t.Fatalf("Allow = %q, want %q", allow, tt.allow)
			}
			if tt.status == 405 && (!strings.Contains(got.Message, "method "+tt.method+" is not allowed") || got.Hint == "") {
				t.Fatalf("error %+v, want the method named and a hint", got)
			}
		})
	}
}
