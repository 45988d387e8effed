package security

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gridctl/grid/rpc"
)

// testCA writes a fresh CA into a temp dir and returns the dir.
func testCA(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, _, err := WriteCA(dir, 30); err != nil {
		t.Fatalf("WriteCA: %v", err)
	}
	return dir
}

// testMember writes a member certificate signed by the CA in caDir.
func testMember(t *testing.T, caDir, name string) TLSFiles {
	t.Helper()
	out := t.TempDir()
	certPath, keyPath, err := WriteCert(caDir, CertRequest{Name: name, Days: 7}, out)
	if err != nil {
		t.Fatalf("WriteCert %s: %v", name, err)
	}
	return TLSFiles{CA: filepath.Join(caDir, CACertFile), Cert: certPath, Key: keyPath}
}

// readCert parses the first certificate of a PEM file.
func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestWriteCAAndCert(t *testing.T) {
	caDir := testCA(t)
	ca := readCert(t, filepath.Join(caDir, CACertFile))
	if !ca.IsCA {
		t.Fatal("CA certificate is not a CA")
	}
	st, err := os.Stat(filepath.Join(caDir, CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode = %v, want 0600", st.Mode().Perm())
	}

	out := t.TempDir()
	certPath, keyPath, err := WriteCert(caDir, CertRequest{Name: "master-1", IPs: []string{"10.0.0.7"}, DNSNames: []string{"m1.example.com"}, Days: 7}, out)
	if err != nil {
		t.Fatalf("WriteCert: %v", err)
	}
	if certPath != filepath.Join(out, "master-1.pem") || keyPath != filepath.Join(out, "master-1-key.pem") {
		t.Fatalf("paths = %s, %s", certPath, keyPath)
	}
	if st, err := os.Stat(keyPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode: %v %v", st, err)
	}
	c := readCert(t, certPath)
	for _, host := range []string{"master-1", "localhost", "m1.example.com", "127.0.0.1", "10.0.0.7"} {
		if err := c.VerifyHostname(host); err != nil {
			t.Errorf("certificate not valid for %s: %v", host, err)
		}
	}
	if err := c.VerifyHostname("other.example.com"); err == nil {
		t.Error("certificate valid for a name it was not made for")
	}
	if !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		t.Errorf("ExtKeyUsage = %v, want server and client auth", c.ExtKeyUsage)
	}
	if err := (TLSFiles{CA: filepath.Join(caDir, CACertFile), Cert: certPath, Key: keyPath}).Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}

	// Never overwrite.
	if _, _, err := WriteCA(caDir, 30); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("WriteCA over an existing CA: err = %v, want fs.ErrExist", err)
	}
	if _, _, err := WriteCert(caDir, CertRequest{Name: "master-1", Days: 7}, out); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("WriteCert over existing files: err = %v, want fs.ErrExist", err)
	}
}

func TestCertRequestRefused(t *testing.T) {
	caDir := testCA(t) // valid 30 days
	cases := []struct {
		name string
		req  CertRequest
	}{
		{"empty name", CertRequest{Name: ""}},
		{"path escape", CertRequest{Name: "../evil"}},
		{"slash", CertRequest{Name: "a/b"}},
		{"space", CertRequest{Name: "a b"}},
		{"NUL byte", CertRequest{Name: "a\x00b"}},
		{"leading dash", CertRequest{Name: "-rf"}},
		{"too long", CertRequest{Name: string(make([]byte, 65))}},
		{"bad ip", CertRequest{Name: "m", IPs: []string{"999.1.1.1"}}},
		{"bad dns", CertRequest{Name: "m", DNSNames: []string{"bad_name.example"}}},
		{"empty dns", CertRequest{Name: "m", DNSNames: []string{""}}},
		{"negative days", CertRequest{Name: "m", Days: -1}},
		{"huge days", CertRequest{Name: "m", Days: MaxCertDays + 1}},
		{"outlives CA", CertRequest{Name: "m", Days: 365}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			_, _, err := WriteCert(caDir, tc.req, out)
			if !errors.Is(err, ErrCertRequest) {
				t.Fatalf("err = %v, want ErrCertRequest", err)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Fatalf("files written despite the error: %v", entries)
			}
		})
	}
	if _, _, err := WriteCert(t.TempDir(), CertRequest{Name: "m"}, t.TempDir()); !errors.Is(err, ErrCertRequest) {
		t.Fatalf("no CA in dir: err = %v, want ErrCertRequest", err)
	}
	if _, _, err := WriteCA("", 1); !errors.Is(err, ErrCertRequest) {
		t.Fatalf("empty out dir: err = %v", err)
	}
}

