package test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
)

const (
	gridMaster = "grid.GridMaster"
	gridAgent  = "agent.GridAgent"
	storageSvc = "sutra.storage.StorageService"
)

// Issue #19's acceptance: a client built from the seeds' own protocol files
// (compiled at test time, spoken with dynamic messages: no derived code in
// the repository) against three real masters and a real agent; then the
// same scenario with Grid's generated stubs.
func TestSeedProtocolClient(t *testing.T) {
	if !agentBuilt(t) {
		t.Skip("grid agent is not built yet")
	}
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	c := harness.NewCluster(t, harness.Options{MasterArgs: nodeLiveness})
	a := c.AddAgent("agent-seedwire", harness.AgentOptions{MaxNodes: 4})
	waitStatus(t, c, a.ID, "healthy")
	s := &seedScenario{c: c, agent: a, version: binaryVersion(t, bin), started: started}
	t.Run("seed files, dynamic messages", func(t *testing.T) { s.run(t, seedProtocol(t), "seed", 10) })
	t.Run("grid stubs", func(t *testing.T) { s.run(t, gridProtocol(), "stub", 12) })
}

type seedScenario struct {
	c       *harness.Cluster
	agent   *harness.Agent
	version string
	started time.Time
}

// conns are the scenario's connections: a follower (every write is
// forwarded to the leader), the leader and the real agent.
type conns struct{ follower, leader, agent *grpc.ClientConn }

func (s *seedScenario) run(t *testing.T, p *wireProtocol, tag string, portOffset int) {
	leader := s.c.WaitLeader(30 * time.Second)
	cc := conns{dialInsecure(t, s.c.Followers(leader)[0].GRPC), dialInsecure(t, leader.GRPC), dialInsecure(t, s.agent.GRPC)}
	fakeID := "seed-agent-" + tag
	s.registerAndBeat(t, p, cc, fakeID, tag)

	port := s.agent.PortFrom + portOffset
	// A storage path is relative to the agent's data dir; records and the
	// process show it resolved.
	rel := "seed-wire/" + tag
	path := filepath.Join(s.agent.DataDir, rel)
	nodeID := s.spawn(t, p, cc, port, rel, path)
	s.agentDirect(t, p, cc, nodeID, port, rel, path)
	s.clusterViews(t, p, cc, nodeID)
	s.masterStorage(t, p, cc, fakeID, tag)
	s.stop(t, p, cc, nodeID, port)

	p.must(t, cc.follower, gridMaster, "UnregisterAgent", fields{"agent_id": fakeID})
	list := p.must(t, cc.leader, gridMaster, "ListAgents", nil)
	if findBy(t, getList(t, list, "agents"), "agent_id", fakeID) != nil {
		t.Fatalf("%s still listed after UnregisterAgent", fakeID)
	}
}

