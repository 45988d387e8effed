package cluster

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// knownPeersFile lists the gossip addresses of masters this master has met,
// so that a restarted master rejoins the pool by itself, even when it was
// started without --join (as the first master of a cluster usually is).
const knownPeersFile = "gossip-peers.json"

// knownPeers is the on-disk list of masters' gossip addresses.
type knownPeers struct {
	mu    sync.Mutex
	path  string
	addrs []string
}

func loadKnownPeers(dataDir string) *knownPeers {
	k := &knownPeers{path: filepath.Join(dataDir, knownPeersFile)}
	if b, err := os.ReadFile(k.path); err == nil {
		_ = json.Unmarshal(b, &k.addrs)
	}
	return k
}

// list returns the remembered addresses.
func (k *knownPeers) list() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.addrs)
}

// add remembers addr; it writes the file only when addr is new.
func (k *knownPeers) add(addr string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if addr == "" || slices.Contains(k.addrs, addr) {
		return nil
	}
	k.addrs = append(k.addrs, addr)
	b, err := json.Marshal(k.addrs)
	if err != nil {
		return err
	}
	tmp := k.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, k.path)
}

// joinAddrs is --join plus every remembered master, without this master.
func (m *Master) joinAddrs() []string {
	var out []string
	for _, a := range append(slices.Clone(m.config.Join), m.members.peers.list()...) {
		if a != m.advertise.Gossip && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}
