package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// callTimeout bounds one client call: a paused or partitioned master makes
// calls to it fail, not hang.
const callTimeout = 5 * time.Second

// Load is the concurrent client workload of one round: registrations and
// unregistrations, event emission, spawns and stops, and the porcupine
// register/unregister/read workload. Stop ends it and waits.
type Load struct {
	env    *Env
	rec    *Recorder
	round  int
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// LoadPlan says what a round's load does besides the steady heartbeats.
type LoadPlan struct {
	// Unregister lists agent ids (from an earlier round) to remove.
	Unregister []string
	// Stop lists storage nodes (from an earlier round) to stop.
	Stop []string
}

// StartLoad starts round's workers.
func StartLoad(env *Env, rec *Recorder, round int, plan LoadPlan) *Load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Load{env: env, rec: rec, round: round, cancel: cancel}
	l.spawn(func() { l.registrar(ctx, plan.Unregister) })
	for k := range 2 {
		l.spawn(func() { l.emitter(ctx, fmt.Sprintf("chaos-producer-r%d-%d", round, k)) })
	}
	keys := []string{fmt.Sprintf("lin-r%d-a", round), fmt.Sprintf("lin-r%d-b", round)}
	for range 3 {
		l.spawn(func() { l.linClient(ctx, keys) })
	}
	if len(env.Agents) > 0 {
		l.spawn(func() { l.spawner(ctx, plan.Stop) })
	}
	return l
}

func (l *Load) spawn(f func()) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		f()
	}()
}

// Stop ends the round's workers and waits for them.
func (l *Load) Stop() {
	l.cancel()
	l.wg.Wait()
}