// registerAndBeat registers a (fake) agent with the seeds' AgentInfo, beats
// for it and reads it back.
func (s *seedScenario) registerAndBeat(t *testing.T, p *wireProtocol, cc conns, id, tag string) {
	before := uint64(time.Now().Unix())
	reg := p.must(t, cc.follower, gridMaster, "RegisterAgent", fields{"agent_id": id, "hostname": "seed-host-" + tag,
		"platform": "desktop", "max_storage_nodes": 3, "version": "seed-0.1", "agent_endpoint": "0.0.0.0:1"})
	if !getBool(t, reg, "success") || getStr(t, reg, "master_version") != s.version || getStr(t, reg, "error_message") != "" {
		t.Fatalf("RegistrationResponse = %v, want success with master_version %q", reg, s.version)
	}
	// agent_endpoint with an unspecified host is dialled at the caller's address.
	waitfor.Until(t, 10*time.Second, id+"'s dial address", func() (bool, string) {
		ctx, cancel := harness.Ctx(3 * time.Second)
		defer cancel()
		l, err := s.c.Masters[0].Client().ListAgents(harness.Stale(ctx), &rpc.Empty{})
		if err != nil {
			return false, err.Error()
		}
		for _, a := range l.Agents {
			if a.AgentId == id {
				return a.Endpoint == "127.0.0.1:1", "endpoint " + a.Endpoint
			}
		}
		return false, "not replicated yet"
	})

	waitfor.Until(t, 30*time.Second, id+" healthy right after a heartbeat", func() (bool, string) {
		hb := p.must(t, cc.follower, gridMaster, "Heartbeat", fields{"agent_id": id, "storage_node_count": 0, "timestamp": int(time.Now().Unix())})
		now := uint64(time.Now().Unix())
		if ts := getUint(t, hb, "timestamp"); !getBool(t, hb, "acknowledged") || ts < before || ts > now {
			t.Fatalf("HeartbeatResponse = %v, want acknowledged with a timestamp in [%d, %d]", hb, before, now)
		}
		list := p.must(t, cc.leader, gridMaster, "ListAgents", nil)
		rec := findBy(t, getList(t, list, "agents"), "agent_id", id)
		if rec == nil {
			t.Fatalf("%s not in ListAgents", id)
		}
		if getStr(t, rec, "hostname") != "seed-host-"+tag || getStr(t, rec, "platform") != "desktop" ||
			getUint(t, rec, "max_storage_nodes") != 3 || getUint(t, rec, "current_storage_nodes") != 0 ||
			len(getList(t, rec, "storage_nodes")) != 0 {
			t.Fatalf("AgentRecord = %v", rec)
		}
		if hb := getUint(t, rec, "last_heartbeat"); hb < before || hb > uint64(time.Now().Unix()) {
			t.Fatalf("last_heartbeat = %d, want unix seconds in [%d, now]", hb, before)
		}
		return getStr(t, rec, "status") == "healthy", "status " + getStr(t, rec, "status")
	})
}

// spawn orders a node with an explicit port, path and memory limit and
// checks that exactly that runs.
func (s *seedScenario) spawn(t *testing.T, p *wireProtocol, cc conns, port int, rel, path string) string {
	const memMB = 48
	sp := p.must(t, cc.follower, gridMaster, "SpawnStorageNode", fields{"agent_id": s.agent.ID, "storage_path": rel, "memory_limit_mb": memMB, "port": port})
	nodeID, endpoint := getStr(t, sp, "node_id"), getStr(t, sp, "endpoint")
	if !getBool(t, sp, "success") || nodeID == "" || getStr(t, sp, "error_message") != "" || !strings.HasSuffix(endpoint, ":"+strconv.Itoa(port)) {
		t.Fatalf("SpawnResponse = %v, want success on port %d", sp, port)
	}
	pids := s.agent.NodeProcs()[nodeID]
	if len(pids) != 1 {
		t.Fatalf("processes of %s: %v, want one", nodeID, pids)
	}
	args := procStrings(t, pids[0], "cmdline")
	if i := slices.Index(args, "--port"); i < 0 || args[i+1] != strconv.Itoa(port) {
		t.Fatalf("node command line %q lacks --port %d", args, port)
	}
	if i := slices.Index(args, "--storage-path"); i < 0 || args[i+1] != path {
		t.Fatalf("node command line %q lacks --storage-path %s", args, path)
	}
	if lim := gomemlimitMiB(t, pids[0]); lim == 0 || lim > memMB {
		t.Fatalf("node's GOMEMLIMIT is %d MiB, want within the %d MiB limit", lim, memMB)
	}
	waitfor.Until(t, 15*time.Second, nodeID+" replicated with its memory limit", func() (bool, string) {
		recs, err := s.c.Masters[0].NodeRecords()
		if err != nil || recs[nodeID] == nil {
			return false, fmt.Sprint(err)
		}
		return recs[nodeID].MemoryLimitMb == memMB, fmt.Sprint("memory_limit_mb ", recs[nodeID].MemoryLimitMb)
	})
	if err := harness.StorageNodeServes(nodeID, uint32(port), 10*time.Second); err != nil {
		t.Fatal(err)
	}

	ns := p.must(t, cc.leader, gridMaster, "GetStorageNodeStatus", fields{"node_id": nodeID})
	if getStr(t, ns, "node_id") != nodeID || getStr(t, ns, "status") != "running" || getUint(t, ns, "pid") != uint64(pids[0]) || getStr(t, ns, "endpoint") != endpoint {
		t.Fatalf("NodeStatus = %v, want running pid %d at %s", ns, pids[0], endpoint)
	}
	// The node itself speaks the seeds' StorageService.
	node := dialInsecure(t, endpoint)
	if hc := p.must(t, node, storageSvc, "HealthCheck", nil); !getBool(t, hc, "healthy") || getStr(t, hc, "status") != "healthy" {
		t.Fatalf("node HealthCheck = %v", hc)
	}
	lc := p.must(t, node, storageSvc, "LearnConcept", fields{"concept_id": "seed-concept", "content": "from a seed client"})
	if getUint(t, lc, "sequence") != 1 {
		t.Fatalf("LearnConceptResponse = %v, want sequence 1 on a fresh node", lc)
	}
	q := p.must(t, node, storageSvc, "QueryConcept", fields{"concept_id": "seed-concept"})
	if !getBool(t, q, "found") || getStr(t, q, "concept_id") != "seed-concept" || getStr(t, q, "content") != "from a seed client" {
		t.Fatalf("QueryConceptResponse = %v", q)
	}
	if st := p.must(t, node, storageSvc, "GetStats", nil); getUint(t, st, "concepts") != 1 || getUint(t, st, "edges") != 0 || getUint(t, st, "written") != 1 {
		t.Fatalf("node StatsResponse = %v, want 1 concept, 0 edges, 1 written", st)
	}
	return nodeID
}

