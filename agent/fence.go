package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gridctl/grid/rpc"
)

// termFileName holds the highest leader term the agent has seen, in its
// data dir.
const termFileName = "leader-term"

// ErrStaleLeaderTerm: an order came from a leader whose Raft term is older
// than one the agent has already seen: that master has been deposed (it was
// paused or cut off while another was elected), so the order is refused.
var ErrStaleLeaderTerm = rpc.NewSentinel("order from a deposed leader", rpc.ErrPrecondition)

// TermFence keeps the highest leader term the agent has seen (persisted,
// fsync'd, in its data dir) and admits an order only when its term is not
// older. An order with term 0 — a seed master or a client calling the agent
// directly — carries no term and is always admitted.
//
// An admitted order holds the fence shared while it runs; raising the term
// takes it exclusively, so an order of a newer term starts only after the
// older-term orders in progress have finished, and none of those starts
// after it.
type TermFence struct {
	path string

	mu      sync.RWMutex
	highest uint64       // guarded by mu
	raising atomic.Int32 // orders waiting to raise the term
}

// OpenTermFence loads the fence of dataDir (0 when the file does not exist yet).
func OpenTermFence(dataDir string) (*TermFence, error) {
	f := &TermFence{path: filepath.Join(dataDir, termFileName)}
	b, err := os.ReadFile(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.path, err)
	}
	f.highest, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: %s holds %q, not a leader term (remove the file to reset the fence)", ErrInvalidConfig, f.path, b)
	}
	return f, nil
}

// Highest is the highest leader term seen.
func (f *TermFence) Highest() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.highest
}

// Observe raises the fence to term if it is higher (persisting it first),
// without admitting anything: a read such as ListNodes. It never waits for
// orders in progress: when one holds the fence, the term is left for the
// next order to raise.
func (f *TermFence) Observe(term uint64) error {
	return f.raise(term, false)
}

// raise moves the fence up to term, persisted before it takes effect. With
// wait it waits for the orders in progress to finish; without, it gives up
// when any holds the fence.
func (f *TermFence) raise(term uint64, wait bool) error {
	if term == 0 {
		return nil
	}
	f.mu.RLock()
	higher := term > f.highest
	f.mu.RUnlock()
	if !higher {
		return nil
	}
	if wait {
		f.raising.Add(1)
		f.mu.Lock()
		f.raising.Add(-1)
	} else if !f.mu.TryLock() {
		return nil
	}
	defer f.mu.Unlock()
	if term <= f.highest {
		return nil
	}
	if err := writeFileSynced(f.path, []byte(strconv.FormatUint(term, 10)+"\n")); err != nil {
		return fmt.Errorf("persist leader term %d: %w", term, err)
	}
	f.highest = term
	return nil
}

// waiting reports whether an order of a newer term waits for older ones.
func (f *TermFence) waiting() bool { return f.raising.Load() > 0 }

// Admit admits an order of term: it raises the fence when term is newer and
// returns a release func to call when the order is done. An order older
// than the highest term seen gets ErrStaleLeaderTerm (and the highest term);
// one whose newer term cannot be persisted gets that error.
func (f *TermFence) Admit(term uint64) (release func(), highest uint64, err error) {
	if err := f.raise(term, true); err != nil {
		return nil, 0, err
	}
	f.mu.RLock()
	if term != 0 && term < f.highest {
		h := f.highest
		f.mu.RUnlock()
		return nil, h, fmt.Errorf("%w: order of leader term %d, term %d already seen", ErrStaleLeaderTerm, term, h)
	}
	return f.mu.RUnlock, f.highest, nil
}

// writeFileSynced replaces path with data atomically and durably: temp
// file, fsync, rename, fsync of the directory.
func writeFileSynced(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
