package security

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// ErrTLSFiles marks TLS material that cannot be used: only some of the
// three files given, an unreadable or unparsable file, a key that does not
// match its certificate, or a certificate the CA did not sign.
var ErrTLSFiles = errors.New("invalid TLS files")

// TLSFiles names a member's TLS material: the cluster CA, its own
// certificate and its key (PEM files). All empty means TLS is off.
type TLSFiles struct {
	// CA is the cluster CA certificate (--tls-ca); peers must chain to it.
	CA string
	// Cert is this member's certificate (--tls-cert), signed by CA.
	Cert string
	// Key is the private key of Cert (--tls-key).
	Key string
}

// Enabled reports whether any TLS file is given (Validate then demands all).
func (f TLSFiles) Enabled() bool {
	return f.CA != "" || f.Cert != "" || f.Key != ""
}

// Validate checks the material: all three files or none, each readable,
// the key matching the certificate, and the certificate signed by the CA
// and currently valid. A zero TLSFiles is valid (TLS off).
func (f TLSFiles) Validate() error {
	_, err := f.load()
	return err
}

// tlsMaterial is loaded, checked TLS material.
type tlsMaterial struct {
	pool *x509.CertPool
	cert tls.Certificate
}

// load reads and checks the files; nil material when TLS is off.
func (f TLSFiles) load() (*tlsMaterial, error) {
	if !f.Enabled() {
		return nil, nil
	}
	if f.CA == "" || f.Cert == "" || f.Key == "" {
		return nil, fmt.Errorf("%w: --tls-ca, --tls-cert and --tls-key go together (got ca=%q cert=%q key=%q)",
			ErrTLSFiles, f.CA, f.Cert, f.Key)
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("%w: read CA: %w", ErrTLSFiles, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%w: %s holds no PEM certificate", ErrTLSFiles, f.CA)
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: load %s and %s: %w", ErrTLSFiles, f.Cert, f.Key, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%w: parse %s: %w", ErrTLSFiles, f.Cert, err)
		}
	}
	if leaf.IsCA {
		return nil, fmt.Errorf("%w: %s is a CA certificate; give each member its own (grid tls create-cert)", ErrTLSFiles, f.Cert)
	}
	intermediates := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			intermediates.AddCert(c)
		}
	}
	_, err = leaf.Verify(x509.VerifyOptions{
		Roots:         pool,
		Intermediates: intermediates,
		CurrentTime:   time.Now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not a valid certificate from the CA in %s: %w", ErrTLSFiles, f.Cert, f.CA, err)
	}
	return &tlsMaterial{pool: pool, cert: cert}, nil
}

// ServerTLSConfig is the TLS config of a gRPC or Raft listener: it presents
// the member's certificate and requires a client certificate signed by the
// CA (mutual TLS), TLS 1.2 or later. TLS must be Enabled.
func ServerTLSConfig(f TLSFiles) (*tls.Config, error) {
	m, err := f.mustLoad()
	if err != nil {
		return nil, err
	}
	h := certHolder(f, m.cert)
	return &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return h.Load(), nil },
		ClientCAs:      m.pool,
		ClientAuth:     tls.RequireAndVerifyClientCert,
		MinVersion:     tls.VersionTLS12,
	}, nil
}

// HTTPServerTLSConfig is the TLS config of the HTTP API (HTTPS): it presents
// the member's certificate and verifies a client certificate when one is
// offered, but does not demand one, so browsers can reach the dashboard;
// the API token guards the HTTP API. TLS must be Enabled.
func HTTPServerTLSConfig(f TLSFiles) (*tls.Config, error) {
	cfg, err := ServerTLSConfig(f)
	if err != nil {
		return nil, err
	}
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	return cfg, nil
}

// ClientTLSConfig is the TLS config of a dialer: it presents the member's
// certificate and verifies the server's against the CA, TLS 1.2 or later.
// serverName is the name the server's certificate must carry; empty lets
// the caller fill it in (gRPC uses the dial target's host, the Raft stream
// layer the peer address's host). TLS must be Enabled.
func ClientTLSConfig(f TLSFiles, serverName string) (*tls.Config, error) {
	m, err := f.mustLoad()
	if err != nil {
		return nil, err
	}
	h := certHolder(f, m.cert)
	return &tls.Config{
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return h.Load(), nil },
		RootCAs:              m.pool,
		ServerName:           serverName,
		MinVersion:           tls.VersionTLS12,
	}, nil
}

// ServerCredentials are the transport credentials of a gRPC server:
// mutual TLS when f is Enabled, plaintext otherwise. Use them with
// grpc.Creds.
func ServerCredentials(f TLSFiles) (credentials.TransportCredentials, error) {
	if !f.Enabled() {
		return insecure.NewCredentials(), nil
	}
	cfg, err := ServerTLSConfig(f)
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(cfg), nil
}

// DialCredentials are the transport credentials of a gRPC client: mutual
// TLS when f is Enabled (serverName as in ClientTLSConfig), plaintext
// otherwise. Use them with grpc.WithTransportCredentials.
func DialCredentials(f TLSFiles, serverName string) (credentials.TransportCredentials, error) {
	if !f.Enabled() {
		return insecure.NewCredentials(), nil
	}
	cfg, err := ClientTLSConfig(f, serverName)
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(cfg), nil
}

// mustLoad loads material that is required to be there.
func (f TLSFiles) mustLoad() (*tlsMaterial, error) {
	if !f.Enabled() {
		return nil, fmt.Errorf("%w: no TLS files given", ErrTLSFiles)
	}
	return f.load()
}
