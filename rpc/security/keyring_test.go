package security

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gridctl/grid/rpc"
)

// fakeKeyring is a GossipKeyring with memberlist's rules: AddKey of an
// installed key is a no-op, UseKey needs an installed key, GetKeys lists
// the primary first.
type fakeKeyring struct{ keys [][]byte }

func (f *fakeKeyring) AddKey(k []byte) error {
	if !slices.ContainsFunc(f.keys, func(x []byte) bool { return bytes.Equal(x, k) }) {
		f.keys = append(f.keys, k)
	}
	return nil
}

func (f *fakeKeyring) UseKey(k []byte) error {
	i := slices.IndexFunc(f.keys, func(x []byte) bool { return bytes.Equal(x, k) })
	if i < 0 {
		return errors.New("requested key is not in the keyring")
	}
	f.keys[0], f.keys[i] = f.keys[i], f.keys[0]
	return nil
}

func (f *fakeKeyring) RemoveKey(k []byte) error {
	f.keys = slices.DeleteFunc(f.keys, func(x []byte) bool { return bytes.Equal(x, k) })
	return nil
}

func (f *fakeKeyring) GetKeys() [][]byte     { return f.keys }
func (f *fakeKeyring) GetPrimaryKey() []byte { return f.keys[0] }

func key(b byte) []byte   { return bytes.Repeat([]byte{b}, 32) }
func b64(k []byte) string { return base64.StdEncoding.EncodeToString(k) }
func req(op string, k []byte) *rpc.KeyringRequest {
	r := &rpc.KeyringRequest{Op: op}
	if k != nil {
		r.Key = b64(k)
	}
	return r
}

func TestKeyringRotationPersists(t *testing.T) {
	dir := t.TempDir()
	keys, err := StartKeyring(dir, key(1))
	if err != nil || len(keys) != 1 || !bytes.Equal(keys[0], key(1)) {
		t.Fatalf("first start: %v %v", keys, err)
	}
	kr := &fakeKeyring{keys: keys}
	for _, step := range []*rpc.KeyringRequest{req(KeyringInstall, key(2)), req(KeyringUse, key(2)), req(KeyringRemove, key(1))} {
		if _, err := ApplyKeyring(kr, dir, "m1", "master", step); err != nil {
			t.Fatalf("%s: %v", step.Op, err)
		}
	}
	mb, err := ApplyKeyring(kr, dir, "m1", "master", req(KeyringList, nil))
	if err != nil || mb.Primary != b64(key(2)) || !slices.Equal(mb.Keys, []string{b64(key(2))}) || mb.Id != "m1" {
		t.Fatalf("list: %v %v", mb, err)
	}
	// A restart with the old --encrypt keeps the rotated keyring.
	keys, err = StartKeyring(dir, key(1))
	if err != nil || len(keys) != 1 || !bytes.Equal(keys[0], key(2)) {
		t.Fatalf("restart: %v %v", keys, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, KeyringFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file: %v %v", fi, err)
	}
}

func TestKeyringRefusals(t *testing.T) {
	dir := t.TempDir()
	kr := &fakeKeyring{keys: [][]byte{key(1)}}
	cases := []struct {
		name string
		kr   GossipKeyring
		req  *rpc.KeyringRequest
		kind error
	}{
		{"unknown op", kr, &rpc.KeyringRequest{Op: "rotate"}, rpc.ErrInvalid},
		{"no key", kr, &rpc.KeyringRequest{Op: KeyringInstall}, rpc.ErrInvalid},
		{"bad base64", kr, &rpc.KeyringRequest{Op: KeyringInstall, Key: "%%%"}, rpc.ErrInvalid},
		{"short key", kr, req(KeyringInstall, []byte("short")), rpc.ErrInvalid},
		{"remove the primary", kr, req(KeyringRemove, key(1)), rpc.ErrPrecondition},
		{"use a key not installed", kr, req(KeyringUse, key(9)), rpc.ErrPrecondition},
		{"encryption off", nil, req(KeyringList, nil), rpc.ErrPrecondition},
	}
	for _, c := range cases {
		_, err := ApplyKeyring(c.kr, dir, "m1", "master", c.req)
		if !errors.Is(err, c.kind) {
			t.Errorf("%s: %v, want %v", c.name, err, c.kind)
		}
		if err != nil && bytes.Contains([]byte(err.Error()), []byte(b64(key(1)))) {
			t.Errorf("%s: the error shows a key: %v", c.name, err)
		}
	}
	if !slices.EqualFunc(kr.keys, [][]byte{key(1)}, bytes.Equal) {
		t.Fatalf("refusals changed the keyring: %v", kr.keys)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyringFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refusal wrote the keyring file: %v", err)
	}
}

func TestLoadKeyringRejectsBadFiles(t *testing.T) {
	for name, content := range map[string]string{"not json": "{", "empty": "[]", "bad key": `["AAAA"]`} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, KeyringFile), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadKeyring(dir); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	if keys, err := StartKeyring(t.TempDir(), nil); keys != nil || err != nil {
		t.Fatalf("no key, no file: %v %v", keys, err)
	}
}