// agentDirect calls the real agent's agent.GridAgent service.
func (s *seedScenario) agentDirect(t *testing.T, p *wireProtocol, cc conns, nodeID string, port int, rel, path string) {
	pid := uint64(s.agent.NodeProcs()[nodeID][0])
	// SpawnNode is idempotent by node id: the same order answers the running process.
	again := p.must(t, cc.agent, gridAgent, "SpawnNode", fields{"node_id": nodeID, "storage_path": rel, "port": port, "memory_limit_mb": 48})
	if !getBool(t, again, "success") || getStr(t, again, "node_id") != nodeID || getUint(t, again, "port") != uint64(port) ||
		getUint(t, again, "pid") != pid || getStr(t, again, "error_message") != "" {
		t.Fatalf("SpawnNodeResponse = %v, want the running node (pid %d, port %d)", again, pid, port)
	}
	// A different port for the same id is refused, not misread.
	if _, err := p.call(t, cc.agent, gridAgent, "SpawnNode", fields{"node_id": nodeID, "port": port + 1}); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("SpawnNode on another port: %v, want ALREADY_EXISTS", err)
	}
	list := p.must(t, cc.agent, gridAgent, "ListNodes", nil)
	n := findBy(t, getList(t, list, "nodes"), "node_id", nodeID)
	if n == nil {
		t.Fatalf("ListNodes = %v lacks %s", list, nodeID)
	}
	one := p.must(t, cc.agent, gridAgent, "GetNodeStatus", fields{"node_id": nodeID})
	for _, m := range []protoreflect.Message{n, one} {
		started := getUint(t, m, "started_at")
		if getStr(t, m, "status") != "running" || getUint(t, m, "pid") != pid || getUint(t, m, "port") != uint64(port) ||
			getStr(t, m, "storage_path") != path || getUint(t, m, "restart_count") != 0 ||
			started < uint64(s.started.Unix()) || started > uint64(time.Now().Unix()) {
			t.Fatalf("agent's NodeStatusResponse = %v, want running pid %d port %d path %s started after %d", m, pid, port, path, s.started.Unix())
		}
	}
}

