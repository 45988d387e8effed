package agent

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridctl/grid/rpc"
)

// chunks runs a directory through the sender side into NodeDataChunks.
func chunks(t *testing.T, dir string) []*rpc.NodeDataChunk {
	t.Helper()
	var out []*rpc.NodeDataChunk
	send := func(c *rpc.NodeDataChunk) error { out = append(out, c); return nil }
	h := sha256.New()
	cw := &chunkSender{send: send}
	tw := tar.NewWriter(io.MultiWriter(cw, h))
	if err := tarDir(tw, dir); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cw.flush(); err != nil {
		t.Fatal(err)
	}
	return append(out, &rpc.NodeDataChunk{Sha256: hex.EncodeToString(h.Sum(nil))})
}

func receive(t *testing.T, cs []*rpc.NodeDataChunk, dest string) (*chunkReceiver, error) {
	t.Helper()
	i := 0
	r := &chunkReceiver{hash: sha256.New(), recv: func() (*rpc.NodeDataChunk, error) {
		if i == len(cs) {
			return nil, io.EOF
		}
		i++
		return cs[i-1], nil
	}}
	if _, err := untar(tar.NewReader(r), dest); err != nil {
		return r, err
	}
	_, err := io.Copy(io.Discard, r)
	return r, err
}

func TestNodeDataRoundTripWithChecksum(t *testing.T) {
	src := t.TempDir()
	big := bytes.Repeat([]byte("grid"), 200_000) // several chunks
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"a.db": big, "sub/b.txt": []byte("hello")} {
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cs := chunks(t, src)
	dest := t.TempDir()
	r, err := receive(t, cs, dest)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(r.hash.Sum(nil)); got != r.sum {
		t.Fatalf("checksum %s, sender said %s", got, r.sum)
	}
	for name, want := range map[string][]byte{"a.db": big, "sub/b.txt": []byte("hello")} {
		if b, err := os.ReadFile(filepath.Join(dest, name)); err != nil || !bytes.Equal(b, want) {
			t.Fatalf("%s: %v", name, err)
		}
	}

	// A flipped byte is caught by the checksum.
	bad := append([]*rpc.NodeDataChunk(nil), cs...)
	d := append([]byte(nil), bad[0].Data...)
	d[len(d)-1] ^= 0xff
	bad[0] = &rpc.NodeDataChunk{Data: d}
	r, _ = receive(t, bad, t.TempDir())
	if hex.EncodeToString(r.hash.Sum(nil)) == r.sum {
		t.Fatal("a corrupted stream passed the checksum")
	}
	// A stream cut before its checksum is an error.
	if _, err := receive(t, cs[:len(cs)-1], t.TempDir()); err == nil {
		t.Fatal("a stream without its checksum chunk was accepted")
	}
}

func TestUntarRefusesEscapingNames(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "../evil", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	_, _ = tw.Write([]byte("x"))
	_ = tw.Close()
	if _, err := untar(tar.NewReader(&buf), t.TempDir()); err == nil || !strings.Contains(err.Error(), "leaves") {
		t.Fatalf("untar ../evil: %v", err)
	}
}
