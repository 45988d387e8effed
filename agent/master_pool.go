package agent

import (
	"fmt"
	"slices"
	"sync"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// MasterPool knows the masters' gRPC addresses (from --masters and from
// gossip) and hands out a client to the current one. Any master answers or
// forwards to the leader; on an error the caller calls Failed and the pool
// moves to the next address, round robin.
type MasterPool struct {
	mu       sync.Mutex
	static   []string
	gossip   []string
	leaders  map[string]string // master id -> grpc addr, from gossip
	current  string
	next     int
	conns    map[string]*grpc.ClientConn
	dialOpts []grpc.DialOption
}

// NewMasterPool starts with the static addresses (may be empty when gossip
// will supply them).
func NewMasterPool(static []string, opts ...grpc.DialOption) *MasterPool {
	if len(opts) == 0 {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	return &MasterPool{
		static:   slices.Clone(static),
		leaders:  make(map[string]string),
		conns:    make(map[string]*grpc.ClientConn),
		dialOpts: opts,
	}
}

// SetGossipMasters replaces the addresses learnt from gossip (id -> addr).
func (p *MasterPool) SetGossipMasters(byID map[string]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.leaders = byID
	p.gossip = p.gossip[:0]
	for _, addr := range byID {
		p.gossip = append(p.gossip, addr)
	}
	slices.Sort(p.gossip)
}

// Addrs lists every known master address, static first, without duplicates.
func (p *MasterPool) Addrs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addrsLocked()
}

func (p *MasterPool) addrsLocked() []string {
	out := slices.Clone(p.static)
	for _, a := range p.gossip {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// Current returns the address in use and a client for it.
func (p *MasterPool) Current() (string, rpc.GridMasterClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	addrs := p.addrsLocked()
	if len(addrs) == 0 {
		return "", nil, ErrNoMasters
	}
	if p.current == "" || !slices.Contains(addrs, p.current) {
		p.current = addrs[p.next%len(addrs)]
	}
	conn, ok := p.conns[p.current]
	if !ok {
		c, err := grpc.NewClient(p.current, p.dialOpts...)
		if err != nil {
			bad := p.current
			p.current = ""
			p.next++
			return "", nil, fmt.Errorf("dial master %s: %w", bad, err)
		}
		p.conns[p.current], conn = c, c
	}
	return p.current, rpc.NewGridMasterClient(conn), nil
}

// Failed moves on from addr (if it still is the current one) to the next
// master, round robin.
func (p *MasterPool) Failed(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.current != addr {
		return
	}
	addrs := p.addrsLocked()
	if len(addrs) == 0 {
		p.current = ""
		return
	}
	i := slices.Index(addrs, addr)
	p.next = i + 1
	p.current = addrs[p.next%len(addrs)]
}

// PreferLeader switches to the leader's address when gossip knows it (a
// not-leader hint); it reports whether it switched.
func (p *MasterPool) PreferLeader(leaderID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	addr, ok := p.leaders[leaderID]
	if !ok || addr == p.current {
		return false
	}
	p.current = addr
	return true
}

// Close closes every connection.
func (p *MasterPool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, c := range p.conns {
		_ = c.Close()
		delete(p.conns, addr)
	}
}
