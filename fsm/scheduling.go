package fsm

import (
	"fmt"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/protobuf/proto"
)

// applyAgentScheduling sets an agent's placement eligibility and, with
// set_drain, its drain state (AgentSchedulingType). Both survive a
// re-registration (registerAgent keeps them).
func (f *FSM) applyAgentScheduling(buf []byte, index uint64) interface{} {
	cmd := new(rpc.AgentSchedulingCommand)
	decode(AgentSchedulingType, buf, index, cmd)
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.agents[cmd.AgentId]
	if !ok {
		return fmt.Errorf("agent scheduling %q: %w", cmd.AgentId, ErrNotFound)
	}
	if err := f.storeEventsLocked(index, cmd.Events); err != nil {
		return fmt.Errorf("agent scheduling %q: %w", cmd.AgentId, err)
	}
	defer f.version.Add(1)
	a.Ineligible = cmd.Ineligible
	if cmd.SetDrain {
		a.Drain = cmd.Drain
	}
	return nil
}

// applyAutopilotConfig stores the operator's autopilot configuration
// (AutopilotConfigType); it replaces the masters' flags on every master.
func (f *FSM) applyAutopilotConfig(buf []byte, index uint64) interface{} {
	cfg := new(rpc.AutopilotConfig)
	decode(AutopilotConfigType, buf, index, cfg)
	cfg.FromRaft = true
	f.mu.Lock()
	defer f.mu.Unlock()
	f.autopilot = cfg
	return nil
}

// AutopilotConfig is the operator's autopilot configuration; false when
// none was set (the masters' flags apply).
func (f *FSM) AutopilotConfig() (*rpc.AutopilotConfig, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.autopilot == nil {
		return nil, false
	}
	return proto.Clone(f.autopilot).(*rpc.AutopilotConfig), true
}
