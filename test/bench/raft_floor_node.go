package bench

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// The bare-raft floor runs each raft node in a process of its own (this
// test binary again, with $GRID_RAFT_FLOOR_NODE set), as Grid runs its
// masters: an HTTP endpoint per node takes the bench's applies and
// transfers. No Grid code runs in them.

const floorNodeEnv = "GRID_RAFT_FLOOR_NODE" // "<index>,<data dir>,<http addr>,<id=raft addr;...>"

// floorNodes are the three node processes: HTTP address per node.
type floorNodes struct {
	http   []string
	client *http.Client
}

// freeAddr is a loopback address with a port nothing listens on now.
func freeAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startFloorProcesses starts three raft node processes under dir.
func startFloorProcesses(b *testing.B, dir string) *floorNodes {
	n := &floorNodes{client: &http.Client{Timeout: 10 * time.Second}}
	var peers []string
	for i := range 3 {
		peers = append(peers, fmt.Sprintf("floor-%d=%s", i, freeAddr(b)))
		n.http = append(n.http, freeAddr(b))
	}
	for i := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d,%s,%s,%s", floorNodeEnv, i,
			filepath.Join(dir, fmt.Sprintf("node%d", i)), n.http[i], strings.Join(peers, ";")))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatalf("start raft floor node %d: %v", i, err)
		}
		b.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	return n
}

// post sends an empty POST to path on node i and returns its status code.
func (n *floorNodes) post(i int, path string) (int, error) {
	resp, err := n.client.Post("http://"+n.http[i]+path, "application/octet-stream", nil)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// waitLeader returns the index of the node that leads, once one does.
func (n *floorNodes) waitLeader(b *testing.B) int {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for i := range n.http {
			if code, err := n.post(i, "/leader"); err == nil && code == http.StatusOK {
				return i
			}
		}
		time.Sleep(5 * time.Millisecond) // poll: the processes start up
	}
	b.Fatal("no raft floor node leads after 30 s")
	return -1
}

// apply commits one 200-byte entry through node i.
func (n *floorNodes) apply(i int) error {
	code, err := n.post(i, "/apply")
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("node %d answered HTTP %d", i, code)
	}
	return err
}

// transfer asks leader i to hand leadership over and waits for raft's answer.
func (n *floorNodes) transfer(i int) error {
	code, err := n.post(i, "/transfer")
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("node %d answered HTTP %d to a transfer", i, code)
	}
	return err
}

// applyOnNewLeader applies on the other nodes until one, the new leader,
// commits it, and returns that node.
func (n *floorNodes) applyOnNewLeader(old int) (int, error) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for i := range n.http {
			if i != old && n.apply(i) == nil {
				return i, nil
			}
		}
	}
	return -1, fmt.Errorf("no new leader committed an apply within 10 s of the transfer")
}

// runFloorNode is a node process's body (TestMain calls it when the
// environment names a node); it serves until killed.
func runFloorNode(spec string) error {
	parts := strings.SplitN(spec, ",", 4)
	if len(parts) != 4 {
		return fmt.Errorf("%s=%q: want index,dir,http,peers", floorNodeEnv, spec)
	}
	self, err := strconv.Atoi(parts[0])
	if err != nil {
		return err
	}
	dir, httpAddr := parts[1], parts[2]
	var servers []raft.Server
	for _, p := range strings.Split(parts[3], ";") {
		id, addr, _ := strings.Cut(p, "=")
		servers = append(servers, raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(addr)})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	w, err := raftwal.Open(dir, raftwal.WithMetaStore(&metadb.BoltMetaDB{}))
	if err != nil {
		return fmt.Errorf("open wal: %w", err)
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "raft-floor", Level: hclog.Error})
	tr, err := raft.NewTCPTransportWithLogger(string(servers[self].Address), nil, 3, 5*time.Second, logger)
	if err != nil {
		return fmt.Errorf("transport: %w", err)
	}
	conf := raft.DefaultConfig()
	conf.LocalID = servers[self].ID
	conf.Logger = logger
	// Grid's default profile (cluster/config.go).
	conf.HeartbeatTimeout = 400 * time.Millisecond
	conf.ElectionTimeout = 400 * time.Millisecond
	conf.LeaderLeaseTimeout = 390 * time.Millisecond
	conf.CommitTimeout = 20 * time.Millisecond
	r, err := raft.NewRaft(conf, nopFSM{}, w, w, raft.NewInmemSnapshotStore(), tr)
	if err != nil {
		return fmt.Errorf("raft: %w", err)
	}
	if self == 0 {
		if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
	}
	payload := make([]byte, 200) // about a RegisterAgent entry
	mux := http.NewServeMux()
	mux.HandleFunc("POST /leader", func(w http.ResponseWriter, _ *http.Request) {
		if r.State() != raft.Leader {
			w.WriteHeader(http.StatusConflict)
		}
	})
	mux.HandleFunc("POST /apply", func(w http.ResponseWriter, _ *http.Request) {
		if err := r.Apply(payload, 5*time.Second).Error(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("POST /transfer", func(w http.ResponseWriter, _ *http.Request) {
		if err := r.LeadershipTransfer().Error(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	return http.ListenAndServe(httpAddr, mux)
}

// nopFSM applies nothing.
type nopFSM struct{}

func (nopFSM) Apply(*raft.Log) any                 { return nil }
func (nopFSM) Snapshot() (raft.FSMSnapshot, error) { return nopSnapshot{}, nil }
func (nopFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

type nopSnapshot struct{}

func (nopSnapshot) Persist(s raft.SnapshotSink) error { return s.Close() }
func (nopSnapshot) Release()                          {}
