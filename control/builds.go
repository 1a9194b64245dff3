package control

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	platform "github.com/micro/platform"
)

// inflightBuild is a build running in this process.
type inflightBuild struct {
	cancel  context.CancelFunc
	ns      string
	service string
	release string
}

// startBuild runs b in the background unless it already runs in this process. A build
// found queued or running after a restart is simply run again: the source is kept in the
// data dir (archive) or cloned again (git).
func (p *Plane) startBuild(ctx context.Context, b *platform.Build, r *platform.Release) {
	p.mu.Lock()
	if _, ok := p.inflight[b.ID]; ok {
		p.mu.Unlock()
		return
	}
	bctx, cancel := context.WithCancel(ctx)
	p.inflight[b.ID] = &inflightBuild{cancel: cancel, ns: r.Namespace, service: r.Service, release: r.ID}
	p.mu.Unlock()
	go p.runBuild(ctx, bctx, b, r)
}

// cancelStaleBuilds cancels builds of releases that a newer deploy replaced.
func (p *Plane) cancelStaleBuilds(svc *platform.Service) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.inflight {
		if b.ns == svc.Namespace && b.service == svc.Name && b.release != svc.DesiredRelease {
			b.cancel()
		}
	}
}

func (p *Plane) runBuild(ctx, bctx context.Context, b *platform.Build, r *platform.Release) {
	defer func() {
		p.mu.Lock()
		p.inflight[b.ID].cancel()
		delete(p.inflight, b.ID)
		p.mu.Unlock()
		p.queue.Add(key(r.Namespace, r.Service))
	}()
	select {
	case p.builds <- struct{}{}:
		defer func() { <-p.builds }()
	case <-bctx.Done():
		p.endCancelledBuild(ctx, b, r)
		return
	}

	now := p.opts.Clock.Now()
	b.Status = platform.BuildRunning
	b.StartedAt = &now
	b.FinishedAt = nil
	b.Error = ""
	if err := p.store.UpdateBuild(ctx, b); err != nil {
		p.logger.Error("update build", "build", b.ID, "err", err)
		return
	}
	p.publishBuild(ctx, b, r, platform.EventBuildStarted, fmt.Sprintf("building %s %s from %s", r.Service, r.Version, describeSource(b.Source)))

	log, err := p.logs.Open(b.ID)
	if err != nil {
		p.logger.Error("open build log", "build", b.ID, "err", err)
		return
	}
	b.Version = r.Version // for builders that label their artifact (oci)
	// The builder gets the URL as given, credentials included; the store and b keep
	// them sealed.
	in := *b
	in.Docs = nil // what this run's builder finds, if it reads docs
	in.Dev = p.namespaceDev(ctx, b.Namespace)
	src, err := p.openSource(b.Source)
	var artifact, commit string
	if err == nil {
		in.Source = src
		artifact, commit, err = p.opts.Builder.Build(bctx, &in, log)
	}
	log.Close()
	if bctx.Err() != nil {
		p.endCancelledBuild(ctx, b, r)
		return
	}

	done := p.opts.Clock.Now()
	b.FinishedAt = &done
	if err != nil {
		b.Status = platform.BuildFailed
		b.Error = buildError(err)
	} else {
		b.Status = platform.BuildSucceeded
		b.Artifact = artifact
		b.Digest = artifactDigest(artifact)
		b.Docs = in.Docs
		if commit != "" || b.Source.Kind == platform.SourceGit {
			b.Source.Commit = commit
		}
	}
	if err := p.store.UpdateBuild(ctx, b); err != nil {
		p.logger.Error("update build", "build", b.ID, "err", err)
		return
	}
	if b.Status == platform.BuildFailed {
		p.publishBuild(ctx, b, r, platform.EventBuildFailed, fmt.Sprintf("build of %s %s failed: %s", r.Service, r.Version, b.Error))
		return
	}
	p.publishBuild(ctx, b, r, platform.EventBuildSucceeded, fmt.Sprintf("built %s %s in %s", r.Service, r.Version, done.Sub(now).Round(100*time.Millisecond)))
}

// artifactDigest is the sha256 of an artifact: of the binary a local build left, or the
// digest an image reference pins ("" when it pins none).
func artifactDigest(artifact string) string {
	if _, d, ok := strings.Cut(artifact, "@sha256:"); ok {
		return "sha256:" + d
	}
	f, err := os.Open(artifact)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// endCancelledBuild records a build stopped because a newer deploy replaced it. A build
// stopped because the server shuts down is left as it is, to run again at the next start.
func (p *Plane) endCancelledBuild(ctx context.Context, b *platform.Build, r *platform.Release) {
	if ctx.Err() != nil {
		return
	}
	now := p.opts.Clock.Now()
	b.Status = platform.BuildFailed
	b.Error = "cancelled: a newer deploy replaced this release"
	b.FinishedAt = &now
	if err := p.store.UpdateBuild(ctx, b); err != nil {
		p.logger.Error("update build", "build", b.ID, "err", err)
	}
}

// buildError is what the user sees of a failed build: the builder's coded message (the
// compiler's output for a compile error), or the error itself for the build's owner.
func buildError(err error) string {
	if platform.ErrorCode(err) != platform.EINTERNAL {
		return platform.ErrorMessage(err)
	}
	return err.Error()
}

func describeSource(s platform.Source) string {
	if s.Kind == platform.SourceGit {
		d := s.PublicURL()
		if s.Ref != "" {
			d += "@" + s.Ref
		}
		if s.Path != "" {
			d += " (" + s.Path + ")"
		}
		return d
	}
	if len(s.Archive) > 12 {
		return "uploaded source " + s.Archive[:12]
	}
	return "uploaded source"
}

func (p *Plane) publishBuild(ctx context.Context, b *platform.Build, r *platform.Release, typ, msg string) {
	p.events.Publish(ctx, &platform.Event{
		Namespace: r.Namespace, Service: r.Service, Type: typ, Message: msg,
		Data: map[string]string{"release": r.ID, "build": b.ID, "version": r.Version},
	})
}

// sealStoredSources seals the credentials of git URLs that versions before sealing
// stored in clear: each such build keeps its PublicURL, and the URL as given sealed (a
// queued build still clones with it).
func (p *Plane) sealStoredSources(ctx context.Context) error {
	builds, err := p.store.ListBuilds(ctx, "", "", 0)
	if err != nil {
		return err
	}
	n := 0
	for _, b := range builds {
		if b.Source.Kind != platform.SourceGit || b.Source.SealedURL != "" {
			continue
		}
		src := p.sealSource(b.Source)
		if src.SealedURL == "" {
			continue
		}
		if err := p.store.SetBuildSourceURL(ctx, b.ID, src.URL, src.SealedURL); err != nil && !platform.IsNotFound(err) {
			return err
		}
		n++
	}
	if n > 0 {
		p.logger.Info("sealed the git credentials of builds stored before they were sealed", "builds", n)
	}
	return nil
}
