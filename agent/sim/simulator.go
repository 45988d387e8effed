package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// simulator drives the agents.
type simulator struct {
	cfg      Config
	clients  []rpc.GridMasterClient
	endpoint string
	ids      []string // every agent's id, formatted once (agentID)
	// workers is how many goroutines send paced beats (beatWorkers when 0).
	workers int
	lat     latencyLog
	// given is the interval (ms) the leader gave each agent at registration.
	given []atomic.Uint32
	// recording is on during the measured window; end is when the window
	// closes (unix ns, 0 until it opens).
	recording atomic.Bool
	end       atomic.Int64
	errs      atomic.Int64
	firstErr  atomic.Value
	// streams is each agent's HeartbeatStream (nil with Config.Unary).
	streams []beatStream
	// noStream: the master answered HeartbeatStream UNIMPLEMENTED.
	noStream atomic.Bool
}

func (s *simulator) agentID(i int) string {
	if s.ids != nil {
		return s.ids[i]
	}
	return agentID(s.cfg.Prefix, i)
}

// agentID is simulated agent i's id.
func agentID(prefix string, i int) string { return fmt.Sprintf("%s-%05d", prefix, i) }

func (s *simulator) client(i int) rpc.GridMasterClient { return s.clients[i%len(s.clients)] }

func (s *simulator) failed(err error) {
	s.errs.Add(1)
	s.firstErr.CompareAndSwap(nil, err.Error())
}

