package github

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	gh "github.com/google/go-github/v93/github"

	platform "github.com/micro/platform"
)

// syncActor is the audit actor of changes the sync makes.
const syncActor = "github-sync"

// Start runs the membership sync until ctx ends: at once, every SyncInterval, and
// whenever a webhook asks. A sync that fails is logged and retried at the next tick; when
// GitHub's rate limit is exhausted the loop waits for its reset (logging that once).
// Without a SyncToken there is nothing to sync with: Start logs that and waits for ctx.
// It returns nil when ctx ends.
func (i *Integration) Start(ctx context.Context) error {
	if i.cfg.SyncToken == "" {
		i.log.Warn("GitHub membership sync disabled: no sync token configured; memberships change only at sign-in")
		<-ctx.Done()
		return nil
	}
	interval := i.cfg.syncInterval()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var limitedUntil time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-i.kick:
			if wait := limitedUntil.Sub(i.now()); wait > 0 {
				continue // the timer fires at the reset and runs the sync then
			}
			timer.Stop()
		}
		err := i.Sync(ctx)
		next := interval
		var rl *RateLimitedError
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.As(err, &rl):
			if limitedUntil.IsZero() {
				i.log.Warn("GitHub rate limit exhausted: sync paused until the reset", "reset", rl.Reset.UTC().Format(time.RFC3339))
			}
			limitedUntil = rl.Reset
			next = max(rl.Reset.Sub(i.now())+time.Second, time.Second)
		case err != nil:
			limitedUntil = time.Time{}
			i.log.Error("GitHub membership sync failed", "err", err)
		default:
			if !limitedUntil.IsZero() {
				i.log.Info("GitHub rate limit reset: sync resumed")
			}
			limitedUntil = time.Time{}
		}
		timer.Reset(next)
	}
}

// Sync converges every linked organisation's GitHub memberships with its linked teams
// once: people in a linked team become members with the highest role of their teams;
// members in none lose the membership and their sessions and tokens. An organisation
// whose teams cannot all be read is left unchanged (a partial list must not remove
// anyone); the errors of all organisations are joined. A revoked sync token is
// EUNAUTHENTICATED; an exhausted rate limit is EUNAVAILABLE wrapping *RateLimitedError.
func (i *Integration) Sync(ctx context.Context) error {
	if i.cfg.SyncToken == "" {
		return platform.Errorf(platform.EINVALID, "github: no sync token configured").
			WithHint("set a GitHub token with read:org on the linked organisations")
	}
	i.syncMu.Lock()
	defer i.syncMu.Unlock()
	c, err := i.syncClient()
	if err != nil {
		return err
	}
	var errs []error
	for _, o := range i.cfg.Orgs {
		if err := i.syncOrg(ctx, c, o); err != nil {
			errs = append(errs, fmt.Errorf("sync %s: %w", o.Org, err))
			var rl *RateLimitedError
			if errors.As(err, &rl) || platform.ErrorCode(err) == platform.EUNAUTHENTICATED {
				break // the other organisations would fail the same way
			}
		}
	}
	return errors.Join(errs...)
}

// syncClient is the go-github client of the sync token. It is kept so that go-github
// remembers the rate limit between syncs and does not call GitHub before the reset.
func (i *Integration) syncClient() (*gh.Client, error) {
	if i.sync != nil {
		return i.sync, nil
	}
	c, err := newAPIClient(i.cfg, i.hc, i.cfg.SyncToken)
	if err != nil {
		return nil, err
	}
	i.sync = c
	return c, nil
}

// syncOrg converges one organisation.
func (i *Integration) syncOrg(ctx context.Context, c *gh.Client, o OrgLink) error {
	type want struct {
		id   Identity
		role Role
	}
	desired := map[int64]*want{}
	for _, t := range o.Teams {
		members, err := teamMembers(ctx, c, o.GitHubOrg, t.Slug)
		if err != nil {
			return err
		}
		for _, m := range members {
			if d, ok := desired[m.ID]; ok {
				d.role = d.role.Higher(t.Role)
				continue
			}
			desired[m.ID] = &want{id: m, role: t.Role}
		}
	}
	current, err := i.dir.GitHubMembers(ctx, o.Org)
	if err != nil {
		return fmt.Errorf("list members: %w", err)
	}
	have := map[int64]Member{}
	for _, m := range current {
		have[m.GitHubID] = m
	}
	var added, changed, removed int
	for ghID, d := range desired {
		m, ok := have[ghID]
		if ok && m.Role == d.role {
			continue
		}
		userID := m.UserID
		if !ok {
			if userID, err = i.dir.UpsertGitHubUser(ctx, d.id); err != nil {
				return fmt.Errorf("record user %s: %w", d.id.Login, err)
			}
		}
		if err := i.dir.SetMembership(ctx, o.Org, userID, d.role); err != nil {
			return fmt.Errorf("set membership of %s: %w", d.id.Login, err)
		}
		e := AuditEntry{Org: o.Org, Actor: syncActor, Target: "user:" + userID}
		if ok {
			changed++
			e.Action, e.Detail = ActionMemberRoleChange, fmt.Sprintf("%s: role %s → %s (GitHub teams)", d.id.Login, m.Role, d.role)
		} else {
			added++
			e.Action, e.Detail = ActionMemberAdded, fmt.Sprintf("%s: role %s (GitHub teams)", d.id.Login, d.role)
		}
		i.audit(ctx, e)
	}
	for ghID, m := range have {
		if _, ok := desired[ghID]; ok {
			continue
		}
		if err := i.dir.RemoveMembership(ctx, o.Org, m.UserID); err != nil {
			return fmt.Errorf("remove membership of %s: %w", m.Login, err)
		}
		if err := i.dir.RevokeUser(ctx, o.Org, m.UserID); err != nil {
			return fmt.Errorf("revoke credentials of %s: %w", m.Login, err)
		}
		removed++
		i.audit(ctx, AuditEntry{Org: o.Org, Actor: syncActor, Action: ActionMemberRemoved, Target: "user:" + m.UserID,
			Detail: m.Login + ": no longer in a linked GitHub team; sessions and tokens revoked"})
	}
	i.log.Info("GitHub membership sync", "org", o.Org, "github_org", o.GitHubOrg, "members", strconv.Itoa(len(desired)),
		"added", added, "changed", changed, "removed", removed)
	return nil
}
