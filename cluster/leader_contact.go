package cluster

import (
	"errors"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// watchLeaderContact makes a follower notice a dead leader on time. Raft
// checks for leader contact on a timer re-armed at a random 1-2x
// HeartbeatTimeout, so a follower starts its election anywhere from 1x to
// about 3x HeartbeatTimeout after the leader died, and the two followers of
// a 3-master cluster rarely notice together: the first one's pre-vote is
// refused by the other (it still has a leader) and it waits a whole
// ElectionTimeout before it tries again (most of the failover time).
//
// This loop, once the leader has been silent for HeartbeatTimeout plus a
// jitter of up to a quarter of it, probes the leader: a TCP connect to its
// gRPC address (its Raft address if gossip has none). Refused (or no route
// to it): the leader's process is gone, and raft is asked to check leader
// contact now (wakeContactCheck). Anything else, a connection (the leader
// is alive but slow: the kernel accepts for a stalled process) or a
// timeout (a host down, a partition, or this master too starved to see
// the answer in time), leaves the silence to raft's own timer, exactly as
// without this loop. So a slow leader is never replaced sooner than raft
// would, and a killed one is replaced at once. The threshold stays raft's
// own (HeartbeatTimeout), which the read lease (lease.go) relies on. Once
// per silence: a follower that stays leaderless is left to raft's timers.
func (m *Master) watchLeaderContact() {
	defer m.lifecycle.wg.Done()
	hb := m.config.RaftTimings.HeartbeatTimeout
	if hb <= 0 || m.consensus.raft == nil {
		return
	}
	w := newContactWatch(m.consensus.raft, hb, m.logger, func(addr raft.ServerAddress, id raft.ServerID) string {
		if g, err := m.leaderGRPCAddr(id); err == nil && string(id) != m.config.ID {
			return g
		}
		return string(addr)
	})
	ticker := time.NewTicker(max(hb/20, 5*time.Millisecond))
	defer ticker.Stop()
	for {
		select {
		case <-m.lifecycle.shutdownCh:
			return
		case <-ticker.C:
			w.check()
		}
	}
}

// contactRaft is what contactWatch needs of raft (a *raft.Raft).
type contactRaft interface {
	State() raft.RaftState
	LastContact() time.Time
	LeaderWithID() (raft.ServerAddress, raft.ServerID)
	ReloadableConfig() raft.ReloadableConfig
	ReloadConfig(raft.ReloadableConfig) error
}

// contactWatch is watchLeaderContact's state between ticks.
type contactWatch struct {
	r       contactRaft
	hb      time.Duration
	logger  hclog.Logger
	addrOf  func(raft.ServerAddress, raft.ServerID) string // where to probe the leader
	dial    func(addr string, timeout time.Duration) error
	jitter  func() time.Duration
	handled time.Time // the last contact whose silence was dealt with
	wait    time.Duration
}

func newContactWatch(r contactRaft, hb time.Duration, logger hclog.Logger, addrOf func(raft.ServerAddress, raft.ServerID) string) *contactWatch {
	w := &contactWatch{r: r, hb: hb, logger: logger, addrOf: addrOf,
		dial: func(addr string, timeout time.Duration) error {
			conn, err := net.DialTimeout("tcp", addr, timeout)
			if err == nil {
				_ = conn.Close()
			}
			return err
		},
		jitter: func() time.Duration { return rand.N(hb/4 + 1) },
	}
	w.wait = hb + w.jitter()
	return w
}

// check runs one tick: it reports whether it woke raft's contact check.
func (w *contactWatch) check() bool {
	if w.r.State() != raft.Follower {
		return false
	}
	last := w.r.LastContact()
	if last.IsZero() || last.Equal(w.handled) || time.Since(last) < w.wait {
		return false
	}
	w.handled, w.wait = last, w.hb+w.jitter()
	addr, id := w.r.LeaderWithID()
	if id == "" {
		return false
	}
	err := w.dial(w.addrOf(addr, id), max(w.hb, 10*time.Millisecond))
	if !leaderGone(err) {
		w.logger.Debug("leader silent, not known dead: leaving it to raft's timer", "leader_id", id,
			"silent_ms", time.Since(last).Milliseconds(), "probe", err)
		return false
	}
	w.logger.Info("leader silent and unreachable: checking leader contact now", "leader_id", id,
		"silent_ms", time.Since(last).Milliseconds(), "probe", err)
	if err := wakeContactCheck(w.r); err != nil {
		w.logger.Warn("wake raft's leader contact check", "error", err)
	}
	return true
}

// leaderGone reports whether a probe's error proves the leader's process
// gone: the connection was refused, or there is no route to its host.
func leaderGone(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}

// wakeContactCheck makes a follower's raft check for leader contact now:
// ReloadConfig wakes that check when the heartbeat timeout shrinks, so the
// timeout is lowered by a nanosecond and put back (the check compares the
// silence with either: the same threshold).
func wakeContactCheck(r contactRaft) error {
	rc := r.ReloadableConfig()
	lower := rc
	lower.HeartbeatTimeout--
	if err := r.ReloadConfig(lower); err != nil {
		return err
	}
	return r.ReloadConfig(rc)
}
