package nodes

import "time"

// Config tunes storage-node orchestration on the leader.
type Config struct {
	// SpawnTimeout bounds one SpawnNode order to an agent, retries included (seed: 30 s).
	SpawnTimeout time.Duration
	// StopTimeout bounds one StopNode order, retries included (seed: 10 s).
	StopTimeout time.Duration
	// StatusTimeout bounds GetNodeStatus and ListNodes calls (seed: 5 s).
	StatusTimeout time.Duration
	// AgentCallAttempts is how many times an agent call is tried when the
	// agent is unreachable (seed: 3).
	AgentCallAttempts int
	// AgentRetryBackoff is the wait after the i-th failed try (seed: 100,
	// 200, 400 ms; the last value repeats).
	AgentRetryBackoff []time.Duration
	// ReconcileInterval is how often the leader compares every healthy
	// agent's nodes with the registry.
	ReconcileInterval time.Duration
	// AgentWatchInterval is how often the leader looks for agents that
	// (re-)registered, recovered or went offline, to reconcile them at once.
	AgentWatchInterval time.Duration
	// RescheduleAfter is how long an agent may be silent before its nodes
	// are marked lost and placed on other agents (0: never).
	RescheduleAfter time.Duration
	// RescheduleAttempts bounds the reschedules of a failed node per hour.
	RescheduleAttempts int
	// AgentGCAfter removes agents offline this long (0: never).
	AgentGCAfter time.Duration
	// NodeGCAfter removes node records stopped or failed this long (0: never).
	NodeGCAfter time.Duration
	// OperationsInterval paces the leader's drains, reschedules and
	// garbage collection.
	OperationsInterval time.Duration
}

// DefaultConfig returns the seeds' timeouts and retries and a 10 s
// reconcile interval.
func DefaultConfig() Config {
	return Config{
		SpawnTimeout:       30 * time.Second,
		StopTimeout:        10 * time.Second,
		StatusTimeout:      5 * time.Second,
		AgentCallAttempts:  3,
		AgentRetryBackoff:  []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond},
		ReconcileInterval:  10 * time.Second,
		AgentWatchInterval: 500 * time.Millisecond,
		RescheduleAfter:    5 * time.Minute,
		RescheduleAttempts: 3,
		AgentGCAfter:       24 * time.Hour,
		NodeGCAfter:        24 * time.Hour,
		OperationsInterval: time.Second,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.SpawnTimeout <= 0 {
		c.SpawnTimeout = d.SpawnTimeout
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = d.StopTimeout
	}
	if c.StatusTimeout <= 0 {
		c.StatusTimeout = d.StatusTimeout
	}
	if c.AgentCallAttempts <= 0 {
		c.AgentCallAttempts = d.AgentCallAttempts
	}
	if len(c.AgentRetryBackoff) == 0 {
		c.AgentRetryBackoff = d.AgentRetryBackoff
	}
	if c.ReconcileInterval <= 0 {
		c.ReconcileInterval = d.ReconcileInterval
	}
	if c.AgentWatchInterval <= 0 {
		c.AgentWatchInterval = d.AgentWatchInterval
	}
	if c.OperationsInterval <= 0 {
		c.OperationsInterval = d.OperationsInterval
	}
	if c.RescheduleAttempts < 0 {
		c.RescheduleAttempts = 0
	}
	return c
}
