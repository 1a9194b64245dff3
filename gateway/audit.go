package gateway

import (
	"context"
	"log/slog"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
)

// denialQueue bounds the refusals waiting to be written: a flood of refused calls must
// neither block the data path nor grow memory, so past this many the rest are counted
// and logged, not written.
const denialQueue = 1024

// denialLog writes refused gateway calls to the audit log from one goroutine, off the
// request path.
type denialLog struct {
	store   platform.AuditStore
	logger  *slog.Logger
	entries chan *platform.AuditEntry
}

func newDenialLog(store platform.AuditStore, logger *slog.Logger) *denialLog {
	return &denialLog{store: store, logger: logger, entries: make(chan *platform.AuditEntry, denialQueue)}
}

// record queues the audit entry of a refused call; a nil log does nothing.
func (d *denialLog) record(tok *platform.Token, ns, service, source string, err error) {
	if d == nil || platform.ErrorCode(err) != platform.EFORBIDDEN {
		return
	}
	e := &platform.AuditEntry{
		Org: tok.OrgName(), Actor: tok.User, ActorID: tok.UserID, TokenID: tok.ID,
		Action: string(authz.ServiceCall), Target: "service/" + ns + "/" + service,
		Outcome: platform.AuditDenied, Source: source, Detail: platform.ErrorMessage(err), Time: time.Now().UTC(),
	}
	if e.Actor == "" {
		e.Actor = "token:" + tok.Name
	}
	select {
	case d.entries <- e:
	default:
		d.logger.Warn("gateway: audit queue full; a refused call is not in the audit log", "target", e.Target, "actor", e.Actor)
	}
}

// run writes queued entries until ctx ends, then what is left with a short deadline.
func (d *denialLog) run(ctx context.Context) {
	for {
		select {
		case e := <-d.entries:
			d.write(ctx, e)
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			for {
				select {
				case e := <-d.entries:
					d.write(fctx, e)
				default:
					return
				}
			}
		}
	}
}

func (d *denialLog) write(ctx context.Context, e *platform.AuditEntry) {
	if err := d.store.AppendAudit(ctx, e); err != nil {
		d.logger.Warn("gateway: audit log write failed", "target", e.Target, "err", err)
	}
}
