package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// snapshotFileMagic starts a saved snapshot file:
//
//	magic | u32 big-endian length | raft.SnapshotMeta as JSON | FSM snapshot stream
const snapshotFileMagic = "GRIDSNAPSHOT1\n"

// snapshotChunkSize is the size of each streamed chunk.
const snapshotChunkSize = 256 << 10

// maxSnapshotMeta bounds the JSON metadata of an uploaded snapshot.
const maxSnapshotMeta = 1 << 20

// chunkWriter turns writes into SnapshotChunk messages.
type chunkWriter struct {
	send func(*rpc.SnapshotChunk) error
}

func (w chunkWriter) Write(p []byte) (int, error) {
	for off := 0; off < len(p); off += snapshotChunkSize {
		end := min(off+snapshotChunkSize, len(p))
		if err := w.send(&rpc.SnapshotChunk{Data: append([]byte(nil), p[off:end]...)}); err != nil {
			return off, err
		}
	}
	return len(p), nil
}

// chunkReader reads the data of received SnapshotChunk messages.
type chunkReader struct {
	recv func() (*rpc.SnapshotChunk, error)
	buf  []byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		c, err := r.recv()
		if err != nil {
			return 0, err // io.EOF at the end of the stream
		}
		r.buf = c.Data
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// SaveSnapshot streams a snapshot of the cluster state (the leader's unless
// x-grid-stale is set). A follower relays the leader's stream; the leader
// runs a Raft barrier first, so the snapshot holds every acknowledged
// write. It needs the full API token (rpc/security: not a read).
func (s *gridService) SaveSnapshot(_ *rpc.Empty, stream grpc.ServerStreamingServer[rpc.SnapshotChunk]) error {
	m := s.m
	ctx := stream.Context()
	if !m.isLeader() && !m.allowStale(ctx) {
		if isForwarded(ctx) {
			return m.notLeaderStatus()
		}
		return m.relaySave(ctx, stream)
	}
	if m.isLeader() {
		// Every committed entry applied first: the file then holds every
		// write acknowledged before the call.
		if err := m.consensus.raft.Barrier(m.config.ApplyTimeout).Error(); err != nil {
			return toStatus(fmt.Errorf("barrier before snapshot: %w", err))
		}
	}
	meta, rc, err := m.openSnapshot()
	if err != nil {
		return toStatus(err)
	}
	defer rc.Close()
	w := bufio.NewWriterSize(chunkWriter{send: stream.Send}, snapshotChunkSize)
	if err := writeSnapshotFile(w, meta, m.identity.ClusterID(), rc); err != nil {
		return status.Errorf(codes.Internal, "stream snapshot: %v", err)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	m.logger.Info("snapshot saved by operator", "index", meta.Index, "term", meta.Term, "size", meta.Size)
	return nil
}

// openSnapshot takes a fresh raft snapshot, or opens the latest one when
// nothing changed since it.
func (m *Master) openSnapshot() (*raft.SnapshotMeta, io.ReadCloser, error) {
	fut := m.consensus.raft.Snapshot()
	if err := fut.Error(); err == nil {
		return fut.Open()
	} else if !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil, nil, fmt.Errorf("take snapshot: %w", err)
	}
	list, err := m.consensus.snapshots.List()
	if err != nil || len(list) == 0 {
		return nil, nil, fmt.Errorf("%w: no snapshot available: %v", ErrNotFound, err)
	}
	return m.consensus.snapshots.Open(list[0].ID)
}

// RestoreSnapshot replaces the cluster's state with an uploaded snapshot
// (on the leader; a follower relays the stream). Disaster recovery only.
func (s *gridService) RestoreSnapshot(stream grpc.ClientStreamingServer[rpc.SnapshotChunk, rpc.Empty]) error {
	m := s.m
	ctx := stream.Context()
	if !m.isLeader() {
		if isForwarded(ctx) {
			return m.notLeaderStatus()
		}
		return m.relayRestore(ctx, stream)
	}
	if err := m.restoreFrom(ctx, &limitedReader{r: &chunkReader{recv: stream.Recv}, max: m.config.MaxSnapshotSize}); err != nil {
		return toStatus(err)
	}
	return stream.SendAndClose(&rpc.Empty{})
}

// restoreFrom spools the upload to a temp file, checks its header and
// restores it through raft.
func (m *Master) restoreFrom(ctx context.Context, r io.Reader) error {
	tmp, err := os.CreateTemp(m.config.DataDir, "restore-*.snap")
	if err != nil {
		return fmt.Errorf("restore: temp file: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	if _, err := io.Copy(tmp, r); err != nil {
		return fmt.Errorf("restore: receive: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	st, err := tmp.Stat()
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	br := bufio.NewReader(tmp)
	meta, headerLen, err := readSnapshotHeader(br)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if body := st.Size() - headerLen; body != meta.Size {
		return fmt.Errorf("%w: the upload is truncated: the state stream is %d bytes, its header says %d; nothing was changed", ErrInvalid, body, meta.Size)
	}
	if ours := m.identity.ClusterID(); meta.ClusterID != "" && ours != "" && meta.ClusterID != ours {
		if c := m.fsm.Counts(); c.Agents > 0 || c.Nodes > 0 {
			return fmt.Errorf("%w: the snapshot is from cluster %s, this is cluster %s and it holds %d agents and %d nodes; restore it into a fresh cluster (nothing was changed)",
				ErrInvalid, meta.ClusterID, ours, c.Agents, c.Nodes)
		}
		m.logger.Warn("restoring a snapshot from another cluster into this empty one", "snapshot_cluster_id", meta.ClusterID, "cluster_id", ours)
	}
	if err := m.consensus.raft.Restore(&meta.SnapshotMeta, br, m.config.ApplyTimeout); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	m.heartbeats.RearmAll(m.config.OfflineAfter)
	m.logger.Warn("cluster state restored from snapshot", "snapshot_index", meta.Index, "snapshot_term", meta.Term)
	_ = ctx
	return nil
}

// relaySave streams the leader's snapshot through this follower, looking
// for the leader again (for up to LeaderWait) while no chunk was relayed yet.
func (m *Master) relaySave(ctx context.Context, stream grpc.ServerStreamingServer[rpc.SnapshotChunk]) error {
	w := m.newLeaderWait()
	for {
		sent, err := m.relaySaveOnce(ctx, stream)
		if err == nil || sent || status.Code(err) != codes.Unavailable {
			return err
		}
		m.endpoint.leaderConn.close()
		if perr := w.pause(ctx, false); perr != nil {
			return err
		}
	}
}

func (m *Master) relaySaveOnce(ctx context.Context, stream grpc.ServerStreamingServer[rpc.SnapshotChunk]) (sent bool, err error) {
	c, err := m.leaderClient(ctx)
	if err != nil {
		return false, toStatus(err)
	}
	in, err := c.SaveSnapshot(m.forwardContext(ctx), &rpc.Empty{})
	if err != nil {
		return false, err
	}
	for {
		chunk, err := in.Recv()
		if errors.Is(err, io.EOF) {
			return sent, nil
		}
		if err != nil {
			return sent, err
		}
		if err := stream.Send(chunk); err != nil {
			return true, err
		}
		sent = true
	}
}

// relayRestore spools the upload, then sends it to the leader, looking for
// the leader again (for up to LeaderWait) when it is unavailable.
func (m *Master) relayRestore(ctx context.Context, stream grpc.ClientStreamingServer[rpc.SnapshotChunk, rpc.Empty]) error {
	tmp, err := os.CreateTemp(m.config.DataDir, "relay-*.snap")
	if err != nil {
		return toStatus(fmt.Errorf("restore: temp file: %w", err))
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	if _, err := io.Copy(tmp, &limitedReader{r: &chunkReader{recv: stream.Recv}, max: m.config.MaxSnapshotSize}); err != nil {
		return toStatus(fmt.Errorf("restore: receive: %w", err))
	}
	w := m.newLeaderWait()
	for {
		err := m.relayRestoreOnce(ctx, tmp)
		if err == nil {
			return stream.SendAndClose(&rpc.Empty{})
		}
		if status.Code(err) != codes.Unavailable {
			return err
		}
		m.endpoint.leaderConn.close()
		if perr := w.pause(ctx, false); perr != nil {
			return err
		}
	}
}

func (m *Master) relayRestoreOnce(ctx context.Context, f *os.File) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return toStatus(err)
	}
	c, err := m.leaderClient(ctx)
	if err != nil {
		return toStatus(err)
	}
	out, err := c.RestoreSnapshot(m.forwardContext(ctx))
	if err != nil {
		return err
	}
	if _, err := io.Copy(chunkWriter{send: out.Send}, f); err != nil && !errors.Is(err, io.EOF) {
		_, rerr := out.CloseAndRecv()
		if rerr != nil {
			return rerr
		}
		return err
	}
	_, err = out.CloseAndRecv()
	return err
}
