package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

func TestServeMonitorTailLevelAndJSON(t *testing.T) {
	b := NewLogBroker(&hclog.LoggerOptions{Name: "t", Level: hclog.Info, Output: io.Discard})
	log := b.Logger().Named("part")
	log.Info("before the stream", "n", 1)
	log.Debug("below the process level: never kept")

	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 16)
	done := make(chan error, 1)
	go func() {
		done <- ServeMonitor(ctx, b, &MonitorRequest{LogLevel: "debug", Json: true, Tail: 5}, func(l *LogLine) error {
			got <- l.GetLine()
			return nil
		})
	}()
	first := <-got
	if !strings.Contains(first, "before the stream") {
		t.Fatalf("tail line = %q", first)
	}
	// The stream's own sink is registered before the tail is sent; lines
	// logged now reach it at the stream's level (debug), as JSON.
	deadline := time.After(5 * time.Second)
	for {
		log.Debug("live debug line", "k", "v")
		select {
		case l := <-got:
			var obj map[string]any
			if err := json.Unmarshal([]byte(l), &obj); err != nil {
				t.Fatalf("line %q is not JSON: %v", l, err)
			}
			if obj["@message"] != "live debug line" || obj["k"] != "v" {
				t.Fatalf("line = %v", obj)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("ServeMonitor after cancel: %v", err)
			}
			return
		case <-deadline:
			t.Fatal("no live line")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestServeMonitorRefusesBadRequests(t *testing.T) {
	b := NewLogBroker(&hclog.LoggerOptions{Output: io.Discard})
	send := func(*LogLine) error { return nil }
	for _, req := range []*MonitorRequest{{LogLevel: "loud"}, {Tail: MaxMonitorTail + 1}} {
		if err := ServeMonitor(context.Background(), b, req, send); !errors.Is(err, ErrInvalid) {
			t.Errorf("ServeMonitor(%v) = %v, want ErrInvalid", req, err)
		}
	}
	if err := ServeMonitor(context.Background(), nil, &MonitorRequest{}, send); !errors.Is(err, ErrPrecondition) {
		t.Errorf("ServeMonitor without a broker = %v, want ErrPrecondition", err)
	}
}

func TestLogBrokerTailKeepsTheLastLines(t *testing.T) {
	b := NewLogBroker(&hclog.LoggerOptions{Output: io.Discard})
	for i := 0; i < MaxMonitorTail+10; i++ {
		b.Logger().Info("line", "i", i)
	}
	tail := b.Tail(3)
	if len(tail) != 3 || !strings.Contains(tail[2], "i="+itoa(MaxMonitorTail+9)) {
		t.Fatalf("tail = %q", tail)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