// clusterViews reads the agents list and the cluster status.
func (s *seedScenario) clusterViews(t *testing.T, p *wireProtocol, cc conns, nodeID string) {
	list := p.must(t, cc.leader, gridMaster, "ListAgents", nil)
	rec := findBy(t, getList(t, list, "agents"), "agent_id", s.agent.ID)
	if rec == nil {
		t.Fatalf("ListAgents lacks %s", s.agent.ID)
	}
	nodes := getList(t, rec, "storage_nodes")
	n := findBy(t, nodes, "node_id", nodeID)
	if n == nil || getStr(t, n, "status") != "running" || getUint(t, n, "pid") == 0 || getStr(t, n, "endpoint") == "" ||
		getUint(t, rec, "current_storage_nodes") != uint64(len(nodes)) {
		t.Fatalf("agent record = %v, want %s running among current_storage_nodes", rec, nodeID)
	}
	waitfor.Until(t, 20*time.Second, "cluster status agrees with the agents list", func() (bool, string) {
		cs := p.must(t, cc.leader, gridMaster, "GetClusterStatus", nil)
		agents := getList(t, p.must(t, cc.leader, gridMaster, "ListAgents", nil), "agents")
		var healthy, total, running uint64
		for _, a := range agents {
			if getStr(t, a, "status") == "healthy" {
				healthy++
			}
			for _, n := range getList(t, a, "storage_nodes") {
				total++
				if getStr(t, n, "status") == "running" {
					running++
				}
			}
		}
		got := fmt.Sprint(getUint(t, cs, "total_agents"), getUint(t, cs, "healthy_agents"), getUint(t, cs, "total_storage_nodes"), getUint(t, cs, "running_storage_nodes"))
		want := fmt.Sprint(len(agents), healthy, total, running)
		ok := got == want && running >= 1 && slices.Contains([]string{"healthy", "degraded", "critical"}, getStr(t, cs, "status"))
		return ok, fmt.Sprintf("cluster status %s (%s), agents list %s", got, getStr(t, cs, "status"), want)
	})
}

// masterStorage reads the leader's event graph through the seeds' StorageService.
func (s *seedScenario) masterStorage(t *testing.T, p *wireProtocol, cc conns, fakeID, tag string) {
	var eventID string
	waitfor.Until(t, 20*time.Second, fakeID+"'s registration event in the event graph", func() (bool, string) {
		nb := p.must(t, cc.leader, storageSvc, "GetNeighbors", fields{"concept_id": fakeID})
		ids := getStrs(t, nb, "neighbor_ids")
		for _, id := range ids {
			if strings.HasPrefix(id, "event-agent_registered-") {
				eventID = id
				return true, ""
			}
		}
		return false, fmt.Sprint("neighbors ", ids)
	})
	q := p.must(t, cc.leader, storageSvc, "QueryConcept", fields{"concept_id": eventID})
	var ev struct {
		EventType string            `json:"event_type"`
		EntityID  string            `json:"entity_id"`
		Details   map[string]string `json:"details"`
	}
	if !getBool(t, q, "found") || getStr(t, q, "concept_id") != eventID || getFloat(t, q, "strength") != 1 || getFloat(t, q, "confidence") != 1 {
		t.Fatalf("QueryConceptResponse = %v", q)
	}
	if err := json.Unmarshal([]byte(getStr(t, q, "content")), &ev); err != nil || ev.EventType != "agent_registered" ||
		ev.EntityID != fakeID || ev.Details["hostname"] != "seed-host-"+tag || ev.Details["endpoint"] != "127.0.0.1:1" {
		t.Fatalf("event content %q (%v), want %s's agent_registered", getStr(t, q, "content"), err, fakeID)
	}
	path := p.must(t, cc.leader, storageSvc, "FindPath", fields{"start_id": fakeID, "end_id": eventID, "max_depth": 2})
	if !getBool(t, path, "found") || !slices.Equal(getStrs(t, path, "path"), []string{fakeID, eventID}) {
		t.Fatalf("FindPathResponse = %v", path)
	}
	st := p.must(t, cc.leader, storageSvc, "GetStats", nil)
	concepts, edges := getUint(t, st, "concepts"), getUint(t, st, "edges")
	if concepts == 0 || edges == 0 || getUint(t, st, "written") < concepts+edges || getUint(t, st, "dropped") != 0 ||
		getUint(t, st, "pending") != 0 || getUint(t, st, "reconciliations") != 0 ||
		getUint(t, st, "uptime_seconds") > uint64(time.Since(s.started).Seconds())+1 {
		t.Fatalf("master StatsResponse = %v", st)
	}
	if hc := p.must(t, cc.leader, storageSvc, "HealthCheck", nil); !getBool(t, hc, "healthy") || getStr(t, hc, "status") != "healthy" {
		t.Fatalf("master HealthCheck = %v", hc)
	}
	_, err := p.call(t, cc.leader, storageSvc, "VectorSearch", fields{"k": 3, "ef_search": 16})
	if st := status.Convert(err); st.Code() != codes.Unimplemented || st.Message() == "" {
		t.Fatalf("VectorSearch = %v, want UNIMPLEMENTED with a message", err)
	}
}

