package api

import (
	"time"

	"github.com/gridctl/grid/rpc"
)

// The REST API's JSON shapes (DESIGN.md "REST contract"). They are plain
// structs rather than protojson so that numbers stay JSON numbers and times
// are RFC 3339 strings in UTC (null when unknown).

// masterView is one master as /status and /masters show it.
type masterView struct {
	ID            string `json:"id"`
	RaftAddr      string `json:"raft_addr"`
	GRPCAddr      string `json:"grpc_addr"`
	HTTPAddr      string `json:"http_addr"`
	GossipAddr    string `json:"gossip_addr"`
	Suffrage      string `json:"suffrage"`
	State         string `json:"state"`
	Healthy       bool   `json:"healthy"`
	LastContactMS int64  `json:"last_contact_ms"`
}

// leaderView is the leader as /status shows it.
type leaderView struct {
	ID       string `json:"id"`
	GRPCAddr string `json:"grpc_addr"`
	HTTPAddr string `json:"http_addr"`
}

// statusView is GET /api/grid/status.
type statusView struct {
	Status              string       `json:"status"`
	Reason              string       `json:"reason"`
	TotalAgents         uint32       `json:"total_agents"`
	HealthyAgents       uint32       `json:"healthy_agents"`
	TotalStorageNodes   uint32       `json:"total_storage_nodes"`
	RunningStorageNodes uint32       `json:"running_storage_nodes"`
	Leader              *leaderView  `json:"leader"`
	Masters             []masterView `json:"masters"`
	FailureTolerance    int32        `json:"failure_tolerance"`
	Timestamp           *string      `json:"timestamp"`
	CommitIndex         uint64       `json:"commit_index"`
	LastEventSeq        uint64       `json:"last_event_seq"`
}

// nodeView is a storage node record.
type nodeView struct {
	NodeID        string  `json:"node_id"`
	AgentID       string  `json:"agent_id"`
	Status        string  `json:"status"`
	DesiredState  string  `json:"desired_state"`
	PID           uint32  `json:"pid"`
	Port          uint32  `json:"port"`
	Endpoint      string  `json:"endpoint"`
	StoragePath   string  `json:"storage_path"`
	MemoryLimitMB uint64  `json:"memory_limit_mb"`
	RestartCount  uint32  `json:"restart_count"`
	LastExitCode  int32   `json:"last_exit_code"`
	LastSignal    string  `json:"last_signal"`
	LastError     string  `json:"last_error"`
	CreatedAt     *string `json:"created_at"`
	UpdatedAt     *string `json:"updated_at"`
	StartedAt     *string `json:"started_at"`
	// Day-two operations: moves to other agents.
	RescheduleCount uint32   `json:"reschedule_count"`
	PreviousAgents  []string `json:"previous_agents"`
}

// agentView is one agent with its nodes.
type agentView struct {
	AgentID             string     `json:"agent_id"`
	Hostname            string     `json:"hostname"`
	Platform            string     `json:"platform"`
	Status              string     `json:"status"`
	MaxStorageNodes     uint32     `json:"max_storage_nodes"`
	CurrentStorageNodes uint32     `json:"current_storage_nodes"`
	LastHeartbeat       *string    `json:"last_heartbeat"`
	Endpoint            string     `json:"endpoint"`
	Version             string     `json:"version"`
	RegisteredAt        *string    `json:"registered_at"`
	StorageNodes        []nodeView `json:"storage_nodes"`
	// Day-two operations: placement eligibility and the drain, if any.
	Eligible bool       `json:"eligible"`
	Drain    *drainView `json:"drain"`
}

// drainView is an agent's drain.
type drainView struct {
	Status      string  `json:"status"`
	MigrateData bool    `json:"migrate_data"`
	StartedAt   *string `json:"started_at"`
	Deadline    *string `json:"deadline"`
	FinishedAt  *string `json:"finished_at"`
	Error       string  `json:"error"`
}

// eventView is one event of the replicated history.
type eventView struct {
	ID        string            `json:"id"`
	Seq       uint64            `json:"seq"`
	EventType string            `json:"event_type"`
	Code      int32             `json:"code"`
	EntityID  string            `json:"entity_id"`
	Timestamp string            `json:"timestamp"`
	Details   map[string]string `json:"details"`
	Source    string            `json:"source"`
}

// eventListView is GET /api/grid/events.
type eventListView struct {
	Events   []eventView `json:"events"`
	LastSeq  uint64      `json:"last_seq"`
	FirstSeq uint64      `json:"first_seq"`
}

// interpretationView is how the natural-language query was understood.
type interpretationView struct {
	Intent        string   `json:"intent"`
	EventTypes    []string `json:"event_types"`
	Entities      []string `json:"entities"`
	Since         *string  `json:"since"`
	Until         *string  `json:"until"`
	NotUnderstood []string `json:"not_understood"`
	StateTarget   string   `json:"state_target"`
	StateStatus   string   `json:"state_status"`
	// Aggregations, why, relative times, unknown entities (issue 18).
	GroupBy         string              `json:"group_by"`
	Order           string              `json:"order"`
	Limit           uint32              `json:"limit"`
	Having          *havingView         `json:"having"`
	UnknownEntities []unknownEntityView `json:"unknown_entities"`
	Anchor          *anchorView         `json:"anchor"`
	Followed        []string            `json:"followed"`
}

