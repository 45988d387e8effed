package agent

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
)

// migrateChunkSize is the data of one NodeDataChunk.
const migrateChunkSize = 256 << 10

// ErrMigrationFailed: a node's data could not be copied from its old agent
// (unreachable, checksum mismatch, not enough disk here).
var ErrMigrationFailed = rpc.NewSentinel("node data migration failed", rpc.ErrPrecondition)

// ErrNotEnoughDisk: the data to migrate is larger than this agent's free disk.
var ErrNotEnoughDisk = rpc.NewSentinel("not enough free disk for the node's data", rpc.ErrExhausted)

// ErrNodeRunning: a running node's data cannot be handed out (stop it first).
var ErrNodeRunning = rpc.NewSentinel("node is running; its data can be copied only while it is stopped", rpc.ErrPrecondition)

// DataPath is where a node's data directory is on this agent: the path of
// its record (running or stopped here before), else the default
// <data>/nodes/<id>. A node that is running is refused: a copy would not
// be consistent.
func (s *Supervisor) DataPath(nodeID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.nodes[nodeID]; ok {
		if rpc.NodeAlive(n.rec.Status) && n.rec.Status != rpc.NodeFailed {
			return "", fmt.Errorf("node %q is %s: %w", nodeID, n.rec.Status, ErrNodeRunning)
		}
		return n.rec.StoragePath, nil
	}
	if p, ok := s.stoppedPaths[nodeID]; ok {
		return p, nil
	}
	return ResolveStoragePath(s.cfg.DataDir, "", nodeID)
}

// FetchNodeData streams a stopped node's data directory as a tar stream;
// the last chunk carries the SHA-256 of every byte sent.
func (a *agentService) FetchNodeData(req *rpc.FetchNodeDataRequest, stream grpc.ServerStreamingServer[rpc.NodeDataChunk]) error {
	ctx := stream.Context()
	if err := rpc.ValidateID("node_id", req.GetNodeId()); err != nil {
		return rpc.ToStatus(err)
	}
	release, err := a.admit(ctx, rpc.GridAgent_FetchNodeData_FullMethodName, req.GetNodeId(), req.GetLeaderTerm())
	if err != nil {
		return err
	}
	defer release()
	dir, err := a.sup.DataPath(req.GetNodeId())
	if err != nil {
		return toStatus(err)
	}
	size, err := dirSize(dir)
	if err != nil {
		return toStatus(fmt.Errorf("node %q data %s: %w: %v", req.GetNodeId(), dir, rpc.ErrNotFound, err))
	}
	if err := stream.Send(&rpc.NodeDataChunk{TotalBytes: uint64(size)}); err != nil {
		return err
	}
	h := sha256.New()
	cw := &chunkSender{send: stream.Send}
	tw := tar.NewWriter(io.MultiWriter(cw, h))
	if err := tarDir(tw, dir); err != nil {
		return toStatus(fmt.Errorf("%w: read %s: %v", ErrMigrationFailed, dir, err))
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := cw.flush(); err != nil {
		return err
	}
	a.logger.Info("node data handed out", "node_id", req.GetNodeId(), "dir", dir, "bytes", size)
	return stream.Send(&rpc.NodeDataChunk{Sha256: hex.EncodeToString(h.Sum(nil))})
}

// chunkSender buffers writes into NodeDataChunk messages.
type chunkSender struct {
	send func(*rpc.NodeDataChunk) error
	buf  []byte
}

func (c *chunkSender) Write(p []byte) (int, error) {
	c.buf = append(c.buf, p...)
	for len(c.buf) >= migrateChunkSize {
		if err := c.send(&rpc.NodeDataChunk{Data: append([]byte(nil), c.buf[:migrateChunkSize]...)}); err != nil {
			return 0, err
		}
		c.buf = c.buf[migrateChunkSize:]
	}
	return len(p), nil
}

func (c *chunkSender) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	err := c.send(&rpc.NodeDataChunk{Data: c.buf})
	c.buf = nil
	return err
}

// dirSize is the bytes of the regular files under dir.
func dirSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += info.Size()
		}
		return nil
	})
	return total, err
}

