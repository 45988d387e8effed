package cluster

import (
	"context"
	"sync"

	"golang.org/x/sync/errgroup"
)

// leaderTasks runs the leader-only parts of one leadership term under an
// errgroup: establishLeadership starts them after the barrier, and
// revokeLeadership cancels their context and waits for every goroutine they
// started. None runs as a bare `go`.
type leaderTasks struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	group  *errgroup.Group
}

// start runs each task in the group with a context that ends on stop.
func (t *leaderTasks) start(tasks ...func(ctx context.Context) error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	g, ctx := errgroup.WithContext(ctx)
	for _, task := range tasks {
		g.Go(func() error { return task(ctx) })
	}
	t.cancel, t.group = cancel, g
}

// stop cancels the tasks and waits for them; it returns the first error
// a task returned (nil when none ran).
func (t *leaderTasks) stop() error {
	t.mu.Lock()
	cancel, g := t.cancel, t.group
	t.cancel, t.group = nil, nil
	t.mu.Unlock()
	if g == nil {
		return nil
	}
	cancel()
	return g.Wait()
}
