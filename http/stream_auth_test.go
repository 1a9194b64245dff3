package http_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/auth"
	"github.com/micro/platform/control"
	platformhttp "github.com/micro/platform/http"
	"github.com/micro/platform/internal/seal"
	"github.com/micro/platform/runtime/fake"
	"github.com/micro/platform/sqlstore"
)

// TestStreamEndsWhenAccessEnds opens an event stream on the API as the server wires it
// (SQLite store, caching authenticator with its 1 s TTL, control plane), checks that it
// stays open while its token is good, takes the access away and expects the stream to
// end with an `error` message within a few seconds.
func TestStreamEndsWhenAccessEnds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		ttl    time.Duration // of the token; 0 for none
		revoke func(t *testing.T, s *streamServer, tok *platform.Token, secret string)
		code   string
	}{
		{"token revoked through the API", 0, func(t *testing.T, s *streamServer, tok *platform.Token, secret string) {
			req, err := http.NewRequestWithContext(t.Context(), "DELETE", s.url+"/v1/tokens/"+tok.ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
				t.Fatalf("revoke: status %d", resp.StatusCode)
			}
		}, platform.EUNAUTHENTICATED},
		{"token revoked by another replica", 0, func(t *testing.T, s *streamServer, tok *platform.Token, _ string) {
			if err := s.store.DeleteToken(t.Context(), tok.ID); err != nil {
				t.Fatal(err)
			}
		}, platform.EUNAUTHENTICATED},
		{"user disabled", 0, func(t *testing.T, s *streamServer, tok *platform.Token, _ string) {
			u, err := s.store.GetUser(t.Context(), tok.UserID)
			if err != nil {
				t.Fatal(err)
			}
			u.Disabled = true
			if err := s.store.UpdateUser(t.Context(), u); err != nil {
				t.Fatal(err)
			}
		}, platform.EUNAUTHENTICATED},
		{"user removed from the organisation", 0, func(t *testing.T, s *streamServer, tok *platform.Token, _ string) {
			if err := s.store.DeleteMembership(t.Context(), tok.Org, tok.UserID); err != nil {
				t.Fatal(err)
			}
		}, platform.EUNAUTHENTICATED},
		{"session expired", 3 * time.Second, func(*testing.T, *streamServer, *platform.Token, string) {}, platform.EUNAUTHENTICATED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStreamServer(t)
			tok, secret := s.member(t, tt.ttl)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			next := s.follow(t, ctx, secret, "/v1/namespaces/own/events?follow=true")

			// Several rechecks pass while the token is good.
			select {
			case m := <-next:
				t.Fatalf("stream ended early: %+v", m)
			case <-time.After(700 * time.Millisecond):
			}
			tt.revoke(t, s, tok, secret)
			start := time.Now()
			select {
			case m := <-next:
				var er platformhttp.ErrorResponse
				if m.err != nil || m.msg.Event != "error" || json.Unmarshal([]byte(m.msg.Data), &er) != nil || er.Error.Code != tt.code {
					t.Fatalf("got %+v, want an error message with code %s", m, tt.code)
				}
				t.Logf("stream ended %v after the change: %s", time.Since(start).Round(time.Millisecond), er.Error.Message)
			case <-time.After(10 * time.Second):
				t.Fatal("the stream outlived the access by 10 s")
			}
			if m := <-next; !errors.Is(m.err, io.EOF) {
				t.Fatalf("after the error: %+v, want the end of the stream", m)
			}
		})
	}
}

// streamServer is the API over a real store and authenticator, with a short recheck.
type streamServer struct {
	url   string
	store *sqlstore.Store
}

