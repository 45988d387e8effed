package cluster

import (
	"time"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
)

// startEventLeaderTasks starts the leader's retention pruning, bound to
// stopCh (closed when leadership is lost). It returns at once.
func (m *Master) startEventLeaderTasks(stopCh <-chan struct{}) {
	cfg := m.config.Events
	if cfg.Retention <= 0 && cfg.MaxEvents == 0 {
		return // keep everything
	}
	every := cfg.PruneEvery
	if every <= 0 {
		every = DefaultEventConfig().PruneEvery
	}
	logger := m.pipeline().logger.Named("retention")
	go func() {
		ticker := time.NewTicker(every)
		defer ticker.Stop()
		for {
			if removed, err := m.pruneEvents(time.Now(), cfg); err != nil {
				logger.Warn("prune events failed", "error", err)
			} else if removed > 0 {
				logger.Info("pruned events", "removed", removed)
			}
			select {
			case <-stopCh:
				return
			case <-ticker.C:
			}
		}
	}()
}

// pruneEvents commits a prune command when the event graph holds events
// older than cfg.Retention or more than cfg.MaxEvents; otherwise it writes
// nothing to Raft. It returns how many events the command removed.
func (m *Master) pruneEvents(now time.Time, cfg EventConfig) (uint64, error) {
	cmd := &rpc.PruneEventsCommand{KeepMax: cfg.MaxEvents}
	if cfg.Retention > 0 {
		cmd.Before = now.Add(-cfg.Retention).UnixMicro()
	}
	if !pruneNeeded(m.fsm.Events(), cmd) {
		return 0, nil
	}
	out, err := m.raftApply(fsm.PruneEventsType, cmd)
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
