package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// identityFile is the name of the file in the data dir that records which
// master owns it and which cluster it belongs to.
const identityFile = "identity.json"

// identity is what identity.json holds.
type identity struct {
	// ID is the master id that created the data dir.
	ID string `json:"id"`
	// ClusterID is the cluster the master belongs to; empty until it has
	// bootstrapped or joined one.
	ClusterID string `json:"cluster_id,omitempty"`
	// Incarnation is made once, when the data dir is created: a master
	// that comes back with a fresh data dir has a new one, which is how
	// reconcile tells it from a master an operator removed.
	Incarnation string `json:"incarnation,omitempty"`
}

// identityStore reads and updates identity.json.
type identityStore struct {
	path string
	mu   sync.Mutex
	cur  identity
}

// loadIdentity opens (or creates) the data dir's identity and checks that it
// belongs to id.
func loadIdentity(dataDir, id string) (*identityStore, error) {
	s := &identityStore{path: filepath.Join(dataDir, identityFile)}
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		s.cur = identity{ID: id, Incarnation: newIncarnation()}
		return s, s.save()
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", s.path, err)
	}
	if err := json.Unmarshal(b, &s.cur); err != nil {
		return nil, fmt.Errorf("%w: %s is not valid JSON: %v", ErrIdentity, s.path, err)
	}
	if s.cur.ID != id {
		return nil, fmt.Errorf("%w: data dir %s belongs to master %q, not %q (use that --id or another --data-dir)",
			ErrIdentity, dataDir, s.cur.ID, id)
	}
	if s.cur.Incarnation == "" {
		// A data dir from before incarnations: give it one now.
		s.cur.Incarnation = newIncarnation()
		if err := s.save(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// newIncarnation is a random hex token.
func newIncarnation() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Incarnation names this data dir (see identity.Incarnation).
func (s *identityStore) Incarnation() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur.Incarnation
}

// ClusterID is the recorded cluster id ("" when none yet).
func (s *identityStore) ClusterID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur.ClusterID
}

// SetClusterID records the cluster id; it refuses to change a recorded one.
func (s *identityStore) SetClusterID(cid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur.ClusterID == cid {
		return nil
	}
	if s.cur.ClusterID != "" {
		return fmt.Errorf("%w: this master belongs to cluster %q, not %q", ErrIdentity, s.cur.ClusterID, cid)
	}
	s.cur.ClusterID = cid
	return s.save()
}

func (s *identityStore) save() error {
	b, err := json.MarshalIndent(s.cur, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("write %s: %w", s.path, err)
	}
	return nil
}
