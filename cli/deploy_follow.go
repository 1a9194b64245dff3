package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/client"
)

// buildLogGrace is how long a deploy that ended waits for the rest of the build log, so
// the compiler's output is printed before the verdict.
const buildLogGrace = 2 * time.Second

// deployFollower prints the progress of one release: its events and its build log,
// interleaved as they arrive.
type deployFollower struct {
	a   *app
	c   *client.Client
	rel *platform.Release
	mu  sync.Mutex // serialises writes to stdout
}

// followDeploy prints the events of rel's service after afterID and rel's build log
// until an event ends the release: nil once it is live, an error when it failed or was
// superseded.
func (a *app) followDeploy(ctx context.Context, c *client.Client, rel *platform.Release, afterID int64) error {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := c.FollowEvents(ctx, platform.EventFilter{Namespace: rel.Namespace, Service: rel.Service, AfterID: afterID})
	if err != nil {
		return err
	}
	defer events.Close()
	f := &deployFollower{a: a, c: c, rel: rel}
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		if rel.Origin != nil && rel.Origin.Kind == platform.OriginRollback {
			return // nothing is built: the build's log is the old release's
		}
		f.buildLog(ctx)
	}()
	for events.Next() {
		e := events.Value()
		if !f.ends(e) {
			f.printEvent(e)
			continue
		}
		// The build log is complete once the build ended, but its stream may lag
		// behind the events: let it finish, so compiler output precedes the verdict.
		select {
		case <-logDone:
		case <-time.After(buildLogGrace):
		}
		cancel()
		<-logDone
		// The verdict repeats a failure's full reason: print the event's first line only.
		short := *e
		short.Message, _, _ = strings.Cut(e.Message, "\n")
		f.printEvent(&short)
		return f.outcome(context.WithoutCancel(ctx), e)
	}
	cancel()
	<-logDone
	if parent.Err() != nil {
		return platform.Errorf(platform.EUNAVAILABLE, "stopped following release %s of %s; the deploy goes on on the server", rel.Version, rel.Service).
			WithHint("follow it again with `platform events -n %s --service %s -f`", rel.Namespace, rel.Service)
	}
	if err := events.Err(); err != nil {
		return err
	}
	return platform.Errorf(platform.EUNAVAILABLE, "the event stream ended before release %s finished", rel.ID).
		WithHint("see how it went with `platform events -n %s --service %s`", rel.Namespace, rel.Service)
}

// ends reports whether e ends the release being followed.
func (f *deployFollower) ends(e *platform.Event) bool {
	if !slices.Contains(terminalEvents, e.Type) {
		return false
	}
	return e.Data["release"] == f.rel.ID || (e.Data["release"] == "" && e.Data["build"] == f.rel.BuildID)
}

// outcome turns the event that ended the release into the command's result.
func (f *deployFollower) outcome(ctx context.Context, e *platform.Event) error {
	rel, ns := f.rel, f.rel.Namespace
	switch e.Type {
	case platform.EventReleaseRolledOut:
		if !f.a.jsonOutput() {
			fmt.Fprintf(f.a.stdout, "Release %s of %s is live.\n", rel.Version, rel.Service)
		}
		return nil
	case platform.EventReleaseCanary:
		if !f.a.jsonOutput() {
			fmt.Fprintf(f.a.stdout, "Release %s of %s is a canary taking %d%% of the calls; promote it with `platform promote %s -n %s`.\n",
				rel.Version, rel.Service, rel.Canary, rel.Service, ns)
		}
		return nil
	case platform.EventReleaseSuperseded:
		return platform.Errorf(platform.ECONFLICT, "release %s of %s was superseded by a newer deploy", rel.Version, rel.Service).
			WithHint("follow the newer release with `platform events -n %s --service %s -f`", ns, rel.Service)
	case platform.EventBuildFailed:
		reason := strings.TrimPrefix(f.reason(ctx, e), "build failed: ")
		return platform.Errorf(platform.EINVALID, "build of %s %s failed: %s", rel.Service, rel.Version, reason).
			WithHint("fix the error and deploy again; the previous release keeps serving")
	default:
		return platform.Errorf(platform.EUNAVAILABLE, "release %s of %s failed: %s", rel.Version, rel.Service, f.reason(ctx, e)).
			WithHint("the previous release keeps serving; see `platform logs %s -n %s` and `platform events -n %s --service %s`",
				rel.Service, ns, ns, rel.Service)
	}
}

// reason is why the release failed: the release's recorded reason, else the event's.
func (f *deployFollower) reason(ctx context.Context, e *platform.Event) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if r, err := f.c.GetRelease(ctx, f.rel.Namespace, f.rel.ID); err == nil && r.Reason != "" {
		return r.Reason
	}
	if r := e.Data["reason"]; r != "" {
		return r
	}
	return e.Message
}

// buildLog prints the build's output, indented, until the build ends or ctx does. A log
// that cannot be read is reported once: the events still tell how the deploy ends.
func (f *deployFollower) buildLog(ctx context.Context) {
	s, err := f.c.BuildLog(ctx, f.rel.Namespace, f.rel.BuildID, true)
	if err == nil {
		defer s.Close()
		for s.Next() {
			f.printLine(s.Value())
		}
		err = s.Err()
	}
	if err != nil && ctx.Err() == nil && !f.a.jsonOutput() {
		f.mu.Lock()
		defer f.mu.Unlock()
		fmt.Fprintf(f.a.stderr, "warning: cannot follow the build log: %s\n", platform.ErrorMessage(err))
	}
}

func (f *deployFollower) printLine(line string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.a.jsonOutput() {
		_ = f.a.printJSONLine(deployItem{Kind: "build_log", Line: &line})
		return
	}
	fmt.Fprintf(f.a.stdout, "      │ %s\n", line)
}

func (f *deployFollower) printEvent(e *platform.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.a.jsonOutput() {
		_ = f.a.printJSONLine(deployItem{Kind: "event", Event: e})
		return
	}
	msg := strings.ReplaceAll(e.Message, "\n", "\n      │ ")
	if e.Region != "" {
		msg = e.Region + ": " + msg
	}
	fmt.Fprintf(f.a.stdout, "  %s  %-21s %s\n", e.Time.In(f.a.loc).Format("15:04:05"), e.Type, msg)
}