func TestTLSFilesValidate(t *testing.T) {
	caDir, otherDir := testCA(t), testCA(t)
	good := testMember(t, caDir, "good")
	foreign := testMember(t, otherDir, "foreign")
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a pem file"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := (TLSFiles{}).Validate(); err != nil {
		t.Fatalf("zero TLSFiles: %v", err)
	}
	if (TLSFiles{}).Enabled() || !good.Enabled() {
		t.Fatal("Enabled is wrong")
	}
	cases := []struct {
		name string
		f    TLSFiles
	}{
		{"only ca", TLSFiles{CA: good.CA}},
		{"no key", TLSFiles{CA: good.CA, Cert: good.Cert}},
		{"missing file", TLSFiles{CA: good.CA, Cert: good.Cert, Key: good.Key + ".nope"}},
		{"garbage ca", TLSFiles{CA: garbage, Cert: good.Cert, Key: good.Key}},
		{"garbage cert", TLSFiles{CA: good.CA, Cert: garbage, Key: good.Key}},
		{"key of another cert", TLSFiles{CA: good.CA, Cert: good.Cert, Key: foreign.Key}},
		{"cert from another CA", TLSFiles{CA: good.CA, Cert: foreign.Cert, Key: foreign.Key}},
		{"CA as member cert", TLSFiles{CA: good.CA, Cert: good.CA, Key: filepath.Join(caDir, CAKeyFile)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.f.Validate(); !errors.Is(err, ErrTLSFiles) {
				t.Fatalf("err = %v, want ErrTLSFiles", err)
			}
			if _, err := ServerCredentials(tc.f); err == nil {
				t.Fatal("ServerCredentials accepted bad files")
			}
		})
	}
	if _, err := ServerTLSConfig(TLSFiles{}); !errors.Is(err, ErrTLSFiles) {
		t.Fatalf("ServerTLSConfig without files: %v", err)
	}
}

// statusServer answers GetClusterStatus and counts the calls that got in.
type statusServer struct {
	rpc.UnimplementedGridMasterServer
	calls atomic.Int64
}

func (s *statusServer) GetClusterStatus(context.Context, *rpc.Empty) (*rpc.ClusterStatus, error) {
	s.calls.Add(1)
	return &rpc.ClusterStatus{Status: "healthy"}, nil
}

// startGRPC serves srv with the options on a loopback port.
func startGRPC(t *testing.T, srv rpc.GridMasterServer, opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(opts...)
	rpc.RegisterGridMasterServer(s, srv)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

// callStatus dials addr with creds and calls GetClusterStatus once.
func callStatus(t *testing.T, addr string, creds credentials.TransportCredentials) error {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = rpc.NewGridMasterClient(conn).GetClusterStatus(ctx, &rpc.Empty{})
	return err
}

func TestMutualTLSOverGRPC(t *testing.T) {
	caDir, otherDir := testCA(t), testCA(t)
	serverFiles := testMember(t, caDir, "master-1")
	clientFiles := testMember(t, caDir, "cli")
	foreignFiles := testMember(t, otherDir, "intruder")

	srv := &statusServer{}
	creds, err := ServerCredentials(serverFiles)
	if err != nil {
		t.Fatal(err)
	}
	addr := startGRPC(t, srv, grpc.Creds(creds))

	good, err := DialCredentials(clientFiles, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := callStatus(t, addr, good); err != nil {
		t.Fatalf("call with a cert from the CA failed: %v", err)
	}

	caOnly, err := ClientTLSConfig(clientFiles, "")
	if err != nil {
		t.Fatal(err)
	}
	caOnly.Certificates, caOnly.GetClientCertificate = nil, nil // trusts the server but presents no certificate
	foreignCreds, err := DialCredentials(foreignFiles, "")
	if err != nil {
		t.Fatal(err)
	}
	distrustCfg, err := ClientTLSConfig(clientFiles, "")
	if err != nil {
		t.Fatal(err)
	}
	foreignPEM, err := os.ReadFile(foreignFiles.CA)
	if err != nil {
		t.Fatal(err)
	}
	distrustCfg.RootCAs = x509.NewCertPool() // a good client cert, but trusting another CA
	distrustCfg.RootCAs.AppendCertsFromPEM(foreignPEM)

	refused := []struct {
		name  string
		creds credentials.TransportCredentials
	}{
		{"plaintext", insecure.NewCredentials()},
		{"no client cert", credentials.NewTLS(caOnly)},
		{"cert from another CA", foreignCreds},
		{"server not trusted", credentials.NewTLS(distrustCfg)},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			if err := callStatus(t, addr, tc.creds); err == nil {
				t.Fatal("call succeeded, want it refused")
			}
		})
	}
	if got := srv.calls.Load(); got != 1 {
		t.Fatalf("handler ran %d times, want 1 (only the good client)", got)
	}

	// A plaintext client of a plaintext server still works (TLS off).
	plainCreds, err := ServerCredentials(TLSFiles{})
	if err != nil {
		t.Fatal(err)
	}
	plainAddr := startGRPC(t, &statusServer{}, grpc.Creds(plainCreds))
	dial, err := DialCredentials(TLSFiles{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := callStatus(t, plainAddr, dial); err != nil {
		t.Fatalf("plaintext call with TLS off: %v", err)
	}
	// A TLS client is refused by a plaintext server.
	if err := callStatus(t, plainAddr, good); err == nil {
		t.Fatal("TLS client against a plaintext server succeeded")
	}
}

func TestHTTPServerTLSConfig(t *testing.T) {
	caDir := testCA(t)
	cfg, err := HTTPServerTLSConfig(testMember(t, caDir, "master-1"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientAuth != tls.VerifyClientCertIfGiven || cfg.MinVersion != tls.VersionTLS12 {
		t.Fatalf("ClientAuth = %v, MinVersion = %x", cfg.ClientAuth, cfg.MinVersion)
	}
}
