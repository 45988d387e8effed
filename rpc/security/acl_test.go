package security

import (
	"testing"

	"github.com/gridctl/grid/rpc"
)

// TestMethodCapabilityCoversGridMaster: every GridMaster method (unary and
// streaming) names its capability, so none falls to CapUnknown (management
// only) by being forgotten; the read policy reaches the reads and replica
// verification but not Monitor.
func TestMethodCapabilityCoversGridMaster(t *testing.T) {
	desc := rpc.GridMaster_ServiceDesc
	names := []string{}
	for _, m := range desc.Methods {
		names = append(names, m.MethodName)
	}
	for _, s := range desc.Streams {
		names = append(names, s.StreamName)
	}
	for _, n := range names {
		full := "/" + desc.ServiceName + "/" + n
		if _, ok := methodCaps[full]; !ok {
			t.Errorf("%s has no capability in methodCaps", full)
		}
	}
	read, _ := BuiltinPolicy(PolicyRead)
	reader := NewIdentity("", "r", "", read)
	for _, m := range []string{rpc.GridMaster_VerifyReplicas_FullMethodName, rpc.GridMaster_GetReplicaDigest_FullMethodName,
		rpc.GridMaster_GetStateHash_FullMethodName, rpc.GridMaster_ListAgents_FullMethodName} {
		if !reader.Allows(MethodCapability(m)) {
			t.Errorf("the read policy cannot call %s", m)
		}
	}
	op, _ := BuiltinPolicy(PolicyOperator)
	operator := NewIdentity("", "o", "", op)
	ag, _ := BuiltinPolicy(PolicyAgent)
	agentID := NewIdentity("", "a", "agent-1", ag)
	if !agentID.Allows(MethodCapability(rpc.GridAgent_FetchNodeData_FullMethodName)) || reader.Allows(MethodCapability(rpc.GridAgent_FetchNodeData_FullMethodName)) {
		t.Error("FetchNodeData: the agent policy must hold it (agent-to-agent migration), the read policy must not")
	}
	for _, m := range []string{rpc.GridMaster_RemoveAgent_FullMethodName, rpc.GridMaster_DrainAgent_FullMethodName,
		rpc.GridMaster_SetAgentEligibility_FullMethodName, rpc.GridMaster_SetAutopilotConfig_FullMethodName} {
		if reader.Allows(MethodCapability(m)) || agentID.Allows(MethodCapability(m)) || !operator.Allows(MethodCapability(m)) {
			t.Errorf("%s: only operators may call it", m)
		}
	}
	for _, m := range []string{rpc.GridMaster_GetAgent_FullMethodName, rpc.GridMaster_GetAutopilotConfig_FullMethodName, rpc.GridMaster_AutopilotHealth_FullMethodName} {
		if !reader.Allows(MethodCapability(m)) {
			t.Errorf("the read policy cannot call %s", m)
		}
	}
	for _, m := range []string{rpc.GridMaster_Monitor_FullMethodName, rpc.GridAgent_Monitor_FullMethodName} {
		if reader.Allows(MethodCapability(m)) {
			t.Errorf("the read policy may call %s", m)
		}
		if !operator.Allows(MethodCapability(m)) {
			t.Errorf("the operator policy cannot call %s", m)
		}
	}
}
