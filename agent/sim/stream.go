package sim

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/gridctl/grid/rpc"
)

// beatStream is one simulated agent's HeartbeatStream, opened at its first
// beat and again after any error, as a real agent does (agent/heartbeat.go).
type beatStream struct {
	mu     sync.Mutex // unpaced callers may share an agent
	s      rpc.GridMaster_HeartbeatStreamClient
	cancel context.CancelFunc
}

// streamBeat sends agent i's beat on its stream and waits for the answer,
// at most CallTimeout (then the stream is dropped and reopened at the next
// beat). took is the beat's round trip, the stream's opening included when
// this beat opened it.
func (s *simulator) streamBeat(ctx context.Context, i int) (*rpc.HeartbeatResponse, time.Duration, error) {
	b := &s.streams[i]
	b.mu.Lock()
	defer b.mu.Unlock()
	t0 := time.Now()
	if b.s == nil {
		sctx, cancel := context.WithCancel(ctx)
		st, err := s.client(i).HeartbeatStream(sctx)
		if err != nil {
			cancel()
			return nil, time.Since(t0), err
		}
		b.s, b.cancel = st, cancel
	}
	timer := time.AfterFunc(s.cfg.CallTimeout, b.cancel) // a stuck stream fails the beat
	err := b.s.Send(&rpc.HeartbeatRequest{AgentId: s.agentID(i), Timestamp: uint64(t0.Unix())})
	var r *rpc.HeartbeatResponse
	if err == nil || errors.Is(err, io.EOF) { // io.EOF: the stream ended; Recv has its status
		r, err = b.s.Recv()
	}
	took := time.Since(t0)
	timer.Stop()
	if err != nil {
		b.cancel()
		b.s, b.cancel = nil, nil
	}
	return r, took, err
}

// closeStreams ends every open stream.
func (s *simulator) closeStreams() {
	for i := range s.streams {
		b := &s.streams[i]
		b.mu.Lock()
		if b.s != nil {
			_ = b.s.CloseSend()
			b.cancel()
			b.s, b.cancel = nil, nil
		}
		b.mu.Unlock()
	}
}
