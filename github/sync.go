package github

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	gh "github.com/google/go-github/v93/github"

	platform "github.com/micro/platform"
)

// Start runs the membership sync until ctx ends: at once, every SyncInterval, and
// whenever a webhook asks. A sync that fails is logged and retried at the next tick; when
// GitHub's rate limit is exhausted the loop waits for its reset (logging that once).
// Without a SyncToken there is nothing to sync with: Start logs that and waits for ctx.
// It returns nil when ctx ends.
func (i *Integration) Start(ctx context.Context) error {
	i.checkLinks(ctx)
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
// with links none of which Config.Organizations allows is left unchanged, with a
// warning (once) naming github.organizations; so is an organisation
// whose teams cannot all be read (a partial list must not remove
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
	orgs, err := i.dir.ListOrgs(ctx)
	if err != nil {
		return fmt.Errorf("sync: list organisations: %w", err)
	}
	links, err := i.dir.ListGitHubLinks(ctx, "")
	if err != nil {
		return fmt.Errorf("sync: read GitHub links: %w", err)
	}
	set := i.splitLinks(links)
	var errs []error
	for _, o := range orgs {
		if set.frozen[o.Name] {
			continue // splitLinks warned
		}
		if err := i.syncOrg(ctx, c, o.Name, set.allowed[o.Name]); err != nil {
			errs = append(errs, fmt.Errorf("sync %s: %w", o.Name, err))
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

// syncOrg converges one organisation with its links (none: every membership GitHub
// granted goes).
func (i *Integration) syncOrg(ctx context.Context, c *gh.Client, org string, links []*platform.GitHubLink) error {
	type want struct {
		id    Identity
		grant grant
	}
	desired := map[int64]*want{}
	for _, l := range links {
		members, err := teamMembers(ctx, c, l.GitHubOrg, l.Team)
		if err != nil {
			return err
		}
		for _, m := range members {
			d := desired[m.ID]
			if d == nil {
				d = &want{id: m}
				desired[m.ID] = d
			}
			d.grant.role = platform.MaxRole(d.grant.role, l.Role)
			d.grant.teams = append(d.grant.teams, l.GitHubOrg+"/"+l.Team)
		}
	}
	members, err := i.dir.ListMembers(ctx, org)
	if err != nil {
		return fmt.Errorf("list members: %w", err)
	}
	have := map[int64]*platform.Member{}
	for _, m := range members {
		if m.GitHubID != 0 {
			have[m.GitHubID] = m
		}
	}
	var added, changed, removed int
	for _, ghID := range sortedIDs(desired) {
		d := desired[ghID]
		sort.Strings(d.grant.teams)
		m, ok := have[ghID]
		if ok && (m.RoleSource != platform.MemberGitHubTeam || (m.Role == d.grant.role && slices.Equal(m.Teams, d.grant.teams))) {
			continue // up to date, or set by an owner, which GitHub does not override
		}
		var u *platform.User
		if ok {
			u = &m.User
		} else if u, err = i.dir.UpsertGitHubUser(ctx, &platform.User{Login: d.id.Login, Source: platform.UserGitHub, GitHubID: d.id.ID}); err != nil {
			return fmt.Errorf("record user %s: %w", d.id.Login, err)
		} else if !u.Active() {
			i.refuseInactive(ctx, org, u, d.grant)
			continue
		}
		if err := i.dir.PutMembership(ctx, &platform.Membership{Org: org, UserID: u.ID, Role: d.grant.role, Source: platform.MemberGitHubTeam, Teams: d.grant.teams, UpdatedAt: i.now()}); err != nil {
			return fmt.Errorf("set membership of %s: %w", d.id.Login, err)
		}
		e := &platform.AuditEntry{Org: org, Action: platform.AuditRoleChange, Outcome: platform.AuditOK, Target: "user/" + u.Login}
		if ok {
			changed++
			e.Detail = fmt.Sprintf("GitHub sync: role %s → %s (%s)", m.Role, d.grant.role, strings.Join(d.grant.teams, ", "))
		} else {
			added++
			e.Detail = fmt.Sprintf("GitHub sync: added with role %s (%s)", d.grant.role, strings.Join(d.grant.teams, ", "))
		}
		i.audit(ctx, e)
	}
	for _, ghID := range sortedIDs(have) {
		m := have[ghID]
		if _, ok := desired[ghID]; ok || m.RoleSource != platform.MemberGitHubTeam {
			continue
		}
		if err := i.removeMember(ctx, org, m.ID, m.Login, "GitHub sync: no longer in a linked GitHub team"); err != nil {
			return err
		}
		removed++
	}
	i.log.Info("GitHub membership sync", "org", org, "members", len(desired), "added", added, "changed", changed, "removed", removed)
	return nil
}

// refuseInactive refuses to make a disabled or deleted user a member of org. Disabling
// applies across organisations and may only be undone by owners of all the user's
// organisations, so a membership added here would leave them disabled where nobody
// could enable them. Refused once per organisation and user for the life of the
// integration (the sync runs every few minutes): logged at warn level and audited in org.
func (i *Integration) refuseInactive(ctx context.Context, org string, u *platform.User, g grant) {
	if i.refusedInactive[org+"\x00"+u.ID] {
		return
	}
	i.refusedInactive[org+"\x00"+u.ID] = true
	i.log.Warn("GitHub sync: disabled or deleted user not added", "org", org, "login", u.Login, "user", u.ID)
	i.audit(ctx, &platform.AuditEntry{Org: org, Action: platform.AuditRoleChange, Outcome: platform.AuditDenied, Target: "user/" + u.Login,
		Detail: fmt.Sprintf("GitHub sync: not added with role %s (%s): the platform user is disabled or deleted", g.role, strings.Join(g.teams, ", "))})
}

// removeMember removes a membership GitHub granted and revokes the user's sessions and
// tokens in org, at once.
func (i *Integration) removeMember(ctx context.Context, org, userID, login, why string) error {
	if err := i.dir.DeleteMembership(ctx, org, userID); err != nil && platform.ErrorCode(err) != platform.ENOTFOUND {
		return fmt.Errorf("remove membership of %s: %w", login, err)
	}
	revoked, err := i.dir.DeleteUserTokens(ctx, userID, org)
	if err != nil {
		return fmt.Errorf("revoke credentials of %s: %w", login, err)
	}
	i.log.Info("GitHub member removed", "org", org, "login", login, "tokens_revoked", len(revoked))
	i.audit(ctx, &platform.AuditEntry{Org: org, Action: platform.AuditMemberRemove, Outcome: platform.AuditOK, Target: "user/" + login,
		Detail: fmt.Sprintf("%s; %d session(s) and token(s) revoked", why, len(revoked))})
	return nil
}

func sortedIDs[V any](m map[int64]V) []int64 {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
