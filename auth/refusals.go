package auth

import (
	"context"
	"time"

	platform "github.com/micro/platform"
)

// maxRefusalWrites bounds the audit writes in flight: a flood of refused tokens must not
// pile up goroutines; past it, refusals are not recorded (the cache still refuses them).
const maxRefusalWrites = 16

// refusalLog writes to the audit log that a token was refused because of its user's
// state. It is called once per store lookup (at most once per TTL per token), never per
// request.
type refusalLog struct {
	store platform.AuditStore
	slots chan struct{}
}

func newRefusalLog(store platform.AuditStore) *refusalLog {
	return &refusalLog{store: store, slots: make(chan struct{}, maxRefusalWrites)}
}

// record writes the refusal in the background; a nil log does nothing.
func (l *refusalLog) record(ctx context.Context, tok *platform.Token) {
	if l == nil {
		return
	}
	e := &platform.AuditEntry{
		Org: tok.OrgName(), Actor: tok.User, ActorID: tok.UserID, TokenID: tok.ID,
		Action: platform.AuditTokenRefused, Target: "token/" + tok.ID, Outcome: platform.AuditDenied,
		Source: platform.SourceFromContext(ctx), Detail: errInactive.Message,
	}
	select {
	case l.slots <- struct{}{}:
	default:
		return
	}
	go func() {
		defer func() { <-l.slots }()
		wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = l.store.AppendAudit(wctx, e) // best effort: the refusal itself does not depend on it
	}()
}
