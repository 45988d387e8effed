package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// NetworkSpec names one Network's namespaces, host link and subnet, so test
// suites can build their networks side by side without colliding.
type NetworkSpec struct {
	Prefix   string // starts every namespace name, e.g. "gridchaos-"
	HostLink string // the test process's veth in the root namespace (at most 15 bytes)
	Subnet   string // the first three octets of a /24, e.g. "10.77.0"
}

// ChaosNetwork is the chaos suite's network: gridchaos-* namespaces on
// 10.77.0.0/24, host link gridchaos0.
var ChaosNetwork = NetworkSpec{Prefix: NetnsPrefix, HostLink: "gridchaos0", Subnet: "10.77.0"}

// NetnsPrefix starts the name of every namespace of ChaosNetwork; stale ones
// left by a killed test run are removed by NewNetwork.
const NetnsPrefix = "gridchaos-"

const (
	subnetBits = "/24"
	hostOctet  = 1
	firstIP    = 10 // members get <subnet>.10, .11, ...
)

func (s NetworkSpec) hub() string         { return s.Prefix + "hub" }
func (s NetworkSpec) ip(octet int) string { return fmt.Sprintf("%s.%d", s.Subnet, octet) }
func (s NetworkSpec) validate() error {
	if s.Prefix == "" || s.HostLink == "" || len(s.HostLink) > 15 || len(strings.Split(s.Subnet, ".")) != 3 {
		return fmt.Errorf("bad network spec %+v: want a prefix, a host link of 1-15 bytes and a subnet a.b.c", s)
	}
	return nil
}

// ErrNoNetns means network namespaces cannot be used here (not root, no `ip`
// or `iptables`); partition tests skip with it.
var ErrNoNetns = errors.New("network namespaces unavailable")

// Network is a private IPv4 /24 (ChaosNetwork: 10.77.0.0/24) made of network namespaces:
// a hub namespace holds a Linux bridge, every member (a master, an agent) has
// its own namespace joined to the bridge by a veth pair, and the test process
// reaches all of them from the root namespace through one more veth pair
// (<subnet>.1). The bridge lives in the hub, not in the root namespace, so the
// host's iptables (Docker's FORWARD DROP) never sees the traffic.
//
// Partitions are real network cuts: Unplug sets the member's veth down on the
// hub side (nothing goes in or out), Block installs iptables DROP rules inside
// the member's namespace for chosen peers.
type Network struct {
	// HostIP is the test process's address on the network.
	HostIP string

	spec   NetworkSpec
	mu     sync.Mutex
	next   int
	spaces map[string]*Netns // by member name
	byProc map[*Proc]*Netns
}

// Netns is one member's network namespace.
type Netns struct {
	Name    string // e.g. gridchaos-master-1
	Member  string // e.g. master-1
	IP      string // e.g. 10.77.0.10
	hub     string // its network's hub namespace
	hubVeth string // its veth's name in the hub namespace
}

// NetnsAvailable reports ErrNoNetns (wrapped, with the reason) when this
// process cannot create network namespaces.
func NetnsAvailable() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: need root (euid %d)", ErrNoNetns, os.Geteuid())
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s not found: %v", ErrNoNetns, tool, err)
		}
	}
	if out, err := exec.Command("ip", "netns", "list").CombinedOutput(); err != nil {
		return fmt.Errorf("%w: ip netns list: %v: %s", ErrNoNetns, err, out)
	}
	return nil
}

// NewNetwork is NewNetworkWith(t, ChaosNetwork).
func NewNetwork(t testing.TB) *Network { return NewNetworkWith(t, ChaosNetwork) }

// NewNetworkWith removes spec's stale namespaces, builds the hub and the
// host link, and deletes everything at test cleanup (register it before the
// cluster so processes are stopped first). It skips the test when
// namespaces are unavailable.
func NewNetworkWith(t testing.TB, spec NetworkSpec) *Network {
	t.Helper()
	if err := spec.validate(); err != nil {
		t.Fatal(err)
	}
	if err := NetnsAvailable(); err != nil {
		t.Skipf("this test needs network namespaces: %v", err)
	}
	spec.RemoveStale()
	hub, hostIP := spec.hub(), spec.ip(hostOctet)
	n := &Network{HostIP: hostIP, spec: spec, next: firstIP, spaces: map[string]*Netns{}, byProc: map[*Proc]*Netns{}}
	t.Cleanup(n.Close)
	steps := [][]string{
		{"ip", "netns", "add", hub},
		{"ip", "-n", hub, "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", hub, "link", "set", "br0", "up"},
		{"ip", "-n", hub, "link", "set", "lo", "up"},
		{"ip", "link", "add", spec.HostLink, "type", "veth", "peer", "name", "host", "netns", hub},
		{"ip", "-n", hub, "link", "set", "host", "master", "br0", "up"},
		{"ip", "addr", "add", hostIP + subnetBits, "dev", spec.HostLink},
		{"ip", "link", "set", spec.HostLink, "up"},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			t.Fatalf("build network: %v", err)
		}
	}
	return n
}

// RemoveStaleNetns deletes every ChaosNetwork namespace and its host link.
func RemoveStaleNetns() { ChaosNetwork.RemoveStale() }

// RemoveStale deletes every namespace named with s.Prefix and s's host link.
func (s NetworkSpec) RemoveStale() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		name := strings.Fields(line + " ")
		if len(name) > 0 && strings.HasPrefix(name[0], s.Prefix) {
			_ = run("ip", "netns", "del", name[0])
		}
	}
	if exec.Command("ip", "link", "show", s.HostLink).Run() == nil {
		_ = run("ip", "link", "del", s.HostLink)
	}
}

