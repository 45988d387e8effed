package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// simHeartbeatEvery is how often a simulated agent heartbeats (faster than
// the real agents' 5 s, to load the leader's heartbeat path).
const simHeartbeatEvery = time.Second

// SimAgents are goroutines that behave like agents: register, heartbeat
// through any master, re-register on NOT_FOUND. They run for the whole
// suite so the registry always holds live agents.
type SimAgents struct {
	load   *Load // only its call helper is used
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartSimAgents starts n simulated agents sim-agent-000...
func StartSimAgents(env *Env, rec *Recorder, n int) *SimAgents {
	ctx, cancel := context.WithCancel(context.Background())
	s := &SimAgents{load: &Load{env: env, rec: rec}, cancel: cancel}
	for i := range n {
		id := fmt.Sprintf("sim-agent-%03d", i)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.run(ctx, id)
		}()
	}
	return s
}

// Stop ends every simulated agent and waits.
func (s *SimAgents) Stop() {
	s.cancel()
	s.wg.Wait()
}

func (s *SimAgents) run(ctx context.Context, id string) {
	l := s.load
	registered := false
	// Spread the first heartbeats over an interval.
	if !pace(ctx, time.Duration(rand.Int64N(int64(simHeartbeatEvery)))) {
		return
	}
	for {
		if !registered {
			err := l.call(ctx, func(ctx context.Context, c rpc.GridMasterClient) error {
				_, err := c.RegisterAgent(ctx, &rpc.AgentInfo{AgentId: id, Hostname: "sim", Platform: "linux-x86_64", MaxStorageNodes: 5, AgentEndpoint: "127.0.0.1:1"})
				return err
			})
			if err == nil {
				l.rec.Registered(id, Acked)
				registered = true
			} else if ctx.Err() == nil {
				l.rec.Registered(id, Ambiguous)
			}
			l.rec.Count("sim register " + okOrErr(err))
		} else {
			err := l.call(ctx, func(ctx context.Context, c rpc.GridMasterClient) error {
				_, err := c.Heartbeat(ctx, &rpc.HeartbeatRequest{AgentId: id, Timestamp: uint64(time.Now().Unix())})
				return err
			})
			if status.Code(err) == codes.NotFound {
				if l.rec.IsAcked(id) {
					// The registry lost, or answered before catching up on, an acknowledged registration.
					l.rec.Violation(fmt.Sprintf("heartbeat of acknowledged agent %s answered NOT_FOUND: %v", id, err))
				}
				registered = false
				l.rec.Count("heartbeat not_found")
				continue
			}
			l.rec.Count("heartbeat " + okOrErr(err))
		}
		if !pace(ctx, simHeartbeatEvery) {
			return
		}
	}
}