// call runs f against a random live master with a per-call deadline.
func (l *Load) call(ctx context.Context, f func(ctx context.Context, c rpc.GridMasterClient) error) error {
	m := l.env.AnyMaster()
	if m == nil {
		return status.Error(codes.Unavailable, "no live master")
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	return f(cctx, m.Client())
}

// pace waits d or until ctx ends; false means stop.
func pace(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// registrar registers fresh agent ids and removes the ones in old.
func (l *Load) registrar(ctx context.Context, old []string) {
	for n := 0; ; n++ {
		id := fmt.Sprintf("reg-r%d-%d", l.round, n)
		err := l.call(ctx, func(ctx context.Context, c rpc.GridMasterClient) error {
			_, err := c.RegisterAgent(ctx, &rpc.AgentInfo{AgentId: id, Hostname: "chaos", Platform: "linux-x86_64", MaxStorageNodes: 1, AgentEndpoint: "127.0.0.1:1"})
			return err
		})
		if ctx.Err() != nil && err != nil {
			l.rec.Registered(id, Ambiguous)
			return
		}
		l.rec.Registered(id, outcome(err))
		l.rec.Count("register " + okOrErr(err))
		if len(old) > 0 {
			gone := old[0]
			err := l.call(ctx, func(ctx context.Context, c rpc.GridMasterClient) error {
				_, err := c.UnregisterAgent(ctx, &rpc.AgentId{AgentId: gone})
				return err
			})
			switch {
			case err == nil || status.Code(err) == codes.NotFound:
				// NOT_FOUND: a retried removal, or a registration that never landed.
				l.rec.Unregistered(gone, Acked)
				old = old[1:]
			default:
				l.rec.Unregistered(gone, Ambiguous)
			}
			l.rec.Count("unregister " + okOrErr(err))
		}
		if !pace(ctx, 150*time.Millisecond) {
			return
		}
	}
}

// emitter sends batches of events with producer-made ids, retrying a batch
// with the same ids until it is acknowledged.
func (l *Load) emitter(ctx context.Context, entity string) {
	l.rec.Producer(entity)
	source := "chaos-" + entity
	for {
		var batch []*rpc.Event
		for range 5 {
			batch = append(batch, rpc.NewEvent(source, rpc.EventType_NODE_RESTARTED, entity, map[string]string{"chaos": "load"}))
		}
		for {
			err := l.call(ctx, func(ctx context.Context, c rpc.GridMasterClient) error {
				_, err := c.EmitEvents(ctx, &rpc.EmitEventsRequest{Events: batch, Source: source})
				return err
			})
			for _, e := range batch {
				l.rec.Event(e.Id, entity, outcome(err))
			}
			l.rec.Count("emit " + okOrErr(err))
			if err == nil || ctx.Err() != nil {
				break
			}
			if !pace(ctx, 100*time.Millisecond) {
				return
			}
		}
		if !pace(ctx, 100*time.Millisecond) {
			return
		}
	}
}

// linClient runs random register/unregister/read operations on keys and
// records them for porcupine.
func (l *Load) linClient(ctx context.Context, keys []string) {
	for {
		key := keys[rand.IntN(len(keys))]
		var in RegOp
		switch p := rand.IntN(10); {
		case p < 4:
			in = RegOp{Kind: "register", Key: key}
		case p < 6:
			in = RegOp{Kind: "unregister", Key: key}
		default:
			in = RegOp{Kind: "read", Key: key}
		}
		call := l.rec.Now()
		var out RegResult
		err := l.call(ctx, func(cctx context.Context, c rpc.GridMasterClient) error {
			switch in.Kind {
			case "register":
				_, err := c.RegisterAgent(cctx, &rpc.AgentInfo{AgentId: key, Hostname: "lin", Platform: "linux-x86_64", MaxStorageNodes: 1, AgentEndpoint: "127.0.0.1:1"})
				return err
			case "unregister":
				_, err := c.UnregisterAgent(cctx, &rpc.AgentId{AgentId: key})
				return err
			}
			list, err := c.ListAgents(cctx, &rpc.Empty{})
			if err == nil {
				for _, a := range list.Agents {
					out.Present = out.Present || a.AgentId == key
				}
			}
			return err
		})
		ret := l.rec.Now()
		switch {
		case err == nil:
		case in.Kind == "unregister" && status.Code(err) == codes.NotFound:
			out.NotFound = true
		case in.Kind == "read":
			ret = -1 // a failed read tells nothing
		default:
			out.Ambiguous = true
		}
		if ret >= 0 {
			l.rec.Op(porcupine.Operation{ClientId: 0, Input: in, Call: call, Output: out, Return: ret})
		}
		l.rec.Count(in.Kind + " " + okOrErr(err))
		if !pace(ctx, time.Duration(20+rand.IntN(60))*time.Millisecond) {
			return
		}
	}
}

// spawner starts one storage node per agent (a client-chosen id, retried
// until acknowledged) and stops the nodes in old.
func (l *Load) spawner(ctx context.Context, old []string) {
	for _, a := range l.env.Agents {
		node := fmt.Sprintf("node-r%d-%s", l.round, a.ID)
		for {
			err := l.call(ctx, func(ctx context.Context, c rpc.GridMasterClient) error {
				_, err := c.SpawnStorageNode(ctx, &rpc.SpawnRequest{AgentId: a.ID, NodeId: node, MemoryLimitMb: 256})
				return err
			})
			l.rec.Spawned(node, a.ID, outcome(err))
			l.rec.Count("spawn " + okOrErr(err))
			if err == nil || ctx.Err() != nil || !pace(ctx, 200*time.Millisecond) {
				break
			}
		}
	}
	for _, node := range old {
		for {
			err := l.call(ctx, func(ctx context.Context, c rpc.GridMasterClient) error {
				_, err := c.StopStorageNode(ctx, &rpc.StopRequest{NodeId: node})
				return err
			})
			acked := err == nil || status.Code(err) == codes.NotFound
			if acked {
				l.rec.Stopped(node, Acked)
			} else {
				l.rec.Stopped(node, Ambiguous)
			}
			l.rec.Count("stop " + okOrErr(err))
			if acked || ctx.Err() != nil || !pace(ctx, 200*time.Millisecond) {
				break
			}
		}
	}
}

func outcome(err error) Outcome {
	if err == nil {
		return Acked
	}
	return Ambiguous
}

func okOrErr(err error) string {
	if err == nil {
		return "ok"
	}
	return "error"
}
