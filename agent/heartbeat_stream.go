package agent

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// unaryRetryAfter is how long an agent heartbeats a master with unary
// calls after that master refused HeartbeatStream (an older master, or a
// follower whose leader gossip cannot place) before it tries a stream again.
const unaryRetryAfter = time.Minute

// beatStream is the agent's open HeartbeatStream (used by Run's goroutine
// only).
type beatStream struct {
	addr   string // the master it goes to
	s      rpc.GridMaster_HeartbeatStreamClient
	cancel context.CancelFunc
	// unaryAddr refused streams until unaryUntil.
	unaryAddr  string
	unaryUntil time.Time
}

// close ends the stream, if open.
func (b *beatStream) close() {
	if b.s != nil {
		_ = b.s.CloseSend()
		b.cancel()
		b.s, b.cancel, b.addr = nil, nil, ""
	}
}

// useStream reports whether beats to addr go on a stream.
func (b *beatStream) useStream(addr string) bool {
	return addr != b.unaryAddr || time.Now().After(b.unaryUntil)
}

// refused remembers that addr refused the stream: unary there for a while.
func (b *beatStream) refused(addr string) {
	b.unaryAddr, b.unaryUntil = addr, time.Now().Add(unaryRetryAfter)
}

// send sends req on the stream to addr (opened, or reopened if it went
// elsewhere) and waits for the answer at most timeout: a stuck stream
// fails the beat and is dropped (the next beat opens a new one). On an
// error the stream is dropped and leader is the x-grid-leader-id trailer
// ("" when absent): a follower's pointer to the leader.
func (b *beatStream) send(ctx context.Context, addr string, client rpc.GridMasterClient, req *rpc.HeartbeatRequest,
	timeout time.Duration) (resp *rpc.HeartbeatResponse, leader string, err error) {
	if b.s != nil && b.addr != addr {
		b.close()
	}
	if b.s == nil {
		sctx, cancel := context.WithCancel(ctx)
		s, err := client.HeartbeatStream(sctx)
		if err != nil {
			cancel()
			return nil, "", err
		}
		b.s, b.cancel, b.addr = s, cancel, addr
	}
	timer := time.AfterFunc(timeout, b.cancel)
	defer timer.Stop()
	err = b.s.Send(req)
	if err == nil || errors.Is(err, io.EOF) { // io.EOF: the stream ended; Recv has its status
		resp, err = b.s.Recv()
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = status.Error(codes.Unavailable, "the master closed the heartbeat stream")
		}
		if v := b.s.Trailer().Get(rpc.LeaderIDTrailerKey); len(v) == 1 {
			leader = v[0]
		}
		b.close()
	}
	return resp, leader, err
}
