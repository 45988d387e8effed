package security

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// File names of a cluster CA inside its directory.
const (
	// CACertFile is the CA certificate every member trusts.
	CACertFile = "ca.pem"
	// CAKeyFile is the CA's private key; keep it off the cluster's machines.
	CAKeyFile = "ca-key.pem"
)

// Validity bounds for generated certificates, in days.
const (
	// DefaultCADays is how long a new CA is valid (five years).
	DefaultCADays = 5 * 365
	// DefaultCertDays is how long a new member certificate is valid.
	DefaultCertDays = 365
	// MaxCertDays caps any validity (about a hundred years).
	MaxCertDays = 36500
)

// ErrCertRequest marks a CA or certificate request that cannot be honoured:
// a bad name, IP, DNS name or validity, or an unusable CA.
var ErrCertRequest = errors.New("invalid certificate request")

// CertRequest describes one member certificate signed by the cluster CA.
type CertRequest struct {
	// Name is the member's name: the certificate's common name, a DNS (or IP)
	// SAN and the base of the file names (NAME.pem, NAME-key.pem).
	Name string
	// IPs are extra IP SANs (127.0.0.1 is always included).
	IPs []string
	// DNSNames are extra DNS SANs ("localhost" is always included).
	DNSNames []string
	// Days is the validity; 0 means DefaultCertDays.
	Days int
	// Role is server, agent or client: the SAN <role>.<cluster>.grid.
	// Empty issues a certificate without a role (accepted nowhere a role
	// is checked).
	Role string
	// Cluster names the cluster in the role SAN; empty is DefaultCertCluster.
	Cluster string
}

// fileNameRe is what a member name may look like: it becomes a file name.
var fileNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// dnsLabelRe is one DNS label.
var dnsLabelRe = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// NewCA makes a self-signed ECDSA P-256 CA valid for days (0 = DefaultCADays)
// and returns its certificate and PKCS#8 key, PEM encoded.
func NewCA(days int) (certPEM, keyPEM []byte, err error) {
	days, err = checkDays(days, DefaultCADays)
	if err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Grid CA " + serial.Text(16)[:8], Organization: []string{"Grid"}},
		NotBefore:             now.Add(-time.Hour), // tolerate clock skew between members
		NotAfter:              now.Add(time.Duration(days) * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          keyID(&key.PublicKey),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign CA certificate: %w", err)
	}
	return encodePair(der, key)
}

