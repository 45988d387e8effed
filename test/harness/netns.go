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

// NetnsPrefix starts the name of every network namespace the harness makes;
// stale ones left by a killed test run are removed by NewNetwork.
const NetnsPrefix = "gridchaos-"

const (
	hubNetns   = NetnsPrefix + "hub"
	hostVeth   = "gridchaos0" // the test process's end, in the root namespace
	hostIP     = "10.77.0.1"
	subnetBits = "/24"
	firstIP    = 10 // members get 10.77.0.10, .11, ...
)

// ErrNoNetns means network namespaces cannot be used here (not root, no `ip`
// or `iptables`); partition tests skip with it.
var ErrNoNetns = errors.New("network namespaces unavailable")

// Network is a private IPv4 network 10.77.0.0/24 made of network namespaces:
// a hub namespace holds a Linux bridge, every member (a master, an agent) has
// its own namespace joined to the bridge by a veth pair, and the test process
// reaches all of them from the root namespace through one more veth pair
// (10.77.0.1). The bridge lives in the hub, not in the root namespace, so the
// host's iptables (Docker's FORWARD DROP) never sees the traffic.
//
// Partitions are real network cuts: Unplug sets the member's veth down on the
// hub side (nothing goes in or out), Block installs iptables DROP rules inside
// the member's namespace for chosen peers.
type Network struct {
	// HostIP is the test process's address on the network.
	HostIP string

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

// NewNetwork removes stale gridchaos-* namespaces, builds the hub and the
// host link, and deletes everything at test cleanup (register it before the
// cluster so processes are stopped first). It skips the test when
// namespaces are unavailable.
func NewNetwork(t testing.TB) *Network {
	t.Helper()
	if err := NetnsAvailable(); err != nil {
		t.Skipf("partition tests need network namespaces: %v", err)
	}
	RemoveStaleNetns()
	n := &Network{HostIP: hostIP, next: firstIP, spaces: map[string]*Netns{}, byProc: map[*Proc]*Netns{}}
	t.Cleanup(n.Close)
	steps := [][]string{
		{"ip", "netns", "add", hubNetns},
		{"ip", "-n", hubNetns, "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", hubNetns, "link", "set", "br0", "up"},
		{"ip", "-n", hubNetns, "link", "set", "lo", "up"},
		{"ip", "link", "add", hostVeth, "type", "veth", "peer", "name", "host", "netns", hubNetns},
		{"ip", "-n", hubNetns, "link", "set", "host", "master", "br0", "up"},
		{"ip", "addr", "add", hostIP + subnetBits, "dev", hostVeth},
		{"ip", "link", "set", hostVeth, "up"},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			t.Fatalf("build network: %v", err)
		}
	}
	return n
}

// RemoveStaleNetns deletes every gridchaos-* namespace and the host link.
func RemoveStaleNetns() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		name := strings.Fields(line + " ")
		if len(name) > 0 && strings.HasPrefix(name[0], NetnsPrefix) {
			_ = run("ip", "netns", "del", name[0])
		}
	}
	if exec.Command("ip", "link", "show", hostVeth).Run() == nil {
		_ = run("ip", "link", "del", hostVeth)
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
	_ = run("ip", "netns", "del", hubNetns)
	if exec.Command("ip", "link", "show", hostVeth).Run() == nil {
		_ = run("ip", "link", "del", hostVeth)
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
		return nil, fmt.Errorf("network 10.77.0.0/24 is full")
	}
	octet := n.next
	n.next++
	ns := &Netns{Name: NetnsPrefix + member, Member: member, IP: fmt.Sprintf("10.77.0.%d", octet), hubVeth: fmt.Sprintf("gc%d", octet)}
	steps := [][]string{
		{"ip", "netns", "add", ns.Name},
		{"ip", "-n", ns.Name, "link", "set", "lo", "up"},
		{"ip", "-n", hubNetns, "link", "add", ns.hubVeth, "type", "veth", "peer", "name", "eth0", "netns", ns.Name},
		{"ip", "-n", hubNetns, "link", "set", ns.hubVeth, "master", "br0", "up"},
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
	return run("ip", "-n", hubNetns, "link", "set", ns.hubVeth, "down")
}

// Plug undoes Unplug.
func (ns *Netns) Plug() error {
	return run("ip", "-n", hubNetns, "link", "set", ns.hubVeth, "up")
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
