package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc/security"
	"github.com/gridctl/grid/test/waitfor"
	"github.com/hashicorp/raft"
)

// tlsMember makes a CA-signed member and returns its TLS files.
func tlsMember(t *testing.T, caDir, name string) security.TLSFiles {
	t.Helper()
	certPath, keyPath, err := security.WriteCert(caDir, security.CertRequest{Name: name, Days: 7, Role: security.RoleServer}, t.TempDir())
	if err != nil {
		t.Fatalf("WriteCert: %v", err)
	}
	return security.TLSFiles{CA: filepath.Join(caDir, security.CACertFile), Cert: certPath, Key: keyPath}
}

// tlsCADir writes a fresh CA.
func tlsCADir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, _, err := security.WriteCA(dir, 30); err != nil {
		t.Fatalf("WriteCA: %v", err)
	}
	return dir
}

// tlsConfigs are a member's server and client configs.
func tlsConfigs(t *testing.T, f security.TLSFiles) (*tls.Config, *tls.Config) {
	t.Helper()
	server, err := security.ServerTLSConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	client, err := security.ClientTLSConfig(f, "")
	if err != nil {
		t.Fatal(err)
	}
	return server, client
}

// tlsTransport is a raft NetworkTransport over a TLS stream layer on loopback.
func tlsTransport(t *testing.T, server, client *tls.Config) *raft.NetworkTransport {
	t.Helper()
	sl, err := NewTLSStreamLayer("127.0.0.1:0", nil, server, client)
	if err != nil {
		t.Fatalf("NewTLSStreamLayer: %v", err)
	}
	trans := raft.NewNetworkTransportWithLogger(sl, 3, 5*time.Second, testLogger(t))
	t.Cleanup(func() { _ = trans.Close() })
	return trans
}

// grantVotes answers every RequestVote on trans and counts the RPCs that arrived.
func grantVotes(t *testing.T, trans *raft.NetworkTransport) *atomic.Int64 {
	var n atomic.Int64
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			select {
			case <-done:
				return
			case r := <-trans.Consumer():
				n.Add(1)
				r.Respond(&raft.RequestVoteResponse{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax}, Granted: true}, nil)
			}
		}
	}()
	return &n
}

// askVote sends one RequestVote from trans to target.
func askVote(trans raft.Transport, target raft.ServerAddress) (*raft.RequestVoteResponse, error) {
	var resp raft.RequestVoteResponse
	err := trans.RequestVote("b", target, &raft.RequestVoteRequest{
		RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("a"), Addr: []byte(trans.LocalAddr())},
		Term:      1,
	}, &resp)
	return &resp, err
}

