package cluster

import (
	"fmt"
	"net"
	"strconv"
)

// advertiseAddr derives the address others dial from a bind address: an
// explicit advertise address wins; an unspecified host (empty, 0.0.0.0, ::)
// becomes the first non-loopback IPv4 address, else 127.0.0.1. bound is the
// address actually bound (its port replaces a 0 port).
func advertiseAddr(advertise, bind string, bound net.Addr) (string, error) {
	if advertise != "" {
		if _, _, err := net.SplitHostPort(advertise); err != nil {
			return "", fmt.Errorf("%w: advertise address %q: %v", ErrInvalid, advertise, err)
		}
		return advertise, nil
	}
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		return "", fmt.Errorf("%w: bind address %q: %v", ErrInvalid, bind, err)
	}
	if bound != nil {
		if _, p, err := net.SplitHostPort(bound.String()); err == nil {
			port = p
		}
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = firstNonLoopback()
	}
	return net.JoinHostPort(host, port), nil
}

// firstNonLoopback is the first non-loopback IPv4 address of this host, or 127.0.0.1.
func firstNonLoopback() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil && !ipn.IP.IsLinkLocalUnicast() {
				return ipn.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

// splitHostPortNum splits an address into host and numeric port.
func splitHostPortNum(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%w: address %q: %v", ErrInvalid, addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("%w: address %q: bad port", ErrInvalid, addr)
	}
	return host, port, nil
}