// queryView is POST /api/grid/query.
type queryView struct {
	Success        bool               `json:"success"`
	Query          string             `json:"query"`
	Interpretation interpretationView `json:"interpretation"`
	Explanation    string             `json:"explanation"`
	Count          uint32             `json:"count"`
	Results        []eventView        `json:"results"`
	Agents         []agentView        `json:"agents"`
	Nodes          []nodeView         `json:"nodes"`
	Examples       []string           `json:"examples"`
	Groups         []groupView        `json:"groups"`
	Chain          []stepView         `json:"chain"`
}

// secondsTime renders unix seconds as RFC 3339 UTC, nil for 0.
func secondsTime(sec int64) *string {
	if sec <= 0 {
		return nil
	}
	s := time.Unix(sec, 0).UTC().Format(time.RFC3339)
	return &s
}

// microsTime renders unix microseconds as RFC 3339 (nanosecond form) UTC,
// nil for 0.
func microsTime(us int64) *string {
	if us <= 0 {
		return nil
	}
	s := time.UnixMicro(us).UTC().Format(time.RFC3339Nano)
	return &s
}

func toMasterView(m *rpc.MasterInfo) masterView {
	return masterView{
		ID: m.GetId(), RaftAddr: m.GetRaftAddr(), GRPCAddr: m.GetGrpcAddr(), HTTPAddr: m.GetHttpAddr(),
		GossipAddr: m.GetGossipAddr(), Suffrage: m.GetSuffrage(), State: m.GetState(),
		Healthy: m.GetHealthy(), LastContactMS: m.GetLastContactMs(),
	}
}

func toMasterViews(in []*rpc.MasterInfo) []masterView { return mapViews(in, toMasterView) }

func toStatusView(st *rpc.ClusterStatus) statusView {
	v := statusView{
		Status: st.GetStatus(), Reason: st.GetReason(),
		TotalAgents: st.GetTotalAgents(), HealthyAgents: st.GetHealthyAgents(),
		TotalStorageNodes: st.GetTotalStorageNodes(), RunningStorageNodes: st.GetRunningStorageNodes(),
		Masters:          toMasterViews(st.GetMasters()),
		FailureTolerance: st.GetFailureTolerance(),
		Timestamp:        secondsTime(st.GetTimestamp()),
		CommitIndex:      st.GetCommitIndex(),
		LastEventSeq:     st.GetLastEventSeq(),
	}
	if l := st.GetLeader(); l != nil && l.GetId() != "" {
		v.Leader = &leaderView{ID: l.GetId(), GRPCAddr: l.GetGrpcAddr(), HTTPAddr: l.GetHttpAddr()}
	}
	return v
}

func toNodeView(n *rpc.NodeStatus) nodeView {
	return nodeView{
		NodeID: n.GetNodeId(), AgentID: n.GetAgentId(), Status: n.GetStatus(), DesiredState: n.GetDesiredState(),
		PID: n.GetPid(), Port: n.GetPort(), Endpoint: n.GetEndpoint(), StoragePath: n.GetStoragePath(),
		MemoryLimitMB: n.GetMemoryLimitMb(), RestartCount: n.GetRestartCount(), LastExitCode: n.GetLastExitCode(),
		LastSignal: n.GetLastSignal(), LastError: n.GetLastError(),
		CreatedAt: microsTime(n.GetCreatedAt()), UpdatedAt: microsTime(n.GetUpdatedAt()), StartedAt: microsTime(n.GetStartedAt()),
		RescheduleCount: n.GetRescheduleCount(), PreviousAgents: append([]string{}, n.GetPreviousAgents()...),
	}
}

func toNodeViews(in []*rpc.NodeStatus) []nodeView { return mapViews(in, toNodeView) }

func toAgentView(a *rpc.AgentRecord) agentView {
	return agentView{
		AgentID: a.GetAgentId(), Hostname: a.GetHostname(), Platform: a.GetPlatform(), Status: a.GetStatus(),
		MaxStorageNodes: a.GetMaxStorageNodes(), CurrentStorageNodes: a.GetCurrentStorageNodes(),
		LastHeartbeat: secondsTime(int64(a.GetLastHeartbeat())), Endpoint: a.GetEndpoint(), Version: a.GetVersion(),
		RegisteredAt: secondsTime(a.GetRegisteredAt()), StorageNodes: toNodeViews(a.GetStorageNodes()),
		Eligible: !a.GetIneligible(), Drain: toDrainView(a.GetDrain()),
	}
}

