package agent

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// exitInfo is how a node process ended.
type exitInfo struct {
	// Code is the exit status; -1 when killed by a signal or unknown.
	Code int32
	// Signal names the terminating signal ("killed"), "" if none.
	Signal string
}

func (e exitInfo) String() string {
	if e.Signal != "" {
		return "signal " + e.Signal
	}
	return "exit code " + strconv.Itoa(int(e.Code))
}

// exitInfoOf reads a finished exec.Cmd's ProcessState.
func exitInfoOf(ps *os.ProcessState) exitInfo {
	if ps == nil {
		return exitInfo{Code: -1}
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return exitInfo{Code: -1, Signal: ws.Signal().String()}
	}
	return exitInfo{Code: int32(ps.ExitCode())}
}

// processStartTime returns field 22 of /proc/<pid>/stat: the process start
// time in clock ticks since boot. Together with the pid it names one process.
func processStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: split
	// after the last ')'. Fields from there start at field 3.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	const startTimeField = 22 - 3
	if len(fields) <= startTimeField {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields)+2)
	}
	if fields[0] == "Z" || fields[0] == "X" {
		return 0, fmt.Errorf("process %d has exited (state %s)", pid, fields[0])
	}
	return strconv.ParseUint(fields[startTimeField], 10, 64)
}

// sameProcess reports whether pid still is the process started at startTime.
func sameProcess(pid int, startTime uint64) bool {
	if pid <= 0 || startTime == 0 {
		return false
	}
	st, err := processStartTime(pid)
	return err == nil && st == startTime
}

// signalGroup sends sig to the process group led by pgid (our children are
// group leaders). ESRCH (nobody left) is not an error.
func signalGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 1 {
		return fmt.Errorf("refusing to signal process group %d", pgid)
	}
	if err := syscall.Kill(-pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// pidfdWatch opens a pidfd for pid (a process that is not our child) and
// closes the returned channel when it exits. The start time is checked again
// after the pidfd pins the pid, so a reused pid is never watched. stop ends
// the watch without closing the channel.
func pidfdWatch(pid int, startTime uint64, stop <-chan struct{}) (<-chan struct{}, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	if !sameProcess(pid, startTime) {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("process %d is no longer the one started at tick %d", pid, startTime)
	}
	exited := make(chan struct{})
	go func() {
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			select {
			case <-stop:
				return
			default:
			}
			// Block in the kernel; wake now and then to honour stop.
			n, err := unix.Poll(fds, 500)
			if err != nil && !errors.Is(err, unix.EINTR) {
				close(exited)
				return
			}
			if n > 0 {
				close(exited)
				return
			}
		}
	}()
	return exited, nil
}

// findOrphans lists processes (other than known) whose command line runs a
// storage node with this node id and storage path: leftovers of an agent that
// died between starting a child and recording its pid.
func findOrphans(nodeID, storagePath string, known int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == known || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if argValue(args, "--node-id") == nodeID && argValue(args, "--storage-path") == storagePath {
			out = append(out, pid)
		}
	}
	return out
}

func argValue(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

// killOrphan kills pid's process group (or the pid alone if it leads none)
// and waits up to timeout for it to disappear.
func killOrphan(pid int, timeout time.Duration) {
	if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
		_ = signalGroup(pid, syscall.SIGKILL)
	} else {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := processStartTime(pid); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
