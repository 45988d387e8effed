package agent

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"
)

// Gossip meta tags (package rpc owns the names and the encoding).
const (
	tagRole     = rpc.TagRole
	tagID       = rpc.TagID
	tagGRPCAddr = rpc.TagGRPCAddr
	roleMaster  = rpc.RoleMaster
	roleAgent   = rpc.RoleAgent
)

// Membership is the agent's place in the gossip pool: it tags itself
// role=agent and learns the masters' gRPC addresses from their tags.
type Membership struct {
	ml *memberlist.Memberlist
	// keyring is memberlist's keyring (nil: plaintext); keyring.go rotates it.
	keyring *memberlist.Keyring
	pool    *MasterPool
	join    []string
	meta    []byte
	logger  hclog.Logger
	// logGate carries memberlist's log lines until Leave.
	logGate *logGate

	mu      sync.Mutex
	masters map[string]masterTag // by member name
}

// masterTag is what gossip says about one master.
type masterTag struct{ id, grpcAddr string }

// NewMembership binds the gossip listener; Run joins the pool.
func NewMembership(cfg Config, pool *MasterPool, logger hclog.Logger) (*Membership, error) {
	logger = logger.Named("gossip")
	tags := map[string]string{tagRole: roleAgent, tagID: cfg.AgentID, tagGRPCAddr: cfg.AdvertiseAddr}
	if cfg.advertiseHTTP != "" {
		tags[rpc.TagHTTPAddr] = cfg.advertiseHTTP
	}
	meta, err := rpc.EncodeTags(tags)
	if err != nil {
		return nil, err
	}
	m := &Membership{pool: pool, join: cfg.Join, meta: meta, logger: logger, masters: make(map[string]masterTag)}
	host, port, err := splitHostPort(cfg.GossipAddr)
	if err != nil {
		return nil, fmt.Errorf("gossip address %q: %w", cfg.GossipAddr, err)
	}
	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.AgentID
	// nil: plaintext; else one of its keys must match the masters' primary.
	if mc.Keyring, err = startKeyring(cfg); err != nil {
		return nil, fmt.Errorf("gossip keyring: %w", err)
	}
	m.keyring = mc.Keyring
	if host == "" {
		host = "0.0.0.0"
	}
	mc.BindAddr, mc.BindPort = host, port
	if ip := net.ParseIP(host); (ip == nil || ip.IsUnspecified()) && port != 0 {
		// Bound to every interface: advertise the host masters dial us at.
		mc.AdvertiseAddr, mc.AdvertisePort = cfg.AdvertiseHost(), port
	}
	mc.Delegate = m
	mc.Events = m
	mc.LogOutput = nil
	m.logGate = &logGate{w: logger.StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true})}
	mc.Logger = log.New(m.logGate, "", 0)
	mc.ProbeInterval = 500 * time.Millisecond
	mc.GossipInterval = 100 * time.Millisecond
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("start gossip on %s: %w", cfg.GossipAddr, err)
	}
	m.ml = ml
	return m, nil
}

// Run joins the pool, retrying with backoff until at least one member
// answers, then returns; membership changes keep updating the MasterPool.
func (m *Membership) Run(ctx context.Context) {
	backoff := Backoff{Min: 500 * time.Millisecond, Max: 10 * time.Second}
	for {
		n, err := m.ml.Join(m.join)
		if err == nil && n > 0 {
			m.logger.Info("joined gossip pool", "contacted", n, "members", m.ml.NumMembers())
			return
		}
		m.logger.Warn("could not join gossip pool; retrying", "join", m.join, "error", err)
		if !waitCtx(ctx, backoff.Next()) {
			return
		}
	}
}

// Leave tells the pool this agent is going and stops gossip.
func (m *Membership) Leave(timeout time.Duration) {
	if err := m.ml.Leave(timeout); err != nil {
		m.logger.Warn("gossip leave failed", "error", err)
	}
	_ = m.ml.Shutdown()
	m.logGate.close()
}

// logGate passes memberlist's log lines on until closed. memberlist's
// probe and stream goroutines can still finish after Shutdown returns;
// once the agent has left, their lines are dropped, so nothing the agent
// started logs after Run has returned.
type logGate struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (g *logGate) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return len(p), nil
	}
	return g.w.Write(p)
}

// close drops every later line; it returns once a line being written is done.
func (g *logGate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// Addr is the gossip address actually bound.
func (m *Membership) Addr() string {
	n := m.ml.LocalNode()
	return n.Addr.String() + ":" + strconv.Itoa(int(n.Port))
}

// update records a member's tags and pushes the masters' addresses to the
// pool. memberlist calls the event delegate with its locks held, so this
// works only from the node given, never from Members().
func (m *Membership) update(n *memberlist.Node, gone bool) {
	tags := parseMeta(n.Meta)
	m.mu.Lock()
	defer m.mu.Unlock()
	if gone || tags[tagRole] != roleMaster || tags[tagGRPCAddr] == "" {
		if _, ok := m.masters[n.Name]; !ok {
			return
		}
		delete(m.masters, n.Name)
	} else {
		id := tags[tagID]
		if id == "" {
			id = n.Name
		}
		m.masters[n.Name] = masterTag{id: id, grpcAddr: tags[tagGRPCAddr]}
	}
	byID := make(map[string]string, len(m.masters))
	for _, t := range m.masters {
		byID[t.id] = t.grpcAddr
	}
	m.pool.SetGossipMasters(byID)
}

func parseMeta(b []byte) map[string]string { return rpc.DecodeTags(b) }

// NodeMeta implements memberlist.Delegate.
func (m *Membership) NodeMeta(limit int) []byte {
	if len(m.meta) > limit {
		return nil
	}
	return m.meta
}

// NotifyMsg implements memberlist.Delegate (no user messages).
func (m *Membership) NotifyMsg([]byte) {}

// GetBroadcasts implements memberlist.Delegate.
func (m *Membership) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState implements memberlist.Delegate.
func (m *Membership) LocalState(join bool) []byte { return nil }

// MergeRemoteState implements memberlist.Delegate.
func (m *Membership) MergeRemoteState(buf []byte, join bool) {}

// NotifyJoin implements memberlist.EventDelegate.
func (m *Membership) NotifyJoin(n *memberlist.Node) { m.update(n, false) }

// NotifyLeave implements memberlist.EventDelegate.
func (m *Membership) NotifyLeave(n *memberlist.Node) { m.update(n, true) }

// NotifyUpdate implements memberlist.EventDelegate.
func (m *Membership) NotifyUpdate(n *memberlist.Node) { m.update(n, false) }
