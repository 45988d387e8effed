package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/gridctl/grid/rpc/security"
)

// ErrConfig marks an invalid simulator option.
var ErrConfig = errors.New("invalid sim-agents option")

// MaxAgents bounds Config.Agents: one process drives at most this many agents.
const MaxAgents = 100_000

// Config shapes one simulator run (`grid sim-agents`).
type Config struct {
	// Masters are gRPC addresses of the cluster's masters; the leader is
	// found through the first that answers (--masters).
	Masters []string
	// Agents is how many agents to simulate, 1..MaxAgents (--n).
	Agents int
	// Interval is the heartbeat interval until the leader answers one (--interval).
	Interval time.Duration
	// Duration is the length of the heartbeat window, after registration (--duration).
	Duration time.Duration
	// Conns is how many gRPC connections the agents share (--conns).
	Conns int
	// RegisterWorkers is how many registrations run at once (--register-workers).
	RegisterWorkers int
	// Unpaced sends heartbeats back to back from Workers callers instead of
	// one per agent per interval (the maximum heartbeat rate) (--unpaced).
	Unpaced bool
	// Workers is the number of concurrent callers in unpaced mode (--workers).
	Workers int
	// Unary heartbeats with one unary Heartbeat call per beat, as agents
	// of older releases do, instead of each agent's HeartbeatStream
	// (--unary, for comparison).
	Unary bool
	// FixedInterval beats every Interval whatever interval the leader
	// returns (--fixed-interval; a diagnostic: the leader's cost at two
	// beat rates splits it into a per-beat and a per-agent part).
	FixedInterval bool
	// Prefix starts every simulated agent id (--prefix).
	Prefix string
	// CallTimeout bounds each RPC.
	CallTimeout time.Duration
	// TLS is the client's TLS material (--tls-*); it also guards the
	// stand-in agent endpoint the leader dials.
	TLS security.TLSFiles
	// APIToken is sent on every call (--api-token).
	APIToken string
}

// DefaultConfig: 1,000 agents at 5 s for 30 s over 64 connections.
func DefaultConfig() Config {
	return Config{
		Agents: 1000, Interval: 5 * time.Second, Duration: 30 * time.Second, Conns: 64,
		RegisterWorkers: 64, Workers: 64, Prefix: "sim-agent", CallTimeout: 5 * time.Second,
	}
}

// Validate checks the options; errors wrap ErrConfig and name the flag.
func (c Config) Validate() error {
	switch {
	case len(c.Masters) == 0:
		return fmt.Errorf("%w: --masters is empty", ErrConfig)
	case c.Agents < 1 || c.Agents > MaxAgents:
		return fmt.Errorf("%w: --n %d: want 1..%d", ErrConfig, c.Agents, MaxAgents)
	case c.Interval < 10*time.Millisecond:
		return fmt.Errorf("%w: --interval %s: want at least 10ms", ErrConfig, c.Interval)
	case c.Duration <= 0:
		return fmt.Errorf("%w: --duration %s: want > 0", ErrConfig, c.Duration)
	case c.Conns < 1 || c.RegisterWorkers < 1 || c.Workers < 1:
		return fmt.Errorf("%w: --conns, --register-workers and --workers must be >= 1", ErrConfig)
	case c.Prefix == "" || len(c.Prefix) > 64:
		return fmt.Errorf("%w: --prefix %q: want 1-64 characters", ErrConfig, c.Prefix)
	case c.CallTimeout <= 0:
		return fmt.Errorf("%w: call timeout %s: want > 0", ErrConfig, c.CallTimeout)
	}
	return nil
}

// Report is what a run measured; `grid sim-agents --json` prints it.
type Report struct {
	Mode            string  `json:"mode"`      // paced|unpaced
	Transport       string  `json:"transport"` // stream|unary
	Agents          int     `json:"agents"`
	Target          string  `json:"target"` // the master heartbeats went to
	Conns           int     `json:"conns"`
	RegisterSeconds float64 `json:"register_seconds"`
	WindowSeconds   float64 `json:"window_seconds"`
	Heartbeats      int64   `json:"heartbeats"` // calls made in the window, failed ones included
	Errors          int64   `json:"errors"`
	PerSecond       float64 `json:"heartbeats_per_s"` // answered (successful) heartbeats per second
	P50Ms           float64 `json:"p50_ms"`
	P90Ms           float64 `json:"p90_ms"`
	P99Ms           float64 `json:"p99_ms"`
	MaxMs           float64 `json:"max_ms"`
	FirstError      string  `json:"first_error,omitempty"`
}
