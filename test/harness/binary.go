package harness

import (
	"fmt"
	"math/rand/v2"
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

// Ports handed to test processes come from below Linux's ephemeral range
// (32768-60999): a port picked with ":0" by an in-process test, or the local
// port of an outgoing connection, is never one of them, so a master restarted
// on its old port does not find it taken by another test.
const (
	portLow  = 20000
	portHigh = 32000
)

// FreePort returns a loopback TCP (and UDP: gossip binds both) port below the
// ephemeral range that was free a moment ago and has not been handed out by
// this process before.
func FreePort() (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	for range 1000 {
		port := portLow + rand.IntN(portHigh-portLow)
		if portUsed[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		u.Close()
		portUsed[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("no free port found in %d-%d", portLow, portHigh)
}

// FreeAddr is FreePort as "127.0.0.1:port".
func FreeAddr() (string, error) {
	p, err := FreePort()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", p), nil
}
