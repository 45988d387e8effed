package config

import (
	"fmt"
	"net"
	"strings"

	sockaddr "github.com/hashicorp/go-sockaddr"
	socktmpl "github.com/hashicorp/go-sockaddr/template"
)

// ParseTemplate resolves a go-sockaddr template in an address option
// (`{{ GetPrivateIP }}:7000`, `{{ GetInterfaceIP "eth0" }}`); a value
// without "{{" is returned as is. The result must be one address.
func ParseTemplate(opt, s string) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	out, err := socktmpl.Parse(s)
	if err != nil {
		return "", fmt.Errorf("--%s %q: bad go-sockaddr template: %v", opt, s, err)
	}
	out = strings.TrimSpace(out)
	if out == "" || out == ":" || strings.HasPrefix(out, ":") && strings.Contains(s, "}}:") {
		return "", fmt.Errorf("--%s %q: the template matched no address on this host", opt, s)
	}
	if strings.ContainsAny(out, " \t") {
		return "", fmt.Errorf("--%s %q: the template gives several addresses (%s); narrow it to one", opt, s, out)
	}
	return out, nil
}

// PrivateIP is this host's private IP (go-sockaddr's GetPrivateIP), else
// its first public one, else "" .
func PrivateIP() string {
	if ip, err := sockaddr.GetPrivateIP(); err == nil && ip != "" {
		return ip
	}
	if ip, err := sockaddr.GetPublicIP(); err == nil && ip != "" {
		return ip
	}
	return ""
}

// DefaultAdvertise is the address peers dial when no advertise address is
// given: the bind address, with an unspecified host (empty, 0.0.0.0, ::)
// replaced by the private IP. It returns "" when bind is not host:port.
func DefaultAdvertise(bind string) string {
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = PrivateIP()
		if host == "" {
			host = "127.0.0.1"
		}
	}
	return net.JoinHostPort(host, port)
}

// IsLoopback reports whether addr's host (host:port or a bare host) is a
// loopback address or "localhost".
func IsLoopback(addr string) bool {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckAdvertise refuses a loopback advertise address when any peer is not
// on loopback: those peers could never reach it. opt names the flag to set.
func CheckAdvertise(opt, advertise string, peers []string) error {
	if !IsLoopback(advertise) {
		return nil
	}
	var remote []string
	for _, p := range peers {
		if p != "" && !IsLoopback(p) {
			remote = append(remote, p)
		}
	}
	if len(remote) == 0 {
		return nil
	}
	_, port, _ := net.SplitHostPort(advertise)
	if port == "" || port == "0" {
		port = "PORT"
	}
	return fmt.Errorf("this process would advertise the loopback address %s, but its peers (%s) are not on loopback and could not reach it: "+
		"set --%s (or %s in a config file) to an address they can reach, e.g. --%s '{{ GetPrivateIP }}:%s'",
		advertise, strings.Join(remote, ", "), opt, strings.ReplaceAll(opt, "-", "_"), opt, port)
}
