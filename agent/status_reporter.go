package agent

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// StatusReporter delivers node state changes to the masters with
// ReportNodeStatus, retrying until acknowledged. Only the latest state of
// each node is kept: a newer report replaces one not yet delivered.
type StatusReporter struct {
	pool   *MasterPool
	logger hclog.Logger

	mu      sync.Mutex
	pending map[string]*rpc.NodeStatus
	wake    chan struct{}
}

// NewStatusReporter builds a reporter over pool.
func NewStatusReporter(pool *MasterPool, logger hclog.Logger) *StatusReporter {
	return &StatusReporter{
		pool:    pool,
		logger:  logger.Named("status"),
		pending: make(map[string]*rpc.NodeStatus),
		wake:    make(chan struct{}, 1),
	}
}

// ReportStatus queues st, replacing any undelivered state of the same node.
// It never blocks.
func (r *StatusReporter) ReportStatus(st *rpc.NodeStatus) {
	r.mu.Lock()
	r.pending[st.NodeId] = st
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Pending is the number of nodes whose state is not yet delivered.
func (r *StatusReporter) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// Run delivers states until ctx ends.
func (r *StatusReporter) Run(ctx context.Context) {
	backoff := Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for {
		next := r.next()
		if next == nil {
			select {
			case <-ctx.Done():
				return
			case <-r.wake:
				continue
			}
		}
		if err := r.send(ctx, next); err != nil {
			if ctx.Err() != nil || !waitCtx(ctx, backoff.Next()) {
				return
			}
			continue
		}
		backoff.Reset()
	}
}

// next picks the pending state with the smallest node id.
func (r *StatusReporter) next() *rpc.NodeStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) == 0 {
		return nil
	}
	ids := make([]string, 0, len(r.pending))
	for id := range r.pending {
		ids = append(ids, id)
	}
	return r.pending[slices.Min(ids)]
}

func (r *StatusReporter) send(ctx context.Context, st *rpc.NodeStatus) error {
	addr, client, err := r.pool.Current()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := client.ReportNodeStatus(cctx, st); err != nil {
		switch status.Code(err) {
		case codes.NotFound, codes.InvalidArgument, codes.Unimplemented:
			// The registry does not know this node (e.g. never committed):
			// reconciliation through ListNodes settles it; do not retry.
			r.logger.Warn("master refused node status; dropping it", "master", addr, "node_id", st.NodeId, "status", st.Status, "error", err)
		default:
			r.logger.Warn("could not report node status; trying another master", "master", addr, "node_id", st.NodeId, "error", err)
			r.pool.Failed(addr)
			return err
		}
	}
	r.mu.Lock()
	if r.pending[st.NodeId] == st {
		delete(r.pending, st.NodeId)
	}
	r.mu.Unlock()
	return nil
}
