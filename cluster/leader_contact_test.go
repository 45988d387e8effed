package cluster

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// contactRaftStub is a follower's view of raft for contactWatch: a leader
// last heard from at `last`, and every ReloadConfig seen.
type contactRaftStub struct {
	state   raft.RaftState
	last    time.Time
	rc      raft.ReloadableConfig
	reloads []raft.ReloadableConfig
}

func (s *contactRaftStub) State() raft.RaftState  { return s.state }
func (s *contactRaftStub) LastContact() time.Time { return s.last }
func (s *contactRaftStub) LeaderWithID() (raft.ServerAddress, raft.ServerID) {
	return "127.0.0.1:1", "m1"
}
func (s *contactRaftStub) ReloadableConfig() raft.ReloadableConfig { return s.rc }
func (s *contactRaftStub) ReloadConfig(rc raft.ReloadableConfig) error {
	s.reloads = append(s.reloads, rc)
	s.rc = rc
	return nil
}

func newTestContactWatch(r contactRaft, probe error) (*contactWatch, *int) {
	probes := 0
	w := newContactWatch(r, 400*time.Millisecond, hclog.NewNullLogger(), func(a raft.ServerAddress, _ raft.ServerID) string { return string(a) })
	w.jitter = func() time.Duration { return 0 }
	w.wait = w.hb
	w.dial = func(string, time.Duration) error { probes++; return probe }
	return w, &probes
}

// A dead leader (probe refused) wakes raft's contact check once per
// silence, with the heartbeat timeout lowered by 1 ns and put back.
func TestContactWatchWakesOnDeadLeader(t *testing.T) {
	hb := 400 * time.Millisecond
	r := &contactRaftStub{state: raft.Follower, last: time.Now().Add(-time.Second), rc: raft.ReloadableConfig{HeartbeatTimeout: hb, ElectionTimeout: hb}}
	w, probes := newTestContactWatch(r, syscall.ECONNREFUSED)
	if !w.check() {
		t.Fatal("a leader silent for 1 s and unreachable did not wake raft's check")
	}
	if len(r.reloads) != 2 || r.reloads[0].HeartbeatTimeout != hb-1 || r.reloads[1].HeartbeatTimeout != hb {
		t.Fatalf("reloads %+v, want the heartbeat timeout lowered by 1ns then restored", r.reloads)
	}
	if w.check() || *probes != 1 {
		t.Fatalf("the same silence was handled again (%d probes)", *probes)
	}
	// A new contact, then a new silence: handled again.
	r.last = time.Now().Add(-time.Second + time.Millisecond)
	if !w.check() {
		t.Fatal("a second silence was not handled")
	}
}

// A slow leader (probe connects or times out) and a recent contact leave
// raft alone.
func TestContactWatchLeavesSlowLeaderToRaft(t *testing.T) {
	hb := 400 * time.Millisecond
	r := &contactRaftStub{state: raft.Follower, last: time.Now().Add(-time.Second), rc: raft.ReloadableConfig{HeartbeatTimeout: hb, ElectionTimeout: hb}}
	w, probes := newTestContactWatch(r, nil)
	if w.check() || len(r.reloads) != 0 || *probes != 1 {
		t.Fatalf("reachable leader: woke=%v reloads=%d probes=%d", len(r.reloads) > 0, len(r.reloads), *probes)
	}
	// A probe that timed out proves nothing (this master may be the
	// starved one): raft's timer decides.
	rt := &contactRaftStub{state: raft.Follower, last: time.Now().Add(-time.Second), rc: r.rc}
	wt, _ := newTestContactWatch(rt, os.ErrDeadlineExceeded)
	if wt.check() || len(rt.reloads) != 0 {
		t.Fatal("a probe timeout woke raft's check")
	}
	r2 := &contactRaftStub{state: raft.Follower, last: time.Now(), rc: r.rc}
	w2, probes2 := newTestContactWatch(r2, errors.New("refused"))
	if w2.check() || *probes2 != 0 {
		t.Fatal("a leader heard from just now was probed")
	}
	r3 := &contactRaftStub{state: raft.Leader, last: time.Now().Add(-time.Second), rc: r.rc}
	w3, probes3 := newTestContactWatch(r3, errors.New("refused"))
	if w3.check() || *probes3 != 0 {
		t.Fatal("a leader probed itself")
	}
}

// A real probe of a closed port proves the leader gone; one of a listening
// port does not.
func TestContactWatchProbe(t *testing.T) {
	w := newContactWatch(&contactRaftStub{}, 400*time.Millisecond, hclog.NewNullLogger(), nil)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := lis.Addr().String()
	if err := w.dial(open, time.Second); leaderGone(err) {
		t.Fatalf("listening port: %v", err)
	}
	_ = lis.Close()
	if err := w.dial(open, time.Second); !leaderGone(err) {
		t.Fatalf("closed port: %v, want connection refused", err)
	}
}
