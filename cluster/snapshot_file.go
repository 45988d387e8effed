package cluster

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gridctl/grid/fsm"
	"github.com/hashicorp/raft"
)

// ErrBadSnapshotFile: a file given as a snapshot is not one, or is cut short.
var ErrBadSnapshotFile = errors.New("not a usable grid snapshot file")

// fileMeta is a snapshot file's metadata: raft's, plus the id of the
// cluster it was taken from (a field older readers ignore).
type fileMeta struct {
	raft.SnapshotMeta
	ClusterID string `json:"GridClusterID,omitempty"`
}

// writeSnapshotFile writes a snapshot file: the header (magic, metadata)
// then the FSM stream rc.
func writeSnapshotFile(w io.Writer, meta *raft.SnapshotMeta, clusterID string, rc io.Reader) error {
	metaJSON, err := json.Marshal(fileMeta{SnapshotMeta: *meta, ClusterID: clusterID})
	if err != nil {
		return err
	}
	var lenBuf [4]byte
	binary.BigEndian.PutUint32(lenBuf[:], uint32(len(metaJSON)))
	for _, b := range [][]byte{[]byte(snapshotFileMagic), lenBuf[:], metaJSON} {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	_, err = io.Copy(w, rc)
	return err
}

// readSnapshotHeader reads a snapshot file's header and returns its
// metadata and the header's length in bytes.
func readSnapshotHeader(r io.Reader) (*fileMeta, int64, error) {
	magic := make([]byte, len(snapshotFileMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != snapshotFileMagic {
		return nil, 0, fmt.Errorf("%w: not a grid snapshot file (bad header)", ErrBadSnapshotFile)
	}
	var lenBuf [4]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, 0, fmt.Errorf("%w: truncated snapshot header", ErrBadSnapshotFile)
	}
	n := binary.BigEndian.Uint32(lenBuf[:])
	if n > maxSnapshotMeta {
		return nil, 0, fmt.Errorf("%w: snapshot metadata of %d bytes", ErrBadSnapshotFile, n)
	}
	metaJSON := make([]byte, n)
	if _, err := io.ReadFull(r, metaJSON); err != nil {
		return nil, 0, fmt.Errorf("%w: truncated snapshot metadata", ErrBadSnapshotFile)
	}
	var meta fileMeta
	if err := json.Unmarshal(metaJSON, &meta); err != nil {
		return nil, 0, fmt.Errorf("%w: snapshot metadata: %v", ErrBadSnapshotFile, err)
	}
	return &meta, int64(len(snapshotFileMagic) + 4 + len(metaJSON)), nil
}

// SnapshotInfo is what `grid operator snapshot inspect` prints.
type SnapshotInfo struct {
	File      string   `json:"file"`
	ClusterID string   `json:"cluster_id"` // empty in files from before it was recorded
	Index     uint64   `json:"index"`
	Term      uint64   `json:"term"`
	Size      int64    `json:"size"`   // the whole file, bytes
	SHA256    string   `json:"sha256"` // of the whole file
	Agents    int      `json:"agents"`
	Nodes     int      `json:"nodes"`
	Events    uint64   `json:"events"`
	LastSeq   uint64   `json:"last_seq"`
	Masters   []string `json:"masters"` // the Raft configuration in the snapshot
}

// InspectSnapshotFile reads a snapshot file without a running cluster: its
// header, its checksum, and the counts of agents, nodes and events in it.
// A truncated file, or one that is not a snapshot, is ErrBadSnapshotFile.
func InspectSnapshotFile(path string) (*SnapshotInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	meta, headerLen, err := readSnapshotHeader(bufio.NewReader(f))
	if err != nil {
		return nil, err
	}
	if body := st.Size() - headerLen; body != meta.Size {
		return nil, fmt.Errorf("%w: %s is truncated or padded: the state stream is %d bytes, the header says %d", ErrBadSnapshotFile, path, body, meta.Size)
	}
	h := sha256.New()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	if _, err := f.Seek(headerLen, io.SeekStart); err != nil {
		return nil, err
	}
	sum, err := fsm.InspectSnapshot(f, "")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSnapshotFile, err)
	}
	info := &SnapshotInfo{File: path, ClusterID: meta.ClusterID, Index: meta.Index, Term: meta.Term, Size: st.Size(), SHA256: hex.EncodeToString(h.Sum(nil)),
		Agents: sum.Agents, Nodes: sum.Nodes, Events: sum.Events, LastSeq: sum.LastSeq, Masters: []string{}}
	for _, s := range meta.Configuration.Servers {
		info.Masters = append(info.Masters, string(s.ID))
	}
	return info, nil
}
