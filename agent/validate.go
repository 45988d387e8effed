package agent

import (
	"errors"
	"fmt"
	"github.com/gridctl/grid/rpc"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// ValidateNodeID checks an id with the one id rule of Grid (rpc.ValidateID;
// agent ids follow it too): 1-128 characters of [A-Za-z0-9._-], not "." or
// "..". The error wraps ErrInvalidNodeID (and so rpc.ErrInvalid).
func ValidateNodeID(id string) error {
	if err := rpc.ValidateID("id", id); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalidNodeID, strings.TrimPrefix(err.Error(), rpc.ErrInvalid.Error()+": "))
	}
	return nil
}

// ResolveStoragePath turns a requested storage path into an absolute
// directory inside dataDir. Empty means <dataDir>/nodes/<nodeID>; a relative
// path is taken relative to dataDir; an absolute one must already lie inside
// it. `..` escapes and symlinks pointing outside dataDir (checked with
// EvalSymlinks on the longest existing prefix) are refused.
func ResolveStoragePath(dataDir, requested, nodeID string) (string, error) {
	root, err := filepath.Abs(dataDir)
	if err != nil {
		return "", fmt.Errorf("%w: data dir %q: %v", ErrInvalidStoragePath, dataDir, err)
	}
	realRoot, err := evalExistingPrefix(root)
	if err != nil {
		return "", fmt.Errorf("%w: data dir %q: %v", ErrInvalidStoragePath, dataDir, err)
	}
	if strings.ContainsRune(requested, 0) {
		return "", fmt.Errorf("%w: storage_path %q holds a NUL byte", ErrInvalidStoragePath, requested)
	}
	var target string
	switch {
	case requested == "":
		target = filepath.Join(root, "nodes", nodeID)
	case filepath.IsAbs(requested):
		target = filepath.Clean(requested)
	default:
		target = filepath.Join(root, requested)
	}
	if !within(root, target) {
		return "", fmt.Errorf("%w: storage_path %q resolves to %q, outside the data dir %q", ErrInvalidStoragePath, requested, target, root)
	}
	if target == root {
		return "", fmt.Errorf("%w: storage_path %q is the data dir itself; name a directory inside it", ErrInvalidStoragePath, requested)
	}
	real, err := evalExistingPrefix(target)
	if err != nil {
		return "", fmt.Errorf("%w: storage_path %q: %v", ErrInvalidStoragePath, requested, err)
	}
	if !within(realRoot, real) || real == realRoot {
		return "", fmt.Errorf("%w: storage_path %q follows a symlink to %q, outside the data dir %q", ErrInvalidStoragePath, requested, real, realRoot)
	}
	return target, nil
}

// within reports whether path is root or below it (both clean and absolute).
func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return false
	}
	return rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)))
}

// evalExistingPrefix resolves symlinks on the longest existing prefix of p
// and appends the rest unchanged.
func evalExistingPrefix(p string) (string, error) {
	rest := ""
	cur := p
	for {
		real, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(real, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return p, nil
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// CheckMemoryLimit applies the default for 0 and checks the bounds.
func CheckMemoryLimit(requested, def uint64) (uint64, error) {
	if requested == 0 {
		requested = def
	}
	if requested < MinMemoryLimitMB || requested > MaxMemoryLimitMB {
		return 0, fmt.Errorf("%w: memory_limit_mb %d: allowed range is %d-%d (0 = the agent's default %d)",
			ErrInvalidMemoryLimit, requested, MinMemoryLimitMB, MaxMemoryLimitMB, def)
	}
	return requested, nil
}

// portFree reports whether port can be listened on, on all interfaces.
func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// ensureDir creates dir (and parents) with private permissions.
func ensureDir(dir string) error {
	return os.MkdirAll(dir, 0o750)
}

func archName() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	default:
		return runtime.GOARCH
	}
}
