package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/gridctl/grid/rpc/security"
	"github.com/hashicorp/raft"
)

// tlsHandshakeTimeout bounds the server side of a Raft TLS handshake, so a
// peer that connects and says nothing cannot hold a goroutine forever.
const tlsHandshakeTimeout = 10 * time.Second

// ErrTLSStreamLayer marks a Raft TLS stream layer that cannot be built:
// missing configs, a server config that does not demand client
// certificates, or an address other members cannot dial.
var ErrTLSStreamLayer = errors.New("raft tls stream layer")

// TLSStreamLayer is a raft.StreamLayer speaking mutual TLS: the listener
// demands a client certificate from the cluster CA and Dial presents this
// master's certificate and verifies the peer's. Plaintext peers are refused.
type TLSStreamLayer struct {
	listener  net.Listener
	advertise net.Addr
	server    *tls.Config
	client    *tls.Config
	// OnRefused, when set, is told of each connection refused for its
	// certificate role (peer address, reason).
	OnRefused func(peer, reason string)
}

// NewTLSStreamLayer listens on bind with server (security.ServerTLSConfig) and
// dials peers with client (security.ClientTLSConfig; an empty ServerName is set
// to each peer address's host). advertise is the address other masters
// dial; nil uses the listener's, which must then be a specific IP. Pass the
// result to raft.NewNetworkTransportWithLogger.
func NewTLSStreamLayer(bind string, advertise net.Addr, server, client *tls.Config) (raft.StreamLayer, error) {
	if server == nil || client == nil {
		return nil, fmt.Errorf("%w: both a server and a client TLS config are needed", ErrTLSStreamLayer)
	}
	if len(server.Certificates) == 0 && server.GetCertificate == nil {
		return nil, fmt.Errorf("%w: the server TLS config has no certificate", ErrTLSStreamLayer)
	}
	if server.ClientAuth != tls.RequireAndVerifyClientCert {
		return nil, fmt.Errorf("%w: the server TLS config must require and verify client certificates", ErrTLSStreamLayer)
	}
	lis, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("%w: listen on %s: %w", ErrTLSStreamLayer, bind, err)
	}
	addr := advertise
	if addr == nil {
		addr = lis.Addr()
	}
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp.IP == nil || tcp.IP.IsUnspecified() {
		_ = lis.Close()
		return nil, fmt.Errorf("%w: %s is not an address other masters can dial; set an advertise address",
			ErrTLSStreamLayer, addr)
	}
	return &TLSStreamLayer{listener: lis, advertise: addr, server: server, client: client}, nil
}

// Accept waits for the next connection and wraps it in server-side TLS; the
// handshake runs (with a deadline) on the connection's first read or write,
// so a slow peer never blocks the accept loop.
func (l *TLSStreamLayer) Accept() (net.Conn, error) {
	conn, err := l.listener.Accept()
	if err != nil {
		return nil, err
	}
	return &serverTLSConn{Conn: tls.Server(conn, l.server), onRefused: l.OnRefused}, nil
}

// Close stops the listener.
func (l *TLSStreamLayer) Close() error { return l.listener.Close() }

// Addr is the advertised address.
func (l *TLSStreamLayer) Addr() net.Addr { return l.advertise }

// Dial connects to a peer's Raft port and completes the TLS handshake
// within timeout, verifying the peer's certificate against the CA.
func (l *TLSStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	cfg := l.client.Clone()
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(string(address))
		if err != nil {
			return nil, fmt.Errorf("raft peer address %q: %w", address, err)
		}
		cfg.ServerName = host
	}
	dialer := &net.Dialer{Timeout: timeout}
	conn, err := tls.DialWithDialer(dialer, "tcp", string(address), cfg)
	if err != nil {
		return nil, fmt.Errorf("raft tls dial %s: %w", address, err)
	}
	if err := security.RequireRole(conn.ConnectionState(), security.RoleServer); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("raft tls dial %s: %w", address, err)
	}
	return conn, nil
}

// serverTLSConn runs the server handshake once, under a deadline, before
// the first read or write.
type serverTLSConn struct {
	*tls.Conn
	onRefused func(peer, reason string)
	once      sync.Once
	err       error
}

// handshake completes the TLS handshake (client certificate checked).
func (c *serverTLSConn) handshake() error {
	c.once.Do(func() {
		_ = c.Conn.SetDeadline(time.Now().Add(tlsHandshakeTimeout))
		if err := c.Conn.Handshake(); err != nil {
			c.err = fmt.Errorf("raft tls handshake with %s: %w", c.Conn.RemoteAddr(), err)
			_ = c.Conn.Close()
			return
		}
		// Only masters talk Raft: an agent's or a client's certificate from
		// the same CA is refused before a byte of Raft is read.
		if err := security.RequireRole(c.Conn.ConnectionState(), security.RoleServer); err != nil {
			c.err = fmt.Errorf("raft connection from %s: %w", c.Conn.RemoteAddr(), err)
			if c.onRefused != nil {
				c.onRefused(c.Conn.RemoteAddr().String(), err.Error())
			}
			_ = c.Conn.Close()
			return
		}
		_ = c.Conn.SetDeadline(time.Time{})
	})
	return c.err
}

// Read implements net.Conn.
func (c *serverTLSConn) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

// Write implements net.Conn.
func (c *serverTLSConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}