// NewCert makes a member certificate signed by the CA (PEM inputs), valid
// for req.Name, localhost, 127.0.0.1 and the extras, usable as both a
// server and a client certificate. It returns the certificate and key, PEM.
func NewCert(caCertPEM, caKeyPEM []byte, req CertRequest) (certPEM, keyPEM []byte, err error) {
	caCert, caKey, err := parseCA(caCertPEM, caKeyPEM)
	if err != nil {
		return nil, nil, err
	}
	days, err := checkDays(req.Days, DefaultCertDays)
	if err != nil {
		return nil, nil, err
	}
	dnsNames, ips, err := sans(req)
	if err != nil {
		return nil, nil, err
	}
	if req.Role != "" {
		san, err := RoleSAN(req.Role, req.Cluster)
		if err != nil {
			return nil, nil, err
		}
		dnsNames = append(dnsNames, san)
	}
	now := time.Now()
	notAfter := now.Add(time.Duration(days) * 24 * time.Hour)
	if notAfter.After(caCert.NotAfter) {
		return nil, nil, fmt.Errorf("%w: a %d-day certificate would outlive the CA (it expires %s); use a smaller --days",
			ErrCertRequest, days, caCert.NotAfter.UTC().Format(time.DateOnly))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: req.Name, Organization: []string{"Grid"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     dnsNames,
		IPAddresses:  ips,
		SubjectKeyId: keyID(&key.PublicKey),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("sign certificate for %q: %w", req.Name, err)
	}
	return encodePair(der, key)
}

// WriteCA creates dir if needed and writes a new CA into it as ca.pem and
// ca-key.pem (mode 0600). It refuses to overwrite an existing CA.
func WriteCA(dir string, days int) (certPath, keyPath string, err error) {
	if strings.TrimSpace(dir) == "" {
		return "", "", fmt.Errorf("%w: the output directory is empty", ErrCertRequest)
	}
	certPEM, keyPEM, err := NewCA(days)
	if err != nil {
		return "", "", err
	}
	return writePair(dir, CACertFile, CAKeyFile, certPEM, keyPEM)
}

// WriteCert signs a member certificate with the CA in caDir (ca.pem,
// ca-key.pem) and writes NAME.pem and NAME-key.pem (mode 0600) into outDir,
// refusing to overwrite existing files.
func WriteCert(caDir string, req CertRequest, outDir string) (certPath, keyPath string, err error) {
	if strings.TrimSpace(caDir) == "" || strings.TrimSpace(outDir) == "" {
		return "", "", fmt.Errorf("%w: the CA directory and the output directory must both be given", ErrCertRequest)
	}
	if err := checkName(req.Name); err != nil {
		return "", "", err
	}
	caCertPEM, err := os.ReadFile(filepath.Join(caDir, CACertFile))
	if err != nil {
		return "", "", fmt.Errorf("%w: read CA certificate: %w", ErrCertRequest, err)
	}
	caKeyPEM, err := os.ReadFile(filepath.Join(caDir, CAKeyFile))
	if err != nil {
		return "", "", fmt.Errorf("%w: read CA key: %w", ErrCertRequest, err)
	}
	certPEM, keyPEM, err := NewCert(caCertPEM, caKeyPEM, req)
	if err != nil {
		return "", "", err
	}
	return writePair(outDir, req.Name+".pem", req.Name+"-key.pem", certPEM, keyPEM)
}

// checkDays applies the default and the bounds to a validity in days.
func checkDays(days, def int) (int, error) {
	if days == 0 {
		return def, nil
	}
	if days < 0 || days > MaxCertDays {
		return 0, fmt.Errorf("%w: validity of %d days; want 1 to %d", ErrCertRequest, days, MaxCertDays)
	}
	return days, nil
}

// checkName validates a member name (it becomes a file name and a SAN).
func checkName(name string) error {
	if !fileNameRe.MatchString(name) {
		return fmt.Errorf("%w: name %q: want 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
			ErrCertRequest, name)
	}
	return nil
}

// sans builds the DNS and IP SANs of a request: the name, localhost,
// 127.0.0.1 and the extras, deduplicated.
func sans(req CertRequest) ([]string, []net.IP, error) {
	if err := checkName(req.Name); err != nil {
		return nil, nil, err
	}
	var dnsNames []string
	var ips []net.IP
	addIP := func(ip net.IP) {
		for _, have := range ips {
			if have.Equal(ip) {
				return
			}
		}
		ips = append(ips, ip)
	}
	addDNS := func(n string) {
		n = strings.ToLower(n)
		for _, have := range dnsNames {
			if have == n {
				return
			}
		}
		dnsNames = append(dnsNames, n)
	}
	if ip := net.ParseIP(req.Name); ip != nil {
		addIP(ip)
	} else if err := checkDNSName(req.Name); err != nil {
		return nil, nil, err
	} else {
		addDNS(req.Name)
	}
	addDNS("localhost")
	addIP(net.IPv4(127, 0, 0, 1))
	for _, s := range req.IPs {
		ip := net.ParseIP(strings.TrimSpace(s))
		if ip == nil {
			return nil, nil, fmt.Errorf("%w: --ip %q is not an IP address", ErrCertRequest, s)
		}
		addIP(ip)
	}
	for _, n := range req.DNSNames {
		n = strings.TrimSpace(n)
		if err := checkDNSName(n); err != nil {
			return nil, nil, err
		}
		addDNS(n)
	}
	return dnsNames, ips, nil
}

// checkDNSName validates a DNS SAN; a leading "*." wildcard is allowed.
func checkDNSName(n string) error {
	bad := fmt.Errorf("%w: DNS name %q: want dot-separated labels of letters, digits and '-' (at most 253 characters)",
		ErrCertRequest, n)
	host := strings.TrimPrefix(n, "*.")
	if host == "" || len(n) > 253 {
		return bad
	}
	for _, label := range strings.Split(host, ".") {
		if !dnsLabelRe.MatchString(label) {
			return bad
		}
	}
	return nil
}

// parseCA decodes a CA certificate and its key and checks they belong together.
func parseCA(certPEM, keyPEM []byte) (*x509.Certificate, crypto.Signer, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("%w: %s holds no PEM certificate", ErrCertRequest, CACertFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: parse CA certificate: %w", ErrCertRequest, err)
	}
	if !cert.IsCA {
		return nil, nil, fmt.Errorf("%w: %s is not a CA certificate", ErrCertRequest, CACertFile)
	}
	if time.Now().After(cert.NotAfter) {
		return nil, nil, fmt.Errorf("%w: the CA expired on %s", ErrCertRequest, cert.NotAfter.UTC().Format(time.DateOnly))
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, nil, fmt.Errorf("%w: %s holds no PEM key", ErrCertRequest, CAKeyFile)
	}
	var key any
	switch kb.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(kb.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(kb.Bytes)
	default:
		err = fmt.Errorf("unsupported PEM block %q", kb.Type)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: parse CA key: %w", ErrCertRequest, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("%w: the CA key cannot sign", ErrCertRequest)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("%w: %s does not belong to %s", ErrCertRequest, CAKeyFile, CACertFile)
	}
	return cert, signer, nil
}

// newSerial returns a random 128-bit certificate serial number.
func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil // never zero
}

// keyID is the RFC 5280 method 1 subject key identifier of a public key.
func keyID(pub *ecdsa.PublicKey) []byte {
	raw, err := pub.Bytes()
	if err != nil {
		return nil
	}
	sum := sha1.Sum(raw)
	return sum[:]
}

// encodePair PEM-encodes a certificate and its key (PKCS#8).
func encodePair(der []byte, key *ecdsa.PrivateKey) ([]byte, []byte, error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// writePair writes a certificate (0644) and its key (0600) into dir,
// creating dir (0700) if needed and never overwriting a file.
func writePair(dir, certName, keyName string, certPEM, keyPEM []byte) (string, string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("create %s: %w", dir, err)
	}
	certPath, keyPath := filepath.Join(dir, certName), filepath.Join(dir, keyName)
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", fmt.Errorf("%s: %w; refusing to overwrite it (move it away first)", p, fs.ErrExist)
		}
	}
	if err := writeNewFile(keyPath, keyPEM, 0o600); err != nil {
		return "", "", err
	}
	if err := writeNewFile(certPath, certPEM, 0o644); err != nil {
		_ = os.Remove(keyPath)
		return "", "", err
	}
	return certPath, keyPath, nil
}

// writeNewFile creates path exclusively with perm and writes data to it.
func writeNewFile(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