func newStreamServer(t *testing.T) *streamServer {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlstore.Open(t.Context(), filepath.Join(dir, "platform.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := auth.NewAuthenticator(st, auth.Options{}) // the server's defaults: 1 s TTL
	box, err := seal.New([]byte("test secret key, 32 bytes long!!"), "release-env")
	if err != nil {
		t.Fatal(err)
	}
	plane, err := control.New(control.Options{Store: st, Mesh: matrixMesh{}, Driver: fake.New(fake.Options{}), Builder: matrixBuilder{},
		Sources: matrixBuilder{}, Secrets: box, Auth: a, BuildLogDir: filepath.Join(dir, "buildlogs")})
	if err != nil {
		t.Fatal(err)
	}
	api := platformhttp.NewServer(platformhttp.Options{Addr: "127.0.0.1:0", ControlPlane: plane, Auth: a,
		StreamRecheck: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err := api.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = api.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := st.CreateNamespace(t.Context(), &platform.Namespace{Name: "own"}); err != nil {
		t.Fatal(err)
	}
	return &streamServer{url: "http://" + api.Addr(), store: st}
}

// member creates a developer of the default org and a token of theirs, expiring after
// ttl unless it is 0.
func (s *streamServer) member(t *testing.T, ttl time.Duration) (*platform.Token, string) {
	t.Helper()
	ctx := t.Context()
	u := &platform.User{ID: "u-dev", Login: "dev", Source: platform.UserLocal}
	if err := s.store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.store.PutMembership(ctx, &platform.Membership{Org: platform.DefaultOrg, UserID: u.ID, Role: platform.RoleDeveloper, Source: platform.MemberLocal}); err != nil {
		t.Fatal(err)
	}
	secret, hash := auth.NewSecret()
	tok := &platform.Token{ID: "t-dev", Name: "dev", Hash: hash, UserID: u.ID, Org: platform.DefaultOrg, Role: platform.RoleDeveloper}
	if ttl > 0 {
		tok.Kind = platform.TokenSession
		exp := time.Now().Add(ttl)
		tok.ExpiresAt = &exp
	}
	if err := s.store.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	return tok, secret
}

type streamRead struct {
	msg sseMessage
	err error
}

// follow opens the stream at path and returns its messages, then its end, one by one.
func (s *streamServer) follow(t *testing.T, ctx context.Context, secret, path string) <-chan streamRead {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", s.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: status %d: %s", path, resp.StatusCode, b)
	}
	out := make(chan streamRead, 16)
	go func() {
		r := newSSEReader(resp.Body)
		for {
			m, err := r.Next()
			out <- streamRead{m, err}
			if err != nil {
				return
			}
		}
	}()
	return out
}

// roleAuth answers adminSecret with a token whose role can be lowered while it is used.
type roleAuth struct{ role atomic.Value }

func (a *roleAuth) Authenticate(_ context.Context, secret string) (*platform.Token, error) {
	if secret != adminSecret {
		return nil, platform.Errorf(platform.EUNAUTHENTICATED, "invalid token")
	}
	return &platform.Token{ID: "t-1", Name: "dev", Role: a.role.Load().(platform.Role), CreatedAt: t0}, nil
}

// TestLogStreamEndsWhenRoleNoLongerAllows follows a service's logs as a developer, then
// lowers the token's role to viewer, who may not read logs: the stream ends with a
// forbidden error message.
func TestLogStreamEndsWhenRoleNoLongerAllows(t *testing.T) {
	t.Parallel()
	a := &roleAuth{}
	a.role.Store(platform.RoleDeveloper)
	ch := make(chan platform.LogEntry)
	cp := &fakeControlPlane{logsCh: ch}
	ts := newTestServer(t, cp, func(o *platformhttp.Options) { o.Auth = a; o.StreamRecheck = 50 * time.Millisecond })
	_, r := ts.openStream(t, t.Context(), "/v1/namespaces/acme/services/hello/logs?follow=true")
	time.Sleep(300 * time.Millisecond) // several rechecks pass
	ch <- platform.LogEntry{Line: "still a developer"}
	if m := mustNext(t, r); m.Event != "log" || !strings.Contains(m.Data, "still a developer") {
		t.Fatalf("message = %+v, want the log line", m)
	}
	a.role.Store(platform.RoleViewer)
	m := mustNext(t, r)
	var er platformhttp.ErrorResponse
	if err := json.Unmarshal([]byte(m.Data), &er); err != nil || m.Event != "error" || er.Error.Code != platform.EFORBIDDEN ||
		!strings.Contains(er.Error.Message, "logs.read needs the developer role") {
		t.Fatalf("message = %+v, want a forbidden error message", m)
	}
	mustEOF(t, r)
	waitDone(t, cp.StreamContexts()[0], "logs stream after the role was lowered")
}
