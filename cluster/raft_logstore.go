package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	walmetrics "github.com/hashicorp/raft-wal/metrics"
	bolt "go.etcd.io/bbolt"
)

// The Raft log store (--raft-log-store): raft-wal (the write-ahead log
// Consul adopted) appends to segment files in <data>/raft/wal with one
// fdatasync per append; raft-boltdb keeps log and stable state in
// <data>/raft/raft.db and pays two fdatasyncs per append (its bbolt commit
// writes the pages, then the meta page). Both fsync every append.
// A data dir holds one of them: starting with the other store is refused
// (there is no in-place migration; see docs/operations.md, "Raft log store").
// Unset ("") picks the store the data dir already holds (raft.db keeps
// raft-boltdb), and raft-wal for a new data dir: it is faster on every
// registry write figure (BenchmarkLogStore). raft-wal v0.4.0 could not
// reopen a log whose tail a follower had truncated ("sealed segment has no
// index block", hashicorp/raft-wal#31: a SIGKILLed master in make chaos);
// v0.4.1 fixed it, TestWALMasterRestartsAfterSIGKILLUnderLoad (test/) and
// TestLogStoreReopensAfterKillFollowingSuffixTruncation prove recovery.
const (
	// LogStoreBoltDB is raft-boltdb/v2.
	LogStoreBoltDB = "boltdb"
	// LogStoreWAL is hashicorp/raft-wal (the default for a new data dir).
	LogStoreWAL = "wal"

	boltLogFile = "raft.db"
	walDirName  = "wal"
)

// ErrLogStoreMismatch refuses to start on a data dir whose Raft log is in
// the other log store's format.
var ErrLogStoreMismatch = errors.New("the data dir holds the other raft log store")

// raftLogStore is what raft needs of a log store, plus Close.
type raftLogStore interface {
	raft.LogStore
	raft.StableStore
	io.Closer
}

// walStore is raft-wal with appends past a snapshot's gap (StoreLogs).
// raft-wal's Close also closes its meta database (since v0.4.1).
type walStore struct {
	*raftwal.WAL
}

// StoreLogs appends logs. raft-wal only appends the entry after its last
// one, but raft continues past a gap after it restores a snapshot (a user
// restore, or a follower installing the leader's): its next entry is the
// snapshot's index + 1, beyond the log's end. The entries before the gap
// are all covered by that snapshot, so the log is emptied first (raft-wal
// takes any index as an empty log's first; raft-boltdb keeps gaps itself).
func (w walStore) StoreLogs(logs []*raft.Log) error {
	if len(logs) > 0 {
		last, err := w.WAL.LastIndex()
		if err != nil {
			return err
		}
		if last > 0 && logs[0].Index > last+1 {
			first, err := w.WAL.FirstIndex()
			if err != nil {
				return err
			}
			if err := w.WAL.DeleteRange(first, last); err != nil {
				return fmt.Errorf("drop the log before a restored snapshot's gap (%d..%d): %w", first, last, err)
			}
		}
	}
	return w.WAL.StoreLogs(logs)
}

// StoreLog appends one log (see StoreLogs).
func (w walStore) StoreLog(l *raft.Log) error { return w.StoreLogs([]*raft.Log{l}) }

// validLogStore checks a --raft-log-store value ("": the data dir decides).
func validLogStore(name string) error {
	switch name {
	case "", LogStoreBoltDB, LogStoreWAL:
		return nil
	}
	return fmt.Errorf("%w: raft log store %q: want %s or %s", ErrInvalid, name, LogStoreBoltDB, LogStoreWAL)
}

// openLogStore opens the configured log store in the raft dir, refusing
// when the dir holds the other store's files.
func openLogStore(dir, name string, logger hclog.Logger) (raftLogStore, error) {
	if err := validLogStore(name); err != nil {
		return nil, err
	}
	boltPath, walDir := filepath.Join(dir, boltLogFile), filepath.Join(dir, walDirName)
	if name == "" {
		name = LogStoreWAL
		if _, err := os.Stat(boltPath); err == nil {
			name = LogStoreBoltDB // a data dir started with raft-boltdb keeps its log
		}
		logger.Debug("raft log store chosen by the data dir", "store", name)
	}
	other, otherName := walDir, LogStoreWAL
	if name == LogStoreWAL {
		other, otherName = boltPath, LogStoreBoltDB
	}
	if _, err := os.Stat(other); err == nil {
		return nil, fmt.Errorf("%w: --raft-log-store %s, but %s holds a %s log store; start with --raft-log-store %s, "+
			"or switch stores by removing this master from the cluster, emptying its data dir and letting it rejoin "+
			"(it catches up from a snapshot)", ErrLogStoreMismatch, name, other, otherName, otherName)
	}
	if name == LogStoreWAL {
		if err := os.MkdirAll(walDir, 0o755); err != nil {
			return nil, fmt.Errorf("create raft wal dir: %w", err)
		}
		meta := &metadb.BoltMetaDB{}
		w, err := raftwal.Open(walDir, raftwal.WithLogger(logger.Named("wal")), raftwal.WithMetaStore(meta),
			// raft_wal_* metrics, through armon/go-metrics like raft's own.
			raftwal.WithMetricsCollector(walmetrics.NewGoMetricsCollector([]string{"raft", "wal"}, nil, nil)))
		if err != nil {
			_ = meta.Close()
			return nil, fmt.Errorf("open raft wal %s: %w", walDir, err)
		}
		return walStore{WAL: w}, nil
	}
	// Every commit still fsyncs (NoSync stays off). The freelist is not
	// written on each commit (bbolt rebuilds it at open, as etcd does),
	// which saves page writes on the write path of every Raft entry.
	store, err := raftboltdb.New(raftboltdb.Options{Path: boltPath, BoltOptions: &bolt.Options{
		Timeout:        raftStoreOpenTimeout,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	}})
	if err != nil {
		return nil, fmt.Errorf("open raft log store %s: %w", dir, err)
	}
	return store, nil
}