func toDrainView(d *rpc.AgentDrain) *drainView {
	if d == nil {
		return nil
	}
	return &drainView{Status: d.GetStatus(), MigrateData: d.GetMigrateData(), StartedAt: microsTime(d.GetStartedAt()),
		Deadline: microsTime(d.GetDeadline()), FinishedAt: microsTime(d.GetFinishedAt()), Error: d.GetError()}
}

func toAgentViews(in []*rpc.AgentRecord) []agentView { return mapViews(in, toAgentView) }

func toEventView(e *rpc.Event) eventView {
	details := e.GetDetails()
	if details == nil {
		details = map[string]string{}
	}
	ts := ""
	if t := microsTime(e.GetTimestamp()); t != nil {
		ts = *t
	}
	return eventView{
		ID: e.GetId(), Seq: e.GetSeq(), EventType: e.GetType().Name(), Code: int32(e.GetType()),
		EntityID: e.GetEntityId(), Timestamp: ts, Details: details, Source: e.GetSource(),
	}
}

func toEventViews(in []*rpc.Event) []eventView { return mapViews(in, toEventView) }

func toQueryView(q *rpc.NaturalQueryResponse) queryView {
	in := q.GetInterpretation()
	return queryView{
		Success: q.GetSuccess(), Query: q.GetQuery(),
		Interpretation: interpretationView{
			Intent: in.GetIntent(), EventTypes: eventTypeNames(in.GetEventTypes()), Entities: nonNil(in.GetEntities()),
			Since: microsTime(in.GetSince()), Until: microsTime(in.GetUntil()),
			NotUnderstood: nonNil(in.GetNotUnderstood()), StateTarget: in.GetStateTarget(), StateStatus: in.GetStateStatus(),
			GroupBy: in.GetGroupBy(), Order: in.GetOrder(), Limit: in.GetLimit(), Having: toHavingView(in.GetHaving()),
			UnknownEntities: mapViews(in.GetUnknownEntities(), toUnknownEntityView), Anchor: toAnchorView(in.GetAnchor()),
			Followed: nonNil(in.GetFollowed()),
		},
		Groups: mapViews(q.GetGroups(), func(g *rpc.QueryGroup) groupView { return groupView{Key: g.GetKey(), Count: g.GetCount()} }),
		Chain: mapViews(q.GetChain(), func(st *rpc.CausalStep) stepView {
			return stepView{Event: toEventView(st.GetEvent()), Link: st.GetLink()}
		}),
		Explanation: q.GetExplanation(), Count: q.GetCount(),
		Results: toEventViews(q.GetResults()), Agents: toAgentViews(q.GetAgents()), Nodes: toNodeViews(q.GetNodes()),
		Examples: nonNil(q.GetExamples()),
	}
}

// nonNil makes a nil slice an empty one so it encodes as [] not null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// eventTypeNames shows event types by name even if the backend gave codes.
func eventTypeNames(types []string) []string {
	out := make([]string, 0, len(types))
	for _, t := range types {
		if et, err := rpc.ParseEventType(t); err == nil {
			t = et.Name()
		}
		out = append(out, t)
	}
	return out
}

// mapViews converts every element of in with view; never nil, so JSON shows [].
func mapViews[T, V any](in []T, view func(T) V) []V {
	out := make([]V, 0, len(in))
	for _, x := range in {
		out = append(out, view(x))
	}
	return out
}

// replicaView is one master's answer in GET /api/grid/operator/verify.
type replicaView struct {
	ID           string `json:"id"`
	Reachable    bool   `json:"reachable"`
	Index        uint64 `json:"index"`
	Digest       string `json:"digest"`
	Events       uint64 `json:"events"`
	Agents       uint64 `json:"agents"`
	Nodes        uint64 `json:"nodes"`
	LastSeq      uint64 `json:"last_seq"`
	RegistryHash string `json:"registry_hash"`
	EventsHash   string `json:"events_hash"`
	Error        string `json:"error"`
}

type verifyView struct {
	Success  bool          `json:"success"`
	Match    bool          `json:"match"`
	Index    uint64        `json:"index"`
	LeaderID string        `json:"leader_id"`
	Masters  []replicaView `json:"masters"`
}

func toVerifyView(v *rpc.VerifyResponse) verifyView {
	out := verifyView{Success: true, Match: v.GetMatch(), Index: v.GetIndex(), LeaderID: v.GetLeaderId(), Masters: []replicaView{}}
	for _, r := range v.GetReplicas() {
		h := r.GetHash()
		out.Masters = append(out.Masters, replicaView{
			ID: r.GetId(), Reachable: r.GetReachable(), Index: h.GetAppliedIndex(), Digest: h.GetDigest(),
			Events: h.GetEvents(), Agents: h.GetAgents(), Nodes: h.GetNodes(), LastSeq: h.GetLastSeq(),
			RegistryHash: h.GetRegistryHash(), EventsHash: h.GetEventsHash(), Error: r.GetError(),
		})
	}
	return out
}
