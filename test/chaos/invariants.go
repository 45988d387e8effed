package chaos

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
)

// converge polls check until it reports no problem or bound passes; it
// returns the last problems (nil when it converged).
func converge(bound time.Duration, check func() []string) []string {
	var last []string
	waitfor.Eventually(bound, func() bool {
		last = check()
		return len(last) == 0
	})
	return last
}

// WaitHealthy polls until every live master is ready, they agree on one
// leader, and an event write through each of them is acknowledged. It
// returns how long that took, or an error after bound.
func WaitHealthy(env *Env, bound time.Duration) (time.Duration, error) {
	start := time.Now()
	var why string
	ok := waitfor.Eventually(bound, func() bool {
		why = healthy(env)
		return why == ""
	})
	if !ok {
		return time.Since(start), fmt.Errorf("not healthy after %s: %s", bound, why)
	}
	return time.Since(start), nil
}

// healthy returns "" when the cluster is healthy, else why not.
func healthy(env *Env) string {
	leader := ""
	live := env.LiveMasters()
	if len(live) == 0 {
		return "no live master"
	}
	for _, m := range live {
		ctx, cancel := harness.Ctx(2 * time.Second)
		r, err := m.Client().Ready(ctx, &rpc.Empty{})
		cancel()
		switch {
		case err != nil:
			return fmt.Sprintf("%s: %v", m.ID, err)
		case !r.Ready:
			return fmt.Sprintf("%s not ready: %s", m.ID, r.Reason)
		case leader != "" && r.LeaderId != leader:
			return fmt.Sprintf("%s follows %s, another master %s", m.ID, r.LeaderId, leader)
		}
		leader = r.LeaderId
	}
	for _, m := range live {
		ctx, cancel := harness.Ctx(3 * time.Second)
		_, err := m.Client().EmitEvents(ctx, &rpc.EmitEventsRequest{Source: "chaos-probe",
			Events: []*rpc.Event{rpc.NewEvent("chaos-probe", rpc.EventType_NODE_RESTARTED, "chaos-probe", nil)}})
		cancel()
		if err != nil {
			return fmt.Sprintf("write through %s: %v", m.ID, err)
		}
	}
	return ""
}

// CheckRegistry: every acknowledged registration is listed exactly once,
// and every acknowledged removal is absent, on every live master's replica.
func CheckRegistry(env *Env, rec *Recorder) []string {
	present, absent := rec.MustBePresent()
	return converge(env.Config.ConvergeBound, func() []string {
		var out []string
		for _, m := range env.LiveMasters() {
			ctx, cancel := harness.Ctx(5 * time.Second)
			l, err := m.Client().ListAgents(harness.Stale(ctx), &rpc.Empty{})
			cancel()
			if err != nil {
				return []string{fmt.Sprintf("%s: list agents: %v", m.ID, err)}
			}
			n := map[string]int{}
			for _, a := range l.Agents {
				n[a.AgentId]++
			}
			for _, id := range present {
				if n[id] != 1 {
					out = append(out, fmt.Sprintf("%s lists acknowledged agent %s %d times", m.ID, id, n[id]))
				}
			}
			for _, id := range absent {
				if n[id] != 0 {
					out = append(out, fmt.Sprintf("%s lists removed agent %s %d times", m.ID, id, n[id]))
				}
			}
		}
		return capList(out)
	})
}

// CheckEvents: every acknowledged event of the round is stored exactly once
// on every live master, an unacknowledged one at most once, nothing else.
func CheckEvents(env *Env, rec *Recorder) []string {
	producers, acked, ambiguous := rec.Events()
	if len(producers) == 0 {
		return nil
	}
	return converge(env.Config.ConvergeBound, func() []string {
		var out []string
		for _, m := range env.LiveMasters() {
			n, err := eventCounts(m, producers)
			if err != nil {
				return []string{fmt.Sprintf("%s: query events: %v", m.ID, err)}
			}
			for id := range acked {
				if n[id] != 1 {
					out = append(out, fmt.Sprintf("%s stores acknowledged event %s %d times", m.ID, id, n[id]))
				}
			}
			for id, c := range n {
				_, a := acked[id]
				_, amb := ambiguous[id]
				switch {
				case amb && c > 1:
					out = append(out, fmt.Sprintf("%s stores retried event %s %d times", m.ID, id, c))
				case !a && !amb:
					out = append(out, fmt.Sprintf("%s stores event %s nobody emitted", m.ID, id))
				}
			}
		}
		return capList(out)
	})
}

// eventCounts pages through m's own replica for the producers' events.
func eventCounts(m *harness.Master, producers []string) (map[string]int, error) {
	n := map[string]int{}
	var after uint64
	for {
		ctx, cancel := harness.Ctx(5 * time.Second)
		l, err := m.Client().QueryEvents(harness.Stale(ctx), &rpc.EventFilter{
			EntityIds: producers, After: after, Limit: 5000, Ascending: true, Stale: true})
		cancel()
		if err != nil {
			return nil, err
		}
		for _, e := range l.Events {
			n[e.Id]++
			after = max(after, e.Seq)
		}
		if len(l.Events) < 5000 {
			return n, nil
		}
	}
}

