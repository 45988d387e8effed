package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"
)

// reloader runs its functions on SIGHUP, in the order they were added. A
// failing function is logged and the old setting stays. Masters and agents
// reload their log level here; other settings (tokens, TLS certificates)
// add their own function with Add.
type reloader struct {
	logger hclog.Logger

	mu    sync.Mutex
	names []string
	funcs []func() error
}

func newReloader(logger hclog.Logger) *reloader {
	return &reloader{logger: logger.Named("reload")}
}

// Add registers fn under name (used in log lines).
func (r *reloader) Add(name string, fn func() error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.names = append(r.names, name)
	r.funcs = append(r.funcs, fn)
}

// Reload runs every function once and returns how many failed.
func (r *reloader) Reload() int {
	r.mu.Lock()
	names, funcs := append([]string(nil), r.names...), append([]func() error(nil), r.funcs...)
	r.mu.Unlock()
	failed := 0
	for i, fn := range funcs {
		if err := fn(); err != nil {
			failed++
			r.logger.Error("reload failed; keeping the old setting", "what", names[i], "error", err)
			continue
		}
		r.logger.Info("reloaded", "what", names[i])
	}
	return failed
}

// Watch reloads on every SIGHUP until ctx ends.
func (r *reloader) Watch(ctx context.Context) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				r.logger.Info("SIGHUP received, reloading")
				r.Reload()
			}
		}
	}()
}

// parseLevel reads a --log-level value.
func parseLevel(s string) (hclog.Level, error) {
	level := hclog.LevelFromString(s)
	if level == hclog.NoLevel {
		return level, fmt.Errorf("--log-level %q: want trace, debug, info, warn or error", s)
	}
	return level, nil
}

// reloadLogLevel re-reads the config files and applies log_level to
// logger, unless --log-level (or its environment variable) fixes it.
func reloadLogLevel(c *cli.Context, flags []cli.Flag, logger hclog.Logger) func() error {
	return func() error {
		if c.IsSet("log-level") && !setFromFile(c, "log_level") {
			return nil // the command line / environment wins, as at start
		}
		vals, err := readConfigValues(c, flags, true)
		if err != nil {
			return err
		}
		v, ok := vals["log_level"]
		if !ok {
			return nil
		}
		level, err := parseLevel(v.Text)
		if err != nil {
			return fmt.Errorf("%s: %w", v.Where, err)
		}
		logger.SetLevel(level)
		logger.Info("log level set", "level", level.String())
		return nil
	}
}
