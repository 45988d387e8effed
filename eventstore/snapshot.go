package eventstore

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Snapshot is a consistent, read-only view of a store (a bbolt read
// transaction). Writes continue while it is held. Release it when done.
type Snapshot struct {
	tx *bolt.Tx
}

// Snapshot takes a cheap consistent view of the store.
func (s *Store) Snapshot() (*Snapshot, error) {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	tx, err := s.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return &Snapshot{tx: tx}, nil
}

// WriteTo streams the view as a complete store file to w, page by page,
// without loading the store into memory.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	if sn == nil || sn.tx == nil {
		return 0, fmt.Errorf("snapshot: %w: released", ErrInvalid)
	}
	n, err := sn.tx.WriteTo(w)
	if err != nil {
		return n, fmt.Errorf("write snapshot: %w", err)
	}
	return n, nil
}

// Release ends the view. Releasing twice is harmless.
func (sn *Snapshot) Release() {
	if sn == nil || sn.tx == nil {
		return
	}
	_ = sn.tx.Rollback()
	sn.tx = nil
}

// Restore writes the store file read from r (a Snapshot's WriteTo output)
// to path, replacing any file there, and opens it. The file is written to a
// temporary name and renamed into place only once complete and valid.
func Restore(path string, r io.Reader, opts Options) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("restore: %w: empty path", ErrInvalid)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".restore-*")
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if _, err := io.Copy(bw, r); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("restore: read snapshot: %w", err)
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("restore: %w", err)
	}
	if !opts.NoSync {
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return nil, fmt.Errorf("restore: %w", err)
		}
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if format, err := fileFormat(tmpName); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	} else if format == 1 {
		// A snapshot taken by an older Grid: migrate it before it goes live.
		migrated := tmpName + ".v2"
		defer os.Remove(migrated)
		if err := migrateV1(tmpName, migrated); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		tmpName = migrated
	}
	if err := checkStoreFile(tmpName); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	return Open(path, opts)
}

// fileFormat is the store format of a candidate file (readFormat).
func fileFormat(path string) (uint64, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: openTimeout})
	if err != nil {
		return 0, fmt.Errorf("%w: not a store file: %v", ErrInvalid, err)
	}
	defer db.Close()
	var v uint64
	err = db.View(func(tx *bolt.Tx) error { v = readFormat(tx); return nil })
	return v, err
}

// checkStoreFile opens a candidate file read-only and checks it holds a store.
func checkStoreFile(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: openTimeout})
	if err != nil {
		return fmt.Errorf("%w: not a store file: %v", ErrInvalid, err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		if err := checkFormat(tx, "the snapshot's event store"); err != nil {
			return err
		}
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("%w: snapshot lacks bucket %s", ErrInvalid, name)
			}
		}
		return nil
	})
}
