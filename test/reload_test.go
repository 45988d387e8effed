package test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
)

// servedSerial opens a TLS connection to addr (mutual TLS with the
// fixture's files, as a member would) and returns the serial of the
// certificate the server presents.
func (f *secFixture) servedSerial(addr string) (*big.Int, error) {
	caPEM, err := os.ReadFile(f.sec.TLS.CA)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(f.sec.TLS.Cert, f.sec.TLS.Key)
	if err != nil {
		return nil, err
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert},
		ServerName: "127.0.0.1", NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// fileSerial is the serial of the certificate in a PEM file.
func fileSerial(path string) (*big.Int, error) {
	c, err := tls.LoadX509KeyPair(path, path[:len(path)-len(".pem")]+"-key.pem")
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil, err
	}
	return leaf.SerialNumber, nil
}

// TestCertificateReloadOnSIGHUP renews the members' certificate in place
// (same CA, same name, a new serial and expiry) and sends SIGHUP to one
// master and one agent: from then on each presents the renewed certificate,
// without a restart (same process), and the cluster keeps working.
func TestCertificateReloadOnSIGHUP(t *testing.T) {
	f := newSecFixture(t)
	c := f.c
	leader := c.WaitLeader(30 * time.Second)
	ag := c.AddAgent("agent-1", harness.AgentOptions{})
	waitfor.Until(t, 30*time.Second, "agent-1 registered", func() (bool, string) {
		ids, err := agentIDs(leader)
		if err != nil {
			return false, err.Error()
		}
		return ids["agent-1"], fmt.Sprint(ids)
	})
	m := c.Followers(leader)[0]
	targets := []struct {
		name string
		proc *harness.Proc
		addr string
	}{{m.ID, m.Proc, m.GRPC}, {ag.ID, ag.Proc, ag.GRPC}}

	old, err := fileSerial(f.sec.TLS.Cert)
	if err != nil {
		t.Fatal(err)
	}
	pids := map[string]int{}
	for _, tg := range targets {
		got, err := f.servedSerial(tg.addr)
		if err != nil {
			t.Fatalf("%s: %v", tg.name, err)
		}
		if got.Cmp(old) != 0 {
			t.Fatalf("%s serves serial %s, want %s", tg.name, got, old)
		}
		pids[tg.name] = tg.proc.PID()
	}

	// Renew: a new certificate for the same name from the same CA, written
	// over the files every member was started with.
	renewed, err := harness.MakeCert(f.caDir, "member", filepath.Join(t.TempDir(), "renewed"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]string{{renewed.Key, f.sec.TLS.Key}, {renewed.Cert, f.sec.TLS.Cert}} {
		b, err := os.ReadFile(p[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fresh, err := fileSerial(f.sec.TLS.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Cmp(old) == 0 {
		t.Fatal("the renewed certificate has the old serial")
	}
	// Without SIGHUP nothing changes.
	if got, err := f.servedSerial(m.GRPC); err != nil || got.Cmp(old) != 0 {
		t.Fatalf("before SIGHUP the master serves %v (%v), want the old serial %s", got, err, old)
	}
	for _, tg := range targets {
		if err := tg.proc.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	for _, tg := range targets {
		waitfor.Until(t, 20*time.Second, tg.name+" serves the renewed certificate", func() (bool, string) {
			got, err := f.servedSerial(tg.addr)
			if err != nil {
				return false, err.Error()
			}
			return got.Cmp(fresh) == 0, "serial " + got.String()
		})
		if pid := tg.proc.PID(); pid != pids[tg.name] || !tg.proc.Running() {
			t.Fatalf("%s restarted (pid %d, was %d)", tg.name, pid, pids[tg.name])
		}
	}
	// The renewed certificates work: a spawn sent to the reloaded master
	// is forwarded to the leader (master-to-master, the renewed server
	// certificate) and carried out by the reloaded agent.
	ctx, cancel := harness.Ctx(30 * time.Second)
	defer cancel()
	sp, err := m.Client().SpawnStorageNode(ctx, &rpc.SpawnRequest{AgentId: "agent-1"})
	if err != nil || !sp.GetSuccess() {
		t.Fatalf("spawn through the reloaded master on the reloaded agent: %v %v", sp, err)
	}
}
