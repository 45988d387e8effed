package harness

import (
	"fmt"
	"os/exec"
	"path/filepath"

	"github.com/gridctl/grid/rpc/security"
	"google.golang.org/grpc"
)

// Security is the TLS material, gossip key and API tokens every master and
// agent of a cluster is started with; the harness's own clients use the
// same TLS files and the full token.
type Security struct {
	// TLS is handed to every member as --tls-ca/--tls-cert/--tls-key.
	TLS security.TLSFiles
	// GossipKey is --encrypt (base64).
	GossipKey string
	// APIToken is --api-token on masters and agents.
	APIToken string
	// ReadToken is --read-token on masters.
	ReadToken string
}

// tlsArgs are the TLS flags of f (none when TLS is off).
func tlsArgs(f security.TLSFiles) []string {
	if !f.Enabled() {
		return nil
	}
	return []string{"--tls-ca", f.CA, "--tls-cert", f.Cert, "--tls-key", f.Key}
}

// MasterArgs are the flags a master gets for s.
func (s *Security) MasterArgs() []string {
	if s == nil {
		return nil
	}
	args := tlsArgs(s.TLS)
	if s.GossipKey != "" {
		args = append(args, "--encrypt", s.GossipKey)
	}
	if s.APIToken != "" {
		args = append(args, "--api-token", s.APIToken)
	}
	if s.ReadToken != "" {
		args = append(args, "--read-token", s.ReadToken)
	}
	return args
}

// AgentArgs are the flags an agent gets for s.
func (s *Security) AgentArgs() []string {
	if s == nil {
		return nil
	}
	args := tlsArgs(s.TLS)
	if s.GossipKey != "" {
		args = append(args, "--encrypt", s.GossipKey)
	}
	if s.APIToken != "" {
		args = append(args, "--api-token", s.APIToken)
	}
	return args
}

// DialOptions are the harness clients' options for s: mutual TLS with the
// same files and the full token on every call (plaintext when s is nil).
func (s *Security) DialOptions() ([]grpc.DialOption, error) {
	var files security.TLSFiles
	var token string
	if s != nil {
		files, token = s.TLS, s.APIToken
	}
	creds, err := security.DialCredentials(files, "")
	if err != nil {
		return nil, err
	}
	return []grpc.DialOption{grpc.WithTransportCredentials(creds), grpc.WithPerRPCCredentials(security.TokenCredentials(token))}, nil
}

// MakeCA runs `grid tls create-ca` into dir and returns the CA certificate's path.
func MakeCA(dir string) (string, error) {
	if err := runGrid("tls", "create-ca", "--out", dir); err != nil {
		return "", err
	}
	return filepath.Join(dir, "ca.pem"), nil
}

// MakeCert runs `grid tls create-cert --role server` with the CA in caDir
// for name (valid for localhost and 127.0.0.1) and returns TLS files for it.
func MakeCert(caDir, name, outDir string) (security.TLSFiles, error) {
	return MakeRoleCert(caDir, name, outDir, security.RoleServer)
}

// MakeRoleCert is MakeCert with a certificate role (server, agent, client).
func MakeRoleCert(caDir, name, outDir, role string) (security.TLSFiles, error) {
	if err := runGrid("tls", "create-cert", "--ca-dir", caDir, "--name", name, "--out", outDir, "--role", role); err != nil {
		return security.TLSFiles{}, err
	}
	return security.TLSFiles{
		CA:   filepath.Join(caDir, "ca.pem"),
		Cert: filepath.Join(outDir, name+".pem"),
		Key:  filepath.Join(outDir, name+"-key.pem"),
	}, nil
}

// runGrid runs one short grid command and fails with its output.
func runGrid(args ...string) error {
	bin, err := Binary()
	if err != nil {
		return err
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("grid %v: %v\n%s", args, err, out)
	}
	return nil
}
