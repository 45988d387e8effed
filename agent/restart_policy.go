package agent

import "time"

// RestartPolicy decides whether a crashed node is restarted: at most
// MaxAttempts restarts within a sliding Window, each after a backoff that
// doubles from Backoff. Past the budget the node is failed for good.
type RestartPolicy struct {
	// Enabled turns restarts on; false fails a node at its first crash.
	Enabled bool
	// MaxAttempts is the restart budget within Window.
	MaxAttempts int
	// Window is the sliding window the budget applies to.
	Window time.Duration
	// Backoff is the delay before the first restart within the window.
	Backoff time.Duration
	// MaxBackoff caps the doubled delay.
	MaxBackoff time.Duration
}

// NewRestartPolicy builds the policy of cfg.
func NewRestartPolicy(cfg Config) RestartPolicy {
	return RestartPolicy{
		Enabled:     cfg.RestartFailedNodes,
		MaxAttempts: cfg.RestartMaxAttempts,
		Window:      cfg.RestartWindow,
		Backoff:     cfg.RestartBackoff,
		MaxBackoff:  30 * time.Second,
	}
}

// Next decides on a crash at now given the times (unix micros) of earlier
// restarts. It returns whether to restart, after what delay, and the restart
// history pruned to the window (the caller appends the new restart's time).
func (p RestartPolicy) Next(now time.Time, history []int64) (restart bool, delay time.Duration, recent []int64) {
	cutoff := now.Add(-p.Window).UnixMicro()
	for _, t := range history {
		if t > cutoff {
			recent = append(recent, t)
		}
	}
	if !p.Enabled || len(recent) >= p.MaxAttempts {
		return false, 0, recent
	}
	delay = p.Backoff
	for range len(recent) {
		delay *= 2
		if p.MaxBackoff > 0 && delay >= p.MaxBackoff {
			delay = p.MaxBackoff
			break
		}
	}
	return true, delay, recent
}
