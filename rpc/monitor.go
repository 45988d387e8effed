package rpc

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// Log streaming limits.
const (
	// MaxMonitorTail bounds MonitorRequest.tail.
	MaxMonitorTail = 1000
	// monitorBuffer is how many lines a slow Monitor stream may fall behind
	// before lines are dropped (and the drop reported in the stream).
	monitorBuffer = 512
)

// LogBroker is a process's log fan-out for the Monitor RPC (masters and
// agents serve the same one): the process logs through Logger, every
// Monitor stream registers a sink at its own level and format, and the last
// MaxMonitorTail lines (at the process's level) are kept for a tail.
type LogBroker struct {
	logger hclog.InterceptLogger

	mu     sync.Mutex
	recent []string // ring of the last lines
	next   int
	full   bool
}

// NewLogBroker wraps an intercept logger built from opts (its Output and
// level are the process's own log).
func NewLogBroker(opts *hclog.LoggerOptions) *LogBroker {
	b := &LogBroker{logger: hclog.NewInterceptLogger(opts), recent: make([]string, MaxMonitorTail)}
	b.logger.RegisterSink(hclog.NewSinkAdapter(&hclog.LoggerOptions{
		Level:      opts.Level,
		JSONFormat: opts.JSONFormat,
		Output:     lineWriter(b.remember),
	}))
	return b
}

// Logger is the process's root logger.
func (b *LogBroker) Logger() hclog.Logger { return b.logger }

func (b *LogBroker) remember(line string) {
	b.mu.Lock()
	b.recent[b.next] = line
	b.next = (b.next + 1) % len(b.recent)
	if b.next == 0 {
		b.full = true
	}
	b.mu.Unlock()
}

// Tail is up to n of the most recent lines, oldest first.
func (b *LogBroker) Tail(n int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var all []string
	if b.full {
		all = append(all, b.recent[b.next:]...)
	}
	all = append(all, b.recent[:b.next]...)
	if n < len(all) {
		all = all[len(all)-n:]
	}
	return all
}

// lineWriter receives each formatted log line (hclog writes a whole line
// per Write).
type lineWriter func(string)

func (w lineWriter) Write(p []byte) (int, error) {
	w(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// ParseLogLevel reads a --log-level / MonitorRequest.log_level value;
// empty means info.
func ParseLogLevel(s string) (hclog.Level, error) {
	if s == "" {
		return hclog.Info, nil
	}
	switch strings.ToLower(s) {
	case "trace", "debug", "info", "warn", "error":
		return hclog.LevelFromString(s), nil
	}
	return hclog.NoLevel, NewSentinel(fmt.Sprintf("log level %q: want trace, debug, info, warn or error", s), ErrInvalid)
}

// ServeMonitor streams b's log lines to send until ctx ends (nil) or send
// fails: first up to req.tail recent lines, then live ones at req's level
// and format. A stream that falls behind loses lines and is told how many.
func ServeMonitor(ctx context.Context, b *LogBroker, req *MonitorRequest, send func(*LogLine) error) error {
	if b == nil {
		return NewSentinel("log streaming is not enabled in this process", ErrPrecondition)
	}
	level, err := ParseLogLevel(req.GetLogLevel())
	if err != nil {
		return err
	}
	if req.GetTail() > MaxMonitorTail {
		return NewSentinel(fmt.Sprintf("tail %d: at most %d", req.GetTail(), MaxMonitorTail), ErrInvalid)
	}
	lines := make(chan string, monitorBuffer)
	var dropped sync.Mutex
	lost := 0
	sink := hclog.NewSinkAdapter(&hclog.LoggerOptions{
		Level:      level,
		JSONFormat: req.GetJson(),
		Output: lineWriter(func(l string) {
			select {
			case lines <- l:
			default:
				dropped.Lock()
				lost++
				dropped.Unlock()
			}
		}),
	})
	b.logger.RegisterSink(sink)
	defer b.logger.DeregisterSink(sink)
	for _, l := range b.Tail(int(req.GetTail())) {
		if err := send(&LogLine{Line: l}); err != nil {
			return err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case l := <-lines:
			dropped.Lock()
			n := lost
			lost = 0
			dropped.Unlock()
			if n > 0 {
				if err := send(&LogLine{Line: fmt.Sprintf("[monitor] %d log lines dropped: this stream fell behind", n)}); err != nil {
					return err
				}
			}
			if err := send(&LogLine{Line: l}); err != nil {
				return err
			}
		}
	}
}
