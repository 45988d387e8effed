package rpc

import "fmt"

// ValidatePortRange checks the storage-node port range an agent registers
// (AgentInfo.port_range_start/end). 0/0 means "not announced" (a seed agent
// cannot say): the leader then leaves the port check to the agent.
func ValidatePortRange(lo, hi uint32) error {
	if lo == 0 && hi == 0 {
		return nil
	}
	if lo < MinNodePort || hi > MaxNodePort || lo > hi {
		return fmt.Errorf("%w: port range %d-%d: want %d <= start <= end <= %d",
			ErrInvalid, lo, hi, MinNodePort, MaxNodePort)
	}
	return nil
}

// CheckPortInRange refuses a spawn port outside an agent's registered range;
// port 0 (the agent picks) and an unannounced range (0/0) always pass.
func CheckPortInRange(agentID string, port, lo, hi uint32) error {
	if port == 0 || (lo == 0 && hi == 0) {
		return nil
	}
	if port < lo || port > hi {
		return fmt.Errorf("%w: port %d is outside the port range %d-%d of agent %s", ErrInvalid, port, lo, hi, agentID)
	}
	return nil
}
