package events

import (
	"context"
	"time"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"golang.org/x/sync/errgroup"
)

// RunLeader runs the leader-only parts of the pipeline until ctx ends
// (leadership revoked or the master stopping): retention pruning, alert
// rules and webhook delivery. It returns nil then; the leader loop runs it
// under its errgroup and waits for it on revoke.
func (p *Pipeline) RunLeader(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.runRetention(ctx) })
	g.Go(func() error { return p.runAlerts(ctx) })
	for _, w := range p.cfg.Webhooks {
		g.Go(func() error { return p.runWebhook(ctx, w) })
	}
	return g.Wait()
}

// runRetention prunes every PruneEvery; it returns at once when retention
// keeps everything.
func (p *Pipeline) runRetention(ctx context.Context) error {
	if p.cfg.Retention <= 0 && p.cfg.MaxEvents == 0 {
		return nil // keep everything
	}
	logger := p.logger.Named("retention")
	ticker := time.NewTicker(p.cfg.PruneEvery)
	defer ticker.Stop()
	for {
		cmd := PruneCommand(time.Now(), p.cfg.Retention, p.cfg.MaxEvents)
		if removed, err := p.Prune(cmd); err != nil {
			logger.Warn("prune events failed", "error", err)
		} else if removed > 0 {
			logger.Info("pruned events", "removed", removed)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// PruneCommand is the command that enforces retention at now: events older
// than now-retention (0 = no age limit) go, and at most maxEvents (0 = no
// limit) are kept. It is nil when both limits are off.
func PruneCommand(now time.Time, retention time.Duration, maxEvents uint64) *rpc.PruneEventsCommand {
	if retention <= 0 && maxEvents == 0 {
		return nil
	}
	cmd := &rpc.PruneEventsCommand{KeepMax: maxEvents}
	if retention > 0 {
		cmd.Before = now.Add(-retention).UnixMicro()
	}
	return cmd
}

// Prune commits cmd when the event graph holds events it would remove;
// otherwise it writes nothing to Raft. It returns how many events the
// command removed. Leader only (the Applier refuses elsewhere).
func (p *Pipeline) Prune(cmd *rpc.PruneEventsCommand) (uint64, error) {
	if cmd == nil || !pruneNeeded(p.deps.Store.Events(), cmd) {
		return 0, nil
	}
	out, err := p.deps.Applier.Apply(fsm.PruneEventsType, cmd)
	if err != nil {
		return 0, err
	}
	removed, _ := out.(uint64)
	return removed, nil
}

// pruneNeeded reports whether cmd would remove anything, using index reads
// only: one event older than before, or more stored events than keep_max.
func pruneNeeded(store *eventstore.Store, cmd *rpc.PruneEventsCommand) bool {
	if cmd.Before > 0 {
		old, err := store.Events(eventstore.Filter{Until: cmd.Before, Limit: 1, Ascending: true})
		if err != nil || len(old) > 0 {
			return true // on error let the command decide
		}
	}
	if cmd.KeepMax > 0 {
		st, err := store.Stats() // counters, not a scan
		if err != nil || st.Events > cmd.KeepMax {
			return true
		}
	}
	return false
}
