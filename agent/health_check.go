package agent

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// HealthChecker calls StorageService.HealthCheck on every running node each
// interval. A node that fails Failures checks in a row (a deadlock, a
// SIGSTOP) is handed to the Supervisor, which emits node_unhealthy and
// restarts it under its restart budget. A process that exits is not its
// business: the Supervisor sees exits directly.
type HealthChecker struct {
	sup      *Supervisor
	interval time.Duration
	failures int
	logger   hclog.Logger
	// observe records a successful check's latency (metrics); may be nil.
	observe func(nodeID string, d time.Duration)
	// forgotten is told of a node no longer supervised; may be nil.
	forgotten func(nodeID string)

	mu sync.Mutex
	// failed counts consecutive failures by node and process (pid).
	failed   map[string]int
	failedAt map[string]uint32
	inFlight map[string]bool
}

// NewHealthChecker checks sup's nodes every interval; failures <= 0 turns
// restarts off (checks still feed the latency metric).
func NewHealthChecker(sup *Supervisor, interval time.Duration, failures int, logger hclog.Logger) *HealthChecker {
	return &HealthChecker{sup: sup, interval: interval, failures: failures, logger: logger.Named("health_check"),
		failed: map[string]int{}, failedAt: map[string]uint32{}, inFlight: map[string]bool{}}
}

// Run checks until ctx ends. Each check of a node runs on its own and times
// out within the interval, so a hung node neither delays the others nor
// stretches its own cadence.
func (h *HealthChecker) Run(ctx context.Context) {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		seen := map[string]bool{}
		for _, n := range h.sup.List() {
			id := n.GetNodeId()
			seen[id] = true
			if n.GetStatus() != rpc.NodeRunning || n.GetPort() == 0 {
				continue
			}
			h.mu.Lock()
			busy := h.inFlight[id]
			h.inFlight[id] = true
			h.mu.Unlock()
			if !busy {
				go h.check(ctx, id, n.GetPid(), n.GetPort())
			}
		}
		h.forget(seen)
	}
}

// timeout is how long one check may take: most of an interval, at most 5 s.
func (h *HealthChecker) timeout() time.Duration {
	return min(h.interval*4/5, 5*time.Second)
}

func (h *HealthChecker) check(ctx context.Context, id string, pid, port uint32) {
	defer func() {
		h.mu.Lock()
		delete(h.inFlight, id)
		h.mu.Unlock()
	}()
	start := time.Now()
	err := probeNode(ctx, port, h.timeout())
	if ctx.Err() != nil {
		return
	}
	h.mu.Lock()
	if h.failedAt[id] != pid {
		h.failed[id], h.failedAt[id] = 0, pid
	}
	if err == nil {
		h.failed[id] = 0
		h.mu.Unlock()
		if h.observe != nil {
			h.observe(id, time.Since(start))
		}
		return
	}
	h.failed[id]++
	count := h.failed[id]
	h.mu.Unlock()
	h.logger.Debug("node health check failed", "node_id", id, "pid", pid, "failures", count, "error", err)
	if h.failures <= 0 || count < h.failures {
		return
	}
	reason := "health check failed " + strconv.Itoa(count) + " times in a row: " + err.Error()
	if h.sup.Unhealthy(id, pid, count, reason) {
		h.mu.Lock()
		h.failed[id] = 0
		h.mu.Unlock()
	}
}

// forget drops the counts of nodes no longer supervised.
func (h *HealthChecker) forget(seen map[string]bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id := range h.failedAt {
		if !seen[id] {
			delete(h.failed, id)
			delete(h.failedAt, id)
			if h.forgotten != nil {
				h.forgotten(id)
			}
		}
	}
}

// probeNode calls HealthCheck on the node serving plaintext gRPC on port of
// this host.
func probeNode(ctx context.Context, port uint32, timeout time.Duration) error {
	conn, err := grpc.NewClient("127.0.0.1:"+strconv.Itoa(int(port)), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err = rpc.NewStorageServiceClient(conn).HealthCheck(cctx, &rpc.HealthCheckRequest{})
	return err
}
