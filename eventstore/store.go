package eventstore

import (
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	bolt "go.etcd.io/bbolt"
)

// Options configure Open and Restore.
type Options struct {
	// NoSync skips the fsync per commit. The fsm package sets it: the Raft
	// log is the durable record and the store is rebuilt from snapshot + log.
	NoSync bool
	// Logger is the parent logger; the store logs as "eventstore". Nil discards.
	Logger hclog.Logger
}

// initialMmapSize is reserved address space (not memory) so that a long
// snapshot read transaction rarely blocks a writer that grows the file.
const initialMmapSize = 1 << 30

// openTimeout bounds the wait for another process's lock on the file.
const openTimeout = 2 * time.Second

// Store is a bbolt-backed graph of concepts and associations that also holds
// Grid's events in graph form with their indexes. All methods are safe for
// concurrent use; writes are serialised.
type Store struct {
	path   string
	db     *bolt.DB
	logger hclog.Logger

	// writeMu serialises write transactions with the cache update after them.
	writeMu sync.Mutex

	// idxMu guards ix: readers hold it for reading from before their read
	// transaction begins until they are done with both; writers (holding
	// writeMu) take it to change ix once their transaction committed, or
	// around the commit of a prune.
	idxMu sync.RWMutex
	ix    *memIndex

	// mu guards the cached counters and the notify channel.
	mu       sync.RWMutex
	lastSeq  uint64
	firstSeq uint64
	digest   [32]byte
	notify   chan struct{}
	closed   bool
}

// Open opens (creating if absent) the store at path.
func Open(path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("open store: %w: empty path", ErrInvalid)
	}
	logger := opts.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         openTimeout,
		NoSync:          opts.NoSync,
		NoFreelistSync:  opts.NoSync,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: initialMmapSize,
	})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{
		path:   path,
		db:     db,
		logger: logger.Named("eventstore"),
		notify: make(chan struct{}),
	}
	var format uint64
	if err := db.View(func(tx *bolt.Tx) error { format = readFormat(tx); return checkFormat(tx, path) }); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	if format == 2 || format == 3 {
		logger.Named("eventstore").Info("migrating the event store to the current format in place (indexes in memory, entity concepts derived)", "path", path, "from", format, "to", formatVersion)
		if err := db.Update(func(tx *bolt.Tx) error { return migrateV3(tx, format) }); err != nil {
			db.Close()
			return nil, fmt.Errorf("open store: %w", err)
		}
	} else if format == 1 {
		db.Close()
		logger.Named("eventstore").Info("migrating the event store to the current format (the original is kept as .format1)", "path", path, "from", format, "to", formatVersion)
		if err := migrateFile(path); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return Open(path, opts)
	}
	if err := db.Update(initFormat); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := db.View(s.loadCache); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	t0 := time.Now()
	if err := db.View(func(tx *bolt.Tx) (err error) { s.ix, err = buildIndex(tx); return err }); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s.logger.Debug("store opened", "path", path, "last_seq", s.lastSeq, "events", s.ix.count,
		"index_rebuild", time.Since(t0), "no_sync", opts.NoSync)
	return s, nil
}

// createBuckets makes every bucket the store uses.
func createBuckets(tx *bolt.Tx) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// loadCache reads the persisted counters into memory.
func (s *Store) loadCache(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	s.lastSeq = getUint(meta, metaLastSeq)
	if d := meta.Get(metaDigest); len(d) == len(s.digest) {
		copy(s.digest[:], d)
	}
	s.firstSeq = firstEventSeq(tx)
	return nil
}

// firstEventSeq is the lowest stored event seq, 0 when none.
func firstEventSeq(tx *bolt.Tx) uint64 {
	k, _ := tx.Bucket(bucketEvents).Cursor().First()
	if len(k) != 8 {
		return 0
	}
	return decodeUint(k)
}

// Close closes the file and wakes every Notify waiter. Closing twice is harmless.
func (s *Store) Close() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.notify)
	s.mu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", s.path, err)
	}
	return nil
}

// Path is the file the store lives in.
func (s *Store) Path() string { return s.path }

// update runs fn in a write transaction, refusing when closed.
func (s *Store) update(fn func(tx *bolt.Tx) error) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	return s.db.Update(fn)
}

// view runs fn in a read transaction with the index (s.ix) read-locked,
// refusing when closed. The index never holds a seq the transaction cannot
// see: appends index after their commit, prunes unindex with theirs.
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	s.idxMu.RLock()
	defer s.idxMu.RUnlock()
	return s.db.View(fn)
}

// Stats counts concepts, associations and stored events, with the highest
// seq assigned and the file size.
func (s *Store) Stats() (Stats, error) {
	var st Stats
	err := s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		st.Concepts = getUint(meta, metaConcepts)
		st.Associations = getUint(meta, metaAssocs)
		st.Events = getUint(meta, metaEvents)
		st.LastSeq = getUint(meta, metaLastSeq)
		st.Written = getUint(meta, metaWrites)
		st.SizeBytes = uint64(tx.Size())
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	return st, nil
}

// Stats counts what the store holds.
type Stats struct {
	Concepts     uint64
	Associations uint64
	Events       uint64 // events stored now (after pruning)
	LastSeq      uint64 // highest seq ever assigned
	SizeBytes    uint64 // size of the file
	Written      uint64 // the write sequence: concept and association writes ever applied
}

// Flush forces the file to stable storage (useful with NoSync).
func (s *Store) Flush() error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// LastSeq is the highest event seq ever assigned; kept after pruning.
func (s *Store) LastSeq() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lastSeq
}

// FirstSeq is the lowest event seq still stored; 0 when no event is stored.
func (s *Store) FirstSeq() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.firstSeq
}

// Digest is a hex running SHA-256 over (id, seq) of every event ever
// appended. It is persisted and travels in snapshots, so replicas fed the
// same appends report the same digest.
func (s *Store) Digest() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return hex.EncodeToString(s.digest[:])
}

// Notify returns a channel closed at the next successful append that stored
// at least one event, or at Close. Take it before reading, then wait on it.
func (s *Store) Notify() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.notify
}

// publish updates the cached counters after a committed write and wakes
// Notify waiters when woke is set.
func (s *Store) publish(lastSeq, firstSeq uint64, digest [32]byte, wake bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastSeq, s.firstSeq, s.digest = lastSeq, firstSeq, digest
	if wake && !s.closed {
		close(s.notify)
		s.notify = make(chan struct{})
	}
}