// stop stops the node with the seeds' StopRequest (agent_id = 1, node_id = 2).
func (s *seedScenario) stop(t *testing.T, p *wireProtocol, cc conns, nodeID string, port int) {
	_, err := p.call(t, cc.follower, gridMaster, "StopStorageNode", fields{"agent_id": "seed-agent-nobody", "node_id": nodeID})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), s.agent.ID) {
		t.Fatalf("stop naming the wrong agent: %v, want INVALID_ARGUMENT naming %s", err, s.agent.ID)
	}
	st := p.must(t, cc.follower, gridMaster, "StopStorageNode", fields{"agent_id": s.agent.ID, "node_id": nodeID})
	if !getBool(t, st, "success") || getStr(t, st, "error_message") != "" {
		t.Fatalf("StopResponse = %v", st)
	}
	waitfor.Until(t, 20*time.Second, nodeID+"'s process gone and its port free", func() (bool, string) {
		pids := s.agent.NodeProcs()[nodeID]
		return len(pids) == 0 && harness.PortFree(uint32(port)), fmt.Sprint("pids ", pids)
	})
	ns := p.must(t, cc.leader, gridMaster, "GetStorageNodeStatus", fields{"node_id": nodeID})
	if getStr(t, ns, "status") != "stopped" || getUint(t, ns, "pid") != 0 {
		t.Fatalf("NodeStatus after stop = %v", ns)
	}
	// A stopped node leaves its agent's table.
	if _, err := p.call(t, cc.agent, gridAgent, "GetNodeStatus", fields{"node_id": nodeID}); status.Code(err) != codes.NotFound {
		t.Fatalf("agent's GetNodeStatus after stop: %v, want NOT_FOUND", err)
	}
	if n := findBy(t, getList(t, p.must(t, cc.agent, gridAgent, "ListNodes", nil), "nodes"), "node_id", nodeID); n != nil {
		t.Fatalf("agent still lists %v after stop", n)
	}
}

// procStrings is /proc/<pid>/<name> split at NUL bytes.
func procStrings(t *testing.T, pid int, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// gomemlimitMiB is the process's GOMEMLIMIT in MiB (0 when unset).
func gomemlimitMiB(t *testing.T, pid int) uint64 {
	t.Helper()
	for _, kv := range procStrings(t, pid, "environ") {
		if v, ok := strings.CutPrefix(kv, "GOMEMLIMIT="); ok {
			n, err := strconv.ParseUint(strings.TrimSuffix(v, "MiB"), 10, 64)
			if err != nil {
				t.Fatalf("GOMEMLIMIT=%s is not in MiB", v)
			}
			return n
		}
	}
	return 0
}
