package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/gridctl/grid/cmd/grid/config"
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

// reloadedSecret is secret name (a flag made by secretFlags) as it reads
// now, for SIGHUP: the command line or environment wins as at start (its
// --name-file re-read); otherwise the config files' name or name_file as
// they read now; a secret the files no longer mention keeps its value.
func reloadedSecret(c *cli.Context, vals config.Values, name string) (string, error) {
	key := strings.ReplaceAll(name, "-", "_")
	fromCLI := func(n, k string) bool { return c.IsSet(n) && !setFromFile(c, k) }
	switch {
	case fromCLI(name+"-file", key+"_file"):
		return config.ReadSecretFile(name+"-file", c.String(name+"-file"))
	case fromCLI(name, key):
		return c.String(name), nil
	}
	if v, ok := vals[key+"_file"]; ok && v.Text != "" {
		return config.ReadSecretFile(name+"-file", v.Text)
	}
	if v, ok := vals[key]; ok {
		return v.Text, nil
	}
	if p := c.String(name + "-file"); p != "" {
		return config.ReadSecretFile(name+"-file", p)
	}
	return c.String(name), nil
}

// reloadedTokens re-reads two token secrets (reloadedSecret) from the
// command line, the environment and the config files (legacyTOML: as
// applyConfig); the caller validates them.
func reloadedTokens(c *cli.Context, flags []cli.Flag, legacyTOML bool, name1, name2 string) (string, string, error) {
	vals, err := readConfigValues(c, flags, legacyTOML)
	if err != nil {
		return "", "", err
	}
	t1, err := reloadedSecret(c, vals, name1)
	if err != nil {
		return "", "", err
	}
	t2, err := reloadedSecret(c, vals, name2)
	if err != nil {
		return "", "", err
	}
	return t1, t2, nil
}
