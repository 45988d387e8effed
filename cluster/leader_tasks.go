package cluster

import (
	"context"
	"sync"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sync/errgroup"
)

// leaderTasks runs the loops of the leader-only parts for one term of
// leadership under an errgroup: establishLeadership starts them, and
// revokeLeadership cancels them and waits for every goroutine they started.
type leaderTasks struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	group  *errgroup.Group
}

// start runs each task in the group with a context that ends on stop. A
// task returns nil when its context ends; an error is logged and cancels
// the other tasks of this term.
func (lt *leaderTasks) start(logger hclog.Logger, tasks map[string]func(context.Context) error) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	group, ctx := errgroup.WithContext(ctx)
	for name, run := range tasks {
		group.Go(func() error {
			err := run(ctx)
			if err != nil {
				logger.Error("leader task failed", "task", name, "error", err)
			}
			return err
		})
	}
	lt.cancel, lt.group = cancel, group
}

// stop cancels the running tasks and waits until every one has returned.
func (lt *leaderTasks) stop() {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if lt.cancel == nil {
		return
	}
	lt.cancel()
	_ = lt.group.Wait()
	lt.cancel, lt.group = nil, nil
}
