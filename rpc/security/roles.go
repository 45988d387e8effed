package security

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
)

// Certificate roles: the SAN <role>.<cluster>.grid in a member certificate
// (`grid tls create-cert --role`). Raft and master-to-master calls need
// RoleServer; masters' calls to agents need RoleServer; agents present
// RoleAgent; RoleClient reaches the public API only.
const (
	RoleServer = "server"
	RoleAgent  = "agent"
	RoleClient = "client"
)

// DefaultCertCluster is the cluster name in role SANs when none is given.
const DefaultCertCluster = "global"

// roleSANRe matches a role SAN.
var roleSANRe = regexp.MustCompile(`^(server|agent|client)\.[a-z0-9-]{1,63}\.grid$`)

// RoleSAN is the DNS SAN that carries role for cluster.
func RoleSAN(role, cluster string) (string, error) {
	if cluster == "" {
		cluster = DefaultCertCluster
	}
	san := role + "." + strings.ToLower(cluster) + ".grid"
	if !roleSANRe.MatchString(san) {
		return "", fmt.Errorf("%w: role %q / cluster %q: want server|agent|client and a cluster name of [a-z0-9-]", ErrCertRequest, role, cluster)
	}
	return san, nil
}

// CertRole is the role a certificate carries ("" when none).
func CertRole(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	for _, n := range c.DNSNames {
		if m := roleSANRe.FindStringSubmatch(n); m != nil {
			return m[1]
		}
	}
	return ""
}

// PeerRole is the role of the verified peer certificate of a TLS
// connection ("" without one).
func PeerRole(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return ""
	}
	return CertRole(cs.PeerCertificates[0])
}

// ErrWrongRole marks a peer whose certificate lacks the needed role.
var ErrWrongRole = fmt.Errorf("certificate role refused")

// RequireRole checks a TLS connection's peer role.
func RequireRole(cs tls.ConnectionState, role string) error {
	if got := PeerRole(cs); got != role {
		if got == "" {
			got = "none"
		}
		return fmt.Errorf("%w: peer presents a %s certificate; this needs a %s certificate", ErrWrongRole, got, role)
	}
	return nil
}

// certHolders keep each TLS file set's current certificate, so configs
// built from it pick up a renewed certificate (ReloadTLS, on SIGHUP)
// without being rebuilt.
var certHolders sync.Map // TLSFiles -> *atomic.Pointer[tls.Certificate]

func certHolder(f TLSFiles, cert tls.Certificate) *atomic.Pointer[tls.Certificate] {
	h := new(atomic.Pointer[tls.Certificate])
	h.Store(&cert)
	got, _ := certHolders.LoadOrStore(f, h)
	return got.(*atomic.Pointer[tls.Certificate])
}

// ReloadTLS re-reads f's certificate and key (checked against the CA as at
// start) and makes every TLS config built from f present them from the
// next handshake on. The CA itself is not reloaded.
func ReloadTLS(f TLSFiles) error {
	m, err := f.mustLoad()
	if err != nil {
		return err
	}
	h := certHolder(f, m.cert)
	h.Store(&m.cert)
	return nil
}