// register registers agent i, retrying while the leader is unavailable.
func (s *simulator) register(ctx context.Context, i int) error {
	info := &rpc.AgentInfo{AgentId: s.agentID(i), Hostname: "sim", Platform: runtime.GOOS + "/" + runtime.GOARCH,
		Version: "sim", AgentEndpoint: s.endpoint}
	var err error
	for try := range 5 {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
		var resp *rpc.RegistrationResponse
		resp, err = s.client(i).RegisterAgent(cctx, info)
		cancel()
		if err == nil && s.given != nil {
			s.given[i].Store(resp.GetHeartbeatIntervalMs())
		}
		if err == nil || ctx.Err() != nil || status.Code(err) == codes.InvalidArgument {
			break
		}
		select { // back-off between retries
		case <-ctx.Done():
		case <-time.After(time.Duration(try+1) * 100 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("register %s: %w", info.AgentId, err)
	}
	return nil
}

// registerAll registers every agent with RegisterWorkers callers.
func (s *simulator) registerAll(ctx context.Context) error {
	ids := make(chan int)
	var wg sync.WaitGroup
	var first atomic.Value
	for range s.cfg.RegisterWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ids {
				if err := s.register(ctx, i); err != nil {
					first.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	for i := range s.cfg.Agents {
		ids <- i
	}
	close(ids)
	wg.Wait()
	if err, ok := first.Load().(error); ok {
		return err
	}
	return ctx.Err()
}

// heartbeat sends one heartbeat for agent i and returns the next interval
// the leader asked for (0: keep the current one). An unknown agent
// registers again, as a real agent does.
func (s *simulator) heartbeat(ctx context.Context, i int) time.Duration {
	var r *rpc.HeartbeatResponse
	var err error
	var took time.Duration
	if s.streams != nil && !s.noStream.Load() {
		r, took, err = s.streamBeat(ctx, i)
		if status.Code(err) == codes.Unimplemented { // an older master: unary from now on, as agents do
			s.noStream.Store(true)
			return s.heartbeat(ctx, i)
		}
	} else {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
		t0 := time.Now()
		r, err = s.client(i).Heartbeat(cctx, &rpc.HeartbeatRequest{AgentId: s.agentID(i), Timestamp: uint64(t0.Unix())})
		took = time.Since(t0)
		cancel()
	}
	if !s.recording.Load() {
		if err != nil && status.Code(err) == codes.NotFound && ctx.Err() == nil {
			_ = s.register(ctx, i)
		}
		if err != nil {
			return 0
		}
		return time.Duration(r.NextIntervalMs) * time.Millisecond
	}
	if err != nil {
		if ctx.Err() == nil {
			s.lat.add(took) // a failed heartbeat counts in the percentiles with the time it took to fail
			s.failed(err)
			if status.Code(err) == codes.NotFound {
				_ = s.register(ctx, i)
			}
		}
		return 0
	}
	s.lat.add(took)
	return time.Duration(r.NextIntervalMs) * time.Millisecond
}

// paced paces every agent as a fleet of agents does: each registers
// (RegisterWorkers at a time), then heartbeats at a once-random offset
// within the interval the leader gave, then at each interval the leader
// returns, until the window closes; beatSchedule sends the beats from a
// pool of workers. Only heartbeats inside the window are measured
// (s.recording). registered is called once every agent has tried to
// register, with the first error; paced returns once every agent is done
// (or ctx ends).
func (s *simulator) paced(ctx context.Context, registered func(error)) {
	sched := newBeatSchedule(s.end.Load)
	work := make(chan dueBeat)
	var beating sync.WaitGroup
	workers := s.workers
	if workers <= 0 {
		workers = beatWorkers
	}
	for range workers {
		beating.Add(1)
		go func() {
			defer beating.Done()
			for b := range work {
				s.beatOnce(ctx, sched, b)
			}
		}()
	}
	spawn := func(b dueBeat) { // a beat due while every worker is busy
		beating.Add(1)
		go func() {
			defer beating.Done()
			s.beatOnce(ctx, sched, b)
		}()
	}
	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		sched.dispatch(ctx, work, spawn)
	}()

	ids := make(chan int)
	var reg sync.WaitGroup
	var first atomic.Value
	for range s.cfg.RegisterWorkers {
		reg.Add(1)
		go func() {
			defer reg.Done()
			for i := range ids {
				if err := s.register(ctx, i); err != nil {
					first.CompareAndSwap(nil, err)
					continue
				}
				interval := s.cfg.Interval
				if ms := s.given[i].Load(); ms > 0 && !s.cfg.FixedInterval {
					interval = time.Duration(ms) * time.Millisecond
				}
				sched.add(dueBeat{at: time.Now().Add(rand.N(interval)), agent: i, interval: interval})
			}
		}()
	}
	for i := range s.cfg.Agents {
		ids <- i
	}
	close(ids)
	reg.Wait()
	err, _ := first.Load().(error)
	if err == nil {
		err = ctx.Err()
	}
	registered(err)
	sched.poke()
	sched.finish(0) // no agent left (none registered): done at once
	<-dispatched
	close(work)
	beating.Wait()
}

// beatOnce sends agent b's due heartbeat and schedules its next one at the
// interval the leader returned, unless the window is over.
func (s *simulator) beatOnce(ctx context.Context, sched *beatSchedule, b dueBeat) {
	if end := s.end.Load(); ctx.Err() != nil || (end != 0 && time.Now().UnixNano() >= end) {
		sched.finish(1)
		return
	}
	if d := s.heartbeat(ctx, b.agent); d > 0 && !s.cfg.FixedInterval {
		b.interval = d
	}
	b.at = b.at.Add(b.interval)
	if end := s.end.Load(); ctx.Err() != nil || (end != 0 && b.at.UnixNano() >= end) {
		sched.finish(1)
		return
	}
	sched.again(b)
}

// unpaced runs Workers callers heartbeating round robin over the agents,
// back to back, until end.
func (s *simulator) unpaced(ctx context.Context, end time.Time) {
	var wg sync.WaitGroup
	for w := range s.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; time.Now().Before(end) && ctx.Err() == nil; i += s.cfg.Workers {
				s.heartbeat(ctx, i%s.cfg.Agents)
			}
		}()
	}
	wg.Wait()
}

// latencyLog collects heartbeat round-trip times, failed calls included.
type latencyLog struct {
	mu sync.Mutex
	ds []time.Duration
	// at, when keepTimes, is when each beat of ds ended (unix µs), for
	// GRID_SIM_LATENCY_LOG.
	keepTimes bool
	at        []int64
}

func (l *latencyLog) add(d time.Duration) {
	l.mu.Lock()
	l.ds = append(l.ds, d)
	if l.keepTimes {
		l.at = append(l.at, time.Now().UnixMicro())
	}
	l.mu.Unlock()
}

func (l *latencyLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ds)
}

// fill sets the report's count and percentiles.
func (l *latencyLog) fill(r *Report) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r.Heartbeats = int64(len(l.ds))
	if len(l.ds) == 0 {
		return
	}
	slices.Sort(l.ds)
	at := func(p float64) float64 {
		return float64(l.ds[int(float64(len(l.ds)-1)*p)].Microseconds()) / 1000
	}
	r.P50Ms, r.P90Ms, r.P99Ms, r.MaxMs = at(0.5), at(0.9), at(0.99), at(1)
}