func TestTLSStreamLayerRaftRPC(t *testing.T) {
	caDir, otherDir := tlsCADir(t), tlsCADir(t)
	aServer, aClient := tlsConfigs(t, tlsMember(t, caDir, "master-a"))
	bServer, bClient := tlsConfigs(t, tlsMember(t, caDir, "master-b"))
	a := tlsTransport(t, aServer, aClient)
	b := tlsTransport(t, bServer, bClient)
	votes := grantVotes(t, b)

	resp, err := askVote(a, b.LocalAddr())
	if err != nil {
		t.Fatalf("RequestVote over mutual TLS: %v", err)
	}
	if !resp.Granted {
		t.Fatal("vote not granted")
	}

	// An intruder with a certificate from another CA (that trusts ours, so
	// only the server's check of its certificate can stop it).
	xServer, xClient := tlsConfigs(t, tlsMember(t, otherDir, "intruder"))
	caPEM, err := os.ReadFile(filepath.Join(caDir, security.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	xClient.RootCAs = x509.NewCertPool()
	xClient.RootCAs.AppendCertsFromPEM(caPEM)
	intruder := tlsTransport(t, xServer, xClient)
	if _, err := askVote(intruder, b.LocalAddr()); err == nil {
		t.Fatal("a member with a foreign certificate got a vote")
	}
	// Our member refuses to talk to the intruder's listener too.
	grantVotes(t, intruder)
	if _, err := askVote(a, intruder.LocalAddr()); err == nil {
		t.Fatal("dialed a listener with a foreign certificate")
	}

	// A plaintext raft transport is refused.
	plain, err := raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 1, 2*time.Second, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := askVote(plain, b.LocalAddr()); err == nil {
		t.Fatal("a plaintext transport got a vote")
	}
	if n := votes.Load(); n != 1 {
		t.Fatalf("%d RPCs reached the raft consumer, want 1", n)
	}
}

func TestNewTLSStreamLayerRefusesBadSetup(t *testing.T) {
	server, client := tlsConfigs(t, tlsMember(t, tlsCADir(t), "master-a"))
	oneWay := server.Clone()
	oneWay.ClientAuth = tls.NoClientCert
	cases := []struct {
		name           string
		bind           string
		advertise      net.Addr
		server, client *tls.Config
	}{
		{"nil server", "127.0.0.1:0", nil, nil, client},
		{"nil client", "127.0.0.1:0", nil, server, nil},
		{"no client certs demanded", "127.0.0.1:0", nil, oneWay, client},
		{"no certificate", "127.0.0.1:0", nil, &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert}, client},
		{"unspecified address", "0.0.0.0:0", nil, server, client},
		{"unspecified advertise", "127.0.0.1:0", &net.TCPAddr{IP: net.IPv4zero, Port: 7001}, server, client},
		{"bad bind", "127.0.0.1:99999", nil, server, client},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sl, err := NewTLSStreamLayer(tc.bind, tc.advertise, tc.server, tc.client)
			if !errors.Is(err, ErrTLSStreamLayer) {
				if sl != nil {
					_ = sl.Close()
				}
				t.Fatalf("err = %v, want ErrTLSStreamLayer", err)
			}
		})
	}
	adv := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 7001}
	sl, err := NewTLSStreamLayer("0.0.0.0:0", adv, server, client)
	if err != nil {
		t.Fatalf("with an advertise address: %v", err)
	}
	defer sl.Close()
	if sl.Addr().String() != adv.String() {
		t.Fatalf("Addr = %s, want %s", sl.Addr(), adv)
	}
}

// countFSM counts applied entries.
type countFSM struct{ n atomic.Int64 }

func (f *countFSM) Apply(*raft.Log) any { return f.n.Add(1) }
func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) {
	return nil, errors.New("no snapshots in this test")
}
func (f *countFSM) Restore(io.ReadCloser) error { return errors.New("no snapshots in this test") }

func TestRaftClusterOverTLS(t *testing.T) {
	caDir := tlsCADir(t)
	const n = 3
	var servers []raft.Server
	var trans []*raft.NetworkTransport
	for i := range n {
		server, client := tlsConfigs(t, tlsMember(t, caDir, fmt.Sprintf("master-%d", i)))
		tr := tlsTransport(t, server, client)
		trans = append(trans, tr)
		servers = append(servers, raft.Server{ID: raft.ServerID(fmt.Sprintf("m%d", i)), Address: tr.LocalAddr()})
	}
	var rafts []*raft.Raft
	var fsms []*countFSM
	for i := range n {
		rc := raft.DefaultConfig()
		rc.LocalID = servers[i].ID
		rc.Logger = testLogger(t)
		rc.HeartbeatTimeout, rc.ElectionTimeout = 100*time.Millisecond, 100*time.Millisecond
		rc.LeaderLeaseTimeout, rc.CommitTimeout = 50*time.Millisecond, 5*time.Millisecond
		store := raft.NewInmemStore()
		fsm := &countFSM{}
		r, err := raft.NewRaft(rc, fsm, store, store, raft.NewInmemSnapshotStore(), trans[i])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Shutdown().Error() })
		rafts, fsms = append(rafts, r), append(fsms, fsm)
	}
	if err := rafts[0].BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		t.Fatal(err)
	}
	var leader *raft.Raft
	waitfor.True(t, 10*time.Second, "a raft leader over TLS", func() bool {
		for _, r := range rafts {
			if r.State() == raft.Leader {
				leader = r
				return true
			}
		}
		return false
	})
	for range 5 {
		if err := leader.Apply([]byte("x"), 5*time.Second).Error(); err != nil {
			t.Fatalf("apply: %v", err)
		}
	}
	waitfor.True(t, 10*time.Second, "every replica applied 5 entries", func() bool {
		for _, f := range fsms {
			if f.n.Load() != 5 {
				return false
			}
		}
		return true
	})
}
