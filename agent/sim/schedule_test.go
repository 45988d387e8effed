package sim

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc"
)

// stuckMaster holds every heartbeat of one agent until release is closed,
// and counts the others' heartbeats meanwhile.
type stuckMaster struct {
	fakeMaster
	stuck      string
	held       chan struct{} // closed when the stuck agent's first heartbeat arrives
	heldOnce   sync.Once
	release    chan struct{}
	duringMu   sync.Mutex
	duringHeld map[string]int
}

func (m *stuckMaster) Heartbeat(ctx context.Context, in *rpc.HeartbeatRequest) (*rpc.HeartbeatResponse, error) {
	if in.AgentId == m.stuck {
		m.heldOnce.Do(func() { close(m.held) })
		select {
		case <-m.release:
		case <-ctx.Done():
		}
	} else {
		select {
		case <-m.held:
			select {
			case <-m.release:
			default:
				m.duringMu.Lock()
				m.duringHeld[in.AgentId]++
				m.duringMu.Unlock()
			}
		default:
		}
	}
	return m.fakeMaster.Heartbeat(ctx, in)
}

// TestPacedBeatsDoNotWaitForABusyWorker: with one beat worker stuck in a
// heartbeat that does not return, the other agents keep beating at their
// interval (a due beat gets a goroutine of its own), as independent agents do.
func TestPacedBeatsDoNotWaitForABusyWorker(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &stuckMaster{fakeMaster: fakeMaster{registered: map[string]string{}, beats: map[string]int{}},
		held: make(chan struct{}), release: make(chan struct{}), duringHeld: map[string]int{}}
	cfg := testConfig(lis.Addr().String())
	cfg.Agents, cfg.Duration = 5, 2*time.Second
	m.stuck = agentID(cfg.Prefix, 0)
	srv := grpc.NewServer()
	rpc.RegisterGridMasterServer(srv, m)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	opts, err := dialOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(lis.Addr().String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s := &simulator{cfg: cfg, clients: []rpc.GridMasterClient{rpc.NewGridMasterClient(conn)},
		given: make([]atomic.Uint32, cfg.Agents), workers: 1}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.paced(ctx, func(error) {})
	}()
	defer func() {
		close(m.release)
		cancel()
		<-done
	}()
	// Once the stuck agent holds the only worker, every other agent must
	// still beat (3 times each) before it is let go.
	waitfor.Until(t, 10*time.Second, "the other agents beating while one worker is stuck", func() (bool, string) {
		m.duringMu.Lock()
		defer m.duringMu.Unlock()
		for i := 1; i < cfg.Agents; i++ {
			if m.duringHeld[agentID(cfg.Prefix, i)] < 3 {
				return false, fmt.Sprintf("beats while held: %v", m.duringHeld)
			}
		}
		return true, ""
	})
}