// CheckSameState: every live master reports the same registry and events hashes.
func CheckSameState(env *Env) []string {
	return converge(env.Config.ConvergeBound, func() []string {
		var first *rpc.StateHash
		for _, m := range env.LiveMasters() {
			ctx, cancel := harness.Ctx(3 * time.Second)
			h, err := m.Client().GetStateHash(ctx, &rpc.Empty{})
			cancel()
			if err != nil {
				return []string{fmt.Sprintf("%s: state hash: %v", m.ID, err)}
			}
			if first == nil {
				first = h
				continue
			}
			if h.RegistryHash != first.RegistryHash || h.EventsHash != first.EventsHash {
				return []string{fmt.Sprintf("%s state %.10s/%.10s (applied %d, %d agents, %d nodes, %d events) != %s %.10s/%.10s (applied %d, %d agents, %d nodes, %d events)",
					m.ID, h.RegistryHash, h.EventsHash, h.AppliedIndex, h.Agents, h.Nodes, h.Events,
					first.NodeId, first.RegistryHash, first.EventsHash, first.AppliedIndex, first.Agents, first.Nodes, first.Events)}
			}
		}
		return nil
	})
}

// CheckVerify: `grid operator verify`'s check: every master in the raft
// configuration reports the same digest (registry, event graph and event
// count, master events included) at one common raft index.
func CheckVerify(env *Env) []string {
	return converge(env.Config.ConvergeBound, func() []string {
		m := env.AnyMaster()
		if m == nil {
			return []string{"no live master"}
		}
		ctx, cancel := harness.Ctx(30 * time.Second)
		res, err := m.Client().VerifyReplicas(ctx, &rpc.Empty{})
		cancel()
		if err != nil {
			return []string{fmt.Sprintf("verify via %s: %v", m.ID, err)}
		}
		if res.Match {
			return nil
		}
		var out []string
		for _, r := range res.Replicas {
			if r.Hash == nil {
				out = append(out, fmt.Sprintf("%s: no digest at index %d: %s", r.Id, res.Index, r.Error))
				continue
			}
			out = append(out, fmt.Sprintf("%s: digest %.12s at index %d (%d events, %d agents, %d nodes)",
				r.Id, r.Hash.Digest, r.Hash.AppliedIndex, r.Hash.Events, r.Hash.Agents, r.Hash.Nodes))
		}
		return []string{"replica digests differ: " + strings.Join(out, "; ")}
	})
}

// CheckNodes: for every real agent, one storage-node process per node the
// registry says is running (with the registry's pid), no process for any
// other node id, every acknowledged spawn recorded with the right agent,
// and no process left for an acknowledged stop.
func CheckNodes(env *Env, rec *Recorder) []string {
	if len(env.Agents) == 0 {
		return nil
	}
	running, stopped := rec.Nodes()
	return converge(env.Config.ConvergeBound, func() []string {
		m := env.AnyMaster()
		if m == nil {
			return []string{"no live master"}
		}
		ctx, cancel := harness.Ctx(5 * time.Second)
		l, err := m.Client().ListStorageNodes(ctx, &rpc.Empty{})
		cancel()
		if err != nil {
			return []string{fmt.Sprintf("list storage nodes: %v", err)}
		}
		reg := map[string]*rpc.NodeStatus{}
		for _, n := range l.Nodes {
			reg[n.NodeId] = n
		}
		var out []string
		for node, agent := range running {
			n := reg[node]
			switch {
			case n == nil:
				out = append(out, fmt.Sprintf("acknowledged node %s is not in the registry", node))
			case n.AgentId != agent:
				out = append(out, fmt.Sprintf("node %s is on %s, was spawned on %s", node, n.AgentId, agent))
			}
		}
		for _, a := range env.Agents {
			procs := harness.StorageNodeProcs(a.DataDir)
			for node, pids := range procs {
				n := reg[node]
				switch {
				case len(pids) > 1:
					out = append(out, fmt.Sprintf("node %s runs %d processes %v", node, len(pids), pids))
				case n == nil:
					out = append(out, fmt.Sprintf("orphan process %v for node %q unknown to the registry", pids, node))
				case n.Status != "running":
					out = append(out, fmt.Sprintf("node %s is %s in the registry but process %v runs", node, n.Status, pids))
				case n.AgentId != a.ID:
					out = append(out, fmt.Sprintf("node %s runs under %s but the registry says %s", node, a.ID, n.AgentId))
				case n.Pid != 0 && int(n.Pid) != pids[0]:
					out = append(out, fmt.Sprintf("node %s runs as pid %d, the registry says %d", node, pids[0], n.Pid))
				}
			}
			for _, n := range l.Nodes {
				if n.AgentId == a.ID && n.Status == "running" && len(procs[n.NodeId]) == 0 {
					out = append(out, fmt.Sprintf("node %s is running in the registry but has no process", n.NodeId))
				}
			}
		}
		for _, node := range stopped {
			for _, a := range env.Agents {
				if pids := harness.StorageNodeProcs(a.DataDir)[node]; len(pids) > 0 {
					out = append(out, fmt.Sprintf("stopped node %s still runs as %v", node, pids))
				}
			}
		}
		sort.Strings(out)
		return capList(out)
	})
}

// capList keeps reports readable.
func capList(l []string) []string {
	if len(l) > 10 {
		return append(l[:10], fmt.Sprintf("... and %d more", len(l)-10))
	}
	return l
}

// joinProblems formats violations for a log line.
func joinProblems(l []string) string { return strings.Join(l, "; ") }
