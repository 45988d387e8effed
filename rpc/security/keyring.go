package security

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gridctl/grid/rpc"
)

// KeyringFile is the file in a master's or agent's data dir that keeps its
// gossip keyring across restarts: a JSON array of base64 keys, the primary
// (the one that encrypts) first, like consul's local.keyring. When it
// exists it wins over --encrypt.
const KeyringFile = "gossip.keyring"

// Keyring operations (KeyringRequest.op).
const (
	KeyringList    = "list"
	KeyringInstall = "install"
	KeyringUse     = "use"
	KeyringRemove  = "remove"
)

// ErrKeyringOff refuses a keyring operation on a member without gossip
// encryption (no --encrypt) or without gossip at all.
var ErrKeyringOff = rpc.NewSentinel("gossip encryption is off on this member (start it with --encrypt)", rpc.ErrPrecondition)

// ErrKeyringOp marks an operation the keyring refused (removing the primary
// key, using a key that is not installed).
var ErrKeyringOp = rpc.NewSentinel("keyring operation refused", rpc.ErrPrecondition)

// ErrKeyringRequest marks a malformed keyring request (unknown op, bad key).
var ErrKeyringRequest = rpc.NewSentinel("invalid keyring request", rpc.ErrInvalid)

// GossipKeyring is the part of memberlist's *Keyring a member rotates.
type GossipKeyring interface {
	AddKey(key []byte) error
	UseKey(key []byte) error
	RemoveKey(key []byte) error
	GetKeys() [][]byte
	GetPrimaryKey() []byte
}

// ValidateKeyringRequest checks op and, except for list, the key (the same
// form as --encrypt). The error never contains the key.
func ValidateKeyringRequest(req *rpc.KeyringRequest) ([]byte, error) {
	switch req.GetOp() {
	case KeyringList:
		return nil, nil
	case KeyringInstall, KeyringUse, KeyringRemove:
		key, err := ParseGossipKey(req.GetKey())
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKeyringRequest, err)
		}
		return key, nil
	}
	return nil, fmt.Errorf("%w: op %q: want list, install, use or remove", ErrKeyringRequest, truncateOp(req.GetOp()))
}

func truncateOp(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// ApplyKeyring runs req on kr (nil: encryption is off), saves the keyring
// in dataDir after a change, and describes the result as one member's
// answer (id, kind); a refusal is returned as the error.
func ApplyKeyring(kr GossipKeyring, dataDir, id, kind string, req *rpc.KeyringRequest) (*rpc.KeyringMember, error) {
	key, err := ValidateKeyringRequest(req)
	if err != nil {
		return nil, err
	}
	if kr == nil {
		return nil, ErrKeyringOff
	}
	switch req.GetOp() {
	case KeyringInstall:
		err = kr.AddKey(key)
	case KeyringUse:
		err = kr.UseKey(key)
	case KeyringRemove:
		if bytes.Equal(kr.GetPrimaryKey(), key) {
			err = errors.New("the primary key cannot be removed: use another key first")
		} else {
			err = kr.RemoveKey(key)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKeyringOp, req.GetOp(), err)
	}
	if req.GetOp() != KeyringList {
		if err := SaveKeyring(dataDir, kr.GetKeys()); err != nil {
			return nil, fmt.Errorf("keyring %s applied but not saved: %w", req.GetOp(), err)
		}
	}
	out := &rpc.KeyringMember{Id: id, Kind: kind, Primary: base64.StdEncoding.EncodeToString(kr.GetPrimaryKey())}
	for _, k := range kr.GetKeys() {
		out.Keys = append(out.Keys, base64.StdEncoding.EncodeToString(k))
	}
	return out, nil
}

// LoadKeyring reads dataDir's keyring file: the keys, primary first; nil
// without error when there is none.
func LoadKeyring(dataDir string) ([][]byte, error) {
	path := filepath.Join(dataDir, KeyringFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var encoded []string
	if err := json.Unmarshal(b, &encoded); err != nil {
		return nil, fmt.Errorf("%s: not a JSON array of keys: %w", path, err)
	}
	if len(encoded) == 0 {
		return nil, fmt.Errorf("%s holds no key", path)
	}
	keys := make([][]byte, 0, len(encoded))
	for i, s := range encoded {
		k, err := ParseGossipKey(s)
		if err != nil {
			return nil, fmt.Errorf("%s: key %d: %w", path, i+1, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// SaveKeyring writes keys (primary first) to dataDir's keyring file,
// readable by the owner only, replacing it atomically.
func SaveKeyring(dataDir string, keys [][]byte) error {
	encoded := make([]string, 0, len(keys))
	for _, k := range keys {
		encoded = append(encoded, base64.StdEncoding.EncodeToString(k))
	}
	b, err := json.Marshal(encoded)
	if err != nil {
		return err
	}
	path := filepath.Join(dataDir, KeyringFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// StartKeyring decides a member's keyring at start: the keyring file when
// dataDir has one (rotations survive restarts), else the --encrypt key
// (saved as the file's first content). It returns the primary key first;
// nil when gossip encryption is off.
func StartKeyring(dataDir string, encrypt []byte) ([][]byte, error) {
	keys, err := LoadKeyring(dataDir)
	if err != nil || keys != nil {
		return keys, err
	}
	if encrypt == nil {
		return nil, nil
	}
	keys = [][]byte{encrypt}
	return keys, SaveKeyring(dataDir, keys)
}
