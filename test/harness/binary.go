package harness

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// Binary returns the path of the grid binary under test: $GRID_BIN when set
// (make test sets it to bin/grid), else a fresh build of ./cmd/grid.
func Binary() (string, error) {
	binOnce.Do(func() {
		if p := os.Getenv("GRID_BIN"); p != "" {
			binPath, binErr = filepath.Abs(p)
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "grid-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "grid")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/grid")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("build grid: %v\n%s", err, out)
		}
	})
	return binPath, binErr
}

var (
	portMu   sync.Mutex
	portUsed = map[int]bool{}
)

// FreePort returns a loopback TCP port that was free a moment ago and has not
// been handed out by this process before.
func FreePort() (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		// Gossip also binds UDP on the same port.
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		u.Close()
		if !portUsed[port] {
			portUsed[port] = true
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port found")
}

// FreeAddr is FreePort as "127.0.0.1:port".
func FreeAddr() (string, error) {
	p, err := FreePort()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", p), nil
}
