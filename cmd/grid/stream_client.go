package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/urfave/cli/v2"
)

// withMasterStreaming is withMaster for long transfers (snapshot save and
// restore): no overall deadline, but --timeout becomes an idle timeout
// that every touch (a chunk sent or received) resets; touch(-1) ends it
// (everything sent, waiting for the master to finish).
func withMasterStreaming(c *cli.Context, call func(ctx context.Context, client rpc.GridMasterClient, touch func(n int)) error) error {
	idle := c.Duration("timeout")
	return withMasterCtx(c, func(ctx context.Context) (context.Context, context.CancelFunc) {
		return context.WithCancel(ctx)
	}, func(ctx context.Context, client rpc.GridMasterClient) error {
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		timer := time.AfterFunc(idle, func() { cancel(fmt.Errorf("no data for %s (--timeout is the idle timeout)", idle)) })
		defer timer.Stop()
		p := &progress{start: time.Now()}
		err := call(ctx, client, func(n int) {
			if n < 0 { // all sent: the master's own work has no idle bound
				timer.Stop()
				return
			}
			timer.Reset(idle)
			p.add(n)
		})
		p.done()
		if cause := context.Cause(ctx); err != nil && cause != nil && cause != context.Canceled {
			return cli.Exit("Error: "+cause.Error(), 1)
		}
		return err
	})
}

// progress prints the bytes moved to stderr every 16 MiB.
type progress struct {
	start time.Time
	total int64
	shown int64
}

func (p *progress) add(n int) {
	p.total += int64(n)
	if p.total-p.shown >= 16<<20 {
		p.shown = p.total
		fmt.Fprintf(os.Stderr, "%d MiB in %s\n", p.total>>20, time.Since(p.start).Round(time.Second))
	}
}

func (p *progress) done() {
	if p.shown > 0 {
		fmt.Fprintf(os.Stderr, "%d bytes in %s\n", p.total, time.Since(p.start).Round(time.Millisecond))
	}
}
