package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// Memory limit modes, as reported in logs and node details.
const (
	MemoryLimitCgroup = "cgroup_v2"
	MemoryLimitRlimit = "rlimit_as"
)

// rlimitHeadroomMB is added to twice a node's limit for RLIMIT_AS: the Go
// runtime and bbolt's mmap (1 GiB reserved up front) reserve far more
// address space than they use (an idle storage node maps about 2.8 GiB for
// 15 MiB resident), so the address-space cap only stops a runaway, while
// GOMEMLIMIT keeps the heap near the limit.
const rlimitHeadroomMB = 4096

// MemoryLimiter puts a hard memory limit on node processes: a cgroup v2
// child cgroup with memory.max when CgroupParent is writable, else
// RLIMIT_AS with generous headroom (prlimit after start).
type MemoryLimiter struct {
	parent string // cgroup v2 parent dir; "" when cgroups are not usable
	prefix string
	logger hclog.Logger
}

// NewMemoryLimiter probes whether cgroup v2 can be used under parent.
func NewMemoryLimiter(parent, agentID string, logger hclog.Logger) *MemoryLimiter {
	m := &MemoryLimiter{prefix: agentID, logger: logger}
	if parent == "" {
		logger.Info("memory limits use rlimit", "reason", "no cgroup parent configured")
		return m
	}
	if err := prepareCgroupParent(parent); err != nil {
		logger.Info("memory limits use rlimit", "reason", "cgroup v2 not usable", "cgroup_parent", parent, "error", err)
		return m
	}
	m.parent = parent
	logger.Info("memory limits use cgroup v2", "cgroup_parent", parent)
	return m
}

// Mode says which hard limit applies.
func (m *MemoryLimiter) Mode() string {
	if m.parent != "" {
		return MemoryLimitCgroup
	}
	return MemoryLimitRlimit
}

// CgroupFor creates the node's cgroup with memory.max set and returns an
// open directory fd for SysProcAttr.CgroupFD (the child starts inside it).
// It returns -1 and no error when cgroups are not in use.
func (m *MemoryLimiter) CgroupFor(nodeID string, limitMB uint64) (int, error) {
	if m.parent == "" {
		return -1, nil
	}
	dir := filepath.Join(m.parent, m.prefix+"."+nodeID)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return -1, fmt.Errorf("create cgroup %s: %w", dir, err)
	}
	limit := strconv.FormatUint(limitMB<<20, 10)
	if err := os.WriteFile(filepath.Join(dir, "memory.max"), []byte(limit), 0o644); err != nil {
		return -1, fmt.Errorf("set %s/memory.max: %w", dir, err)
	}
	_ = os.WriteFile(filepath.Join(dir, "memory.swap.max"), []byte("0"), 0o644)
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	return fd, nil
}

// ApplyRlimit caps pid's address space; the Supervisor calls it for every
// node not started inside a cgroup.
func (m *MemoryLimiter) ApplyRlimit(pid int, limitMB uint64) error {
	bytes := (2*limitMB + rlimitHeadroomMB) << 20
	lim := unix.Rlimit{Cur: bytes, Max: bytes}
	if err := unix.Prlimit(pid, unix.RLIMIT_AS, &lim, nil); err != nil {
		return fmt.Errorf("prlimit RLIMIT_AS on %d: %w", pid, err)
	}
	return nil
}

// Release removes the node's cgroup (after its process exited).
func (m *MemoryLimiter) Release(nodeID string) {
	if m.parent == "" {
		return
	}
	dir := filepath.Join(m.parent, m.prefix+"."+nodeID)
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		m.logger.Warn("could not remove node cgroup", "cgroup", dir, "error", err)
	}
}

// prepareCgroupParent makes parent a cgroup v2 directory whose children may
// use the memory controller.
func prepareCgroupParent(parent string) error {
	root := filepath.Dir(parent)
	ctrl, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("not a cgroup v2 hierarchy: %w", err)
	}
	if !strings.Contains(" "+string(ctrl)+" ", " memory") {
		return errors.New("memory controller not available")
	}
	if err := enableMemory(root); err != nil {
		return err
	}
	if err := os.Mkdir(parent, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return enableMemory(parent)
}

func enableMemory(dir string) error {
	f := filepath.Join(dir, "cgroup.subtree_control")
	cur, err := os.ReadFile(f)
	if err == nil && strings.Contains(string(cur), "memory") {
		return nil
	}
	if err := os.WriteFile(f, []byte("+memory"), 0o644); err != nil {
		return fmt.Errorf("enable memory controller in %s: %w", dir, err)
	}
	return nil
}
