package http

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
)

func (s *Server) streamRoutes(r chi.Router) {
	const ns = "/namespaces/{ns}"
	r.Get(ns+"/services/{svc}/logs", s.handle(s.logs))
	r.Get(ns+"/builds/{id}/log", s.handle(s.buildLog))
	r.Get(ns+"/events", s.handle(s.events))
}

// buildLog streams a build's output as `line` messages, then `end` with the build as it
// stands once its log is complete. With follow, the stream lasts until the build ends.
func (s *Server) buildLog(w http.ResponseWriter, r *http.Request) error {
	q := newQueryParams(r)
	follow := q.Bool("follow")
	if err := q.Err(); err != nil {
		return err
	}
	ns, id := chi.URLParam(r, "ns"), chi.URLParam(r, "id")
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel() // stops the ControlPlane's producer when the stream ends early
	lines, err := s.cp.BuildLog(ctx, ns, id, follow)
	if err != nil {
		return err
	}
	st, err := startStream(w)
	if err != nil {
		return err
	}
	done, err := pump(ctx, s, st, s.streamGuard(r, authz.ServiceRead, ns), lines, func(line string) error {
		return st.send(eventLine, "", line)
	})
	if !done || err != nil {
		return err
	}
	b, err := s.cp.GetBuild(ctx, ns, id)
	if err != nil {
		return err
	}
	return ignoreClosed(st.send(eventEnd, "", b))
}

// logs answers with a service's recent log lines, or with follow streams them as `log`
// messages until the client goes away; with region, only that region's instances. Each
// entry names its region.
func (s *Server) logs(w http.ResponseWriter, r *http.Request) error {
	q := newQueryParams(r)
	lq := platform.LogQuery{
		Namespace: chi.URLParam(r, "ns"),
		Service:   chi.URLParam(r, "svc"),
		Tail:      q.Int("tail", 0, -1),
		Follow:    q.Bool("follow"),
		Region:    q.String("region"),
	}
	if err := q.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	entries, err := s.cp.Logs(ctx, lq)
	if err != nil {
		return err
	}
	if !lq.Follow {
		list := []platform.LogEntry{}
		for e := range entries {
			list = append(list, e)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, struct {
			Logs []platform.LogEntry `json:"logs"`
		}{list})
		return nil
	}
	st, err := startStream(w)
	if err != nil {
		return err
	}
	done, err := pump(ctx, s, st, s.streamGuard(r, authz.LogsRead, lq.Namespace), entries, func(e platform.LogEntry) error {
		return st.send(eventLog, "", e)
	})
	if !done || err != nil {
		return err
	}
	return ignoreClosed(st.send(eventEnd, "", nil))
}

// events answers with stored events, or with follow streams them as `event` messages
// with `id:` set, resuming after the Last-Event-ID header when the client reconnects.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	q := newQueryParams(r)
	f := platform.EventFilter{
		Namespace: chi.URLParam(r, "ns"),
		Service:   q.String("service"),
		Type:      q.String("type"),
		Region:    q.String("region"),
		AfterID:   q.Int64("after"),
		Limit:     q.Int("limit", 0, 0),
	}
	follow := q.Bool("follow")
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		f.AfterID = parseID(q, "header Last-Event-ID", last)
	}
	if err := q.Err(); err != nil {
		return err
	}
	if !follow {
		list, err := s.cp.Events(r.Context(), f)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, struct {
			Events []*platform.Event `json:"events"`
		}{nonNil(list)})
		return nil
	}

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	events, err := s.cp.SubscribeEvents(ctx, f)
	if err != nil {
		return err
	}
	st, err := startStream(w)
	if err != nil {
		return err
	}
	done, err := pump(ctx, s, st, s.streamGuard(r, authz.EventsRead, f.Namespace), events, func(e *platform.Event) error {
		return st.send(eventEvent, strconv.FormatInt(e.ID, 10), e)
	})
	if !done || err != nil {
		return err
	}
	return ignoreClosed(st.send(eventEnd, "", nil))
}

// ignoreClosed drops the error of writing to a client that went away.
func ignoreClosed(err error) error {
	if errors.Is(err, errStreamClosed) {
		return nil
	}
	return err
}