// tarDir writes dir's directories and regular files (relative names).
func tarDir(tw *tar.Writer, dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() && !info.IsDir() {
			return nil // sockets, links: not node data
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
}

// migrateData copies node nodeID's data directory from the agent at
// endpoint into dest (replacing it), checking the free disk first and the
// checksum at the end. Nothing is left behind on failure.
func (a *agentService) migrateData(ctx context.Context, nodeID, fromAgent, endpoint, dest string, leaderTerm uint64) (int64, error) {
	if a.dial == nil {
		return 0, fmt.Errorf("%w: this agent cannot dial other agents", ErrMigrationFailed)
	}
	conn, err := grpc.NewClient(endpoint, a.dial...)
	if err != nil {
		return 0, fmt.Errorf("%w: dial agent %s at %s: %v", ErrMigrationFailed, fromAgent, endpoint, err)
	}
	defer conn.Close()
	// The source agent accepts the masters' token (its --master-token, else
	// its --api-token): present the one the ordering master sent with
	// SpawnNode when there is one, else this agent's own token.
	if tok := security.BearerFrom(ctx); tok != "" {
		ctx = security.WithBearerOverride(ctx, tok)
	}
	stream, err := rpc.NewGridAgentClient(conn).FetchNodeData(ctx, &rpc.FetchNodeDataRequest{NodeId: nodeID, LeaderTerm: leaderTerm})
	if err != nil {
		return 0, fmt.Errorf("%w: fetch from agent %s: %v", ErrMigrationFailed, fromAgent, err)
	}
	first, err := stream.Recv()
	if err != nil {
		return 0, fmt.Errorf("%w: fetch from agent %s: %s", ErrMigrationFailed, fromAgent, statusText(err))
	}
	need := first.GetTotalBytes()
	if free, ok := freeBytes(filepath.Dir(dest)); ok && need > free {
		return 0, fmt.Errorf("node %s needs %d bytes, agent %s has %d free; free disk or drain to another agent: %w", nodeID, need, a.source, free, ErrNotEnoughDisk)
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o750); err != nil {
		return 0, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dest), ".migrate-"+nodeID+"-*")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	h := sha256.New()
	r := &chunkReceiver{recv: stream.Recv, hash: h}
	n, err := untar(tar.NewReader(r), tmp)
	if err != nil {
		return 0, fmt.Errorf("%w: from agent %s: %v", ErrMigrationFailed, fromAgent, err)
	}
	if _, err := io.Copy(io.Discard, r); err != nil { // tar padding, up to the checksum
		return 0, fmt.Errorf("%w: from agent %s: %v", ErrMigrationFailed, fromAgent, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if r.sum == "" || r.sum != got {
		return 0, fmt.Errorf("%w: checksum mismatch from agent %s: sent %q, received %q", ErrMigrationFailed, fromAgent, r.sum, got)
	}
	if err := os.RemoveAll(dest); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, dest); err != nil {
		return 0, err
	}
	return n, nil
}

// chunkReceiver reads NodeDataChunk data, hashing it, and keeps the
// checksum of the last chunk.
type chunkReceiver struct {
	recv func() (*rpc.NodeDataChunk, error)
	hash hash.Hash
	buf  []byte
	sum  string
	done bool
}

func (r *chunkReceiver) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.done {
			return 0, io.EOF
		}
		c, err := r.recv()
		if errors.Is(err, io.EOF) {
			r.done = true
			return 0, io.ErrUnexpectedEOF // the checksum chunk never came
		}
		if err != nil {
			return 0, err
		}
		if c.GetSha256() != "" {
			r.sum, r.done = c.GetSha256(), true
			continue
		}
		r.buf = c.GetData()
		r.hash.Write(r.buf)
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// untar writes a tar stream's directories and regular files under dir,
// refusing names that leave it, and returns the file bytes written.
func untar(tr *tar.Reader, dir string) (int64, error) {
	var total int64
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		name := filepath.Clean(filepath.FromSlash(hdr.Name))
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, ".."+string(filepath.Separator)) {
			return total, fmt.Errorf("tar entry %q leaves the data directory", hdr.Name)
		}
		target := filepath.Join(dir, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o750); err != nil {
				return total, err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
				return total, err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(hdr.Mode).Perm()|0o600)
			if err != nil {
				return total, err
			}
			n, err := io.Copy(f, tr)
			total += n
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return total, err
			}
		}
	}
}

// freeBytes is the space available to this process on path's filesystem.
func freeBytes(path string) (uint64, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, false
	}
	return st.Bavail * uint64(st.Bsize), true
}

// statusText is a gRPC error's message.
func statusText(err error) string {
	return err.Error()
}