// Close deletes every namespace of the network (veth pairs go with them).
func (n *Network) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ns := range n.spaces {
		_ = run("ip", "netns", "del", ns.Name)
	}
	n.spaces = map[string]*Netns{}
	_ = run("ip", "netns", "del", n.spec.hub())
	if exec.Command("ip", "link", "show", n.spec.HostLink).Run() == nil {
		_ = run("ip", "link", "del", n.spec.HostLink)
	}
}

// Add creates member's namespace with the next free address, plugged in.
func (n *Network) Add(member string) (*Netns, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.spaces[member]; ok {
		return nil, fmt.Errorf("netns for %s already exists", member)
	}
	if n.next > 250 {
		return nil, fmt.Errorf("network %s.0/24 is full", n.spec.Subnet)
	}
	octet := n.next
	n.next++
	hub := n.spec.hub()
	ns := &Netns{Name: n.spec.Prefix + member, Member: member, IP: n.spec.ip(octet), hub: hub, hubVeth: fmt.Sprintf("gc%d", octet)}
	steps := [][]string{
		{"ip", "netns", "add", ns.Name},
		{"ip", "-n", ns.Name, "link", "set", "lo", "up"},
		{"ip", "-n", hub, "link", "add", ns.hubVeth, "type", "veth", "peer", "name", "eth0", "netns", ns.Name},
		{"ip", "-n", hub, "link", "set", ns.hubVeth, "master", "br0", "up"},
		{"ip", "-n", ns.Name, "addr", "add", ns.IP + subnetBits, "dev", "eth0"},
		{"ip", "-n", ns.Name, "link", "set", "eth0", "up"},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			_ = run("ip", "netns", "del", ns.Name)
			return nil, fmt.Errorf("add netns %s: %w", ns.Name, err)
		}
	}
	n.spaces[member] = ns
	return ns, nil
}

// Remove deletes member's namespace (its processes must be stopped).
func (n *Network) Remove(member string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	ns, ok := n.spaces[member]
	if !ok {
		return nil
	}
	delete(n.spaces, member)
	for p, s := range n.byProc {
		if s == ns {
			delete(n.byProc, p)
		}
	}
	return run("ip", "netns", "del", ns.Name)
}

// Netns returns member's namespace, nil when it has none.
func (n *Network) Netns(member string) *Netns {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.spaces[member]
}

// Bind makes Start run p inside ns.
func (n *Network) Bind(p *Proc, ns *Netns) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.byProc[p] = ns
}

// Start starts p inside the namespace it is bound to (or in the root
// namespace when unbound). Use it instead of p.Start for bound processes.
func (n *Network) Start(p *Proc) error {
	n.mu.Lock()
	ns := n.byProc[p]
	n.mu.Unlock()
	if ns == nil {
		return p.Start()
	}
	return ns.Start(p)
}

// Start starts p with its network namespace set to ns: the same effect as
// `ip netns exec NS bin/grid ...` (the child inherits the namespace of the
// thread that forks it), without putting `ip` between the test and the
// process, so signals and pids stay the grid process's own.
func (ns *Netns) Start(p *Proc) error {
	target, err := os.Open(filepath.Join("/var/run/netns", ns.Name))
	if err != nil {
		return fmt.Errorf("open netns %s: %w", ns.Name, err)
	}
	defer target.Close()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		return fmt.Errorf("open own netns: %w", err)
	}
	defer self.Close()
	// Locked, the goroutine keeps this thread; Go spawns new threads from a
	// clean template thread while a locked thread exists, so nothing else
	// inherits the namespace.
	runtime.LockOSThread()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter netns %s: %w", ns.Name, err)
	}
	startErr := p.Start()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: it dies with this goroutine instead of
		// running other goroutines in the wrong namespace.
		return fmt.Errorf("leave netns %s: %w (start: %v)", ns.Name, err, startErr)
	}
	runtime.UnlockOSThread()
	return startErr
}

// Unplug cuts the member off the network: its veth goes down on the hub side.
func (ns *Netns) Unplug() error {
	return run("ip", "-n", ns.hub, "link", "set", ns.hubVeth, "down")
}

// Plug undoes Unplug.
func (ns *Netns) Plug() error {
	return run("ip", "-n", ns.hub, "link", "set", ns.hubVeth, "up")
}

// Block drops every packet between this member and each of ips (iptables
// DROP on INPUT and OUTPUT inside the member's namespace); other traffic,
// including the test process's, still flows.
func (ns *Netns) Block(ips ...string) error {
	for _, ip := range ips {
		if err := run("ip", "netns", "exec", ns.Name, "iptables", "-w", "-A", "INPUT", "-s", ip, "-j", "DROP"); err != nil {
			return err
		}
		if err := run("ip", "netns", "exec", ns.Name, "iptables", "-w", "-A", "OUTPUT", "-d", ip, "-j", "DROP"); err != nil {
			return err
		}
	}
	return nil
}

// Unblock removes every rule Block installed.
func (ns *Netns) Unblock() error {
	if err := run("ip", "netns", "exec", ns.Name, "iptables", "-w", "-F", "INPUT"); err != nil {
		return err
	}
	return run("ip", "netns", "exec", ns.Name, "iptables", "-w", "-F", "OUTPUT")
}

func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
