package cluster

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"
)

// Gossip tags carried in memberlist node meta (package rpc owns the names
// and the encoding).
const (
	tagRole            = rpc.TagRole
	tagID              = rpc.TagID
	tagRaftAddr        = rpc.TagRaftAddr
	tagGRPCAddr        = rpc.TagGRPCAddr
	tagHTTPAddr        = rpc.TagHTTPAddr
	tagClusterID       = rpc.TagClusterID
	tagBootstrapExpect = rpc.TagBootstrapExpect
	tagStarted         = rpc.TagStarted
	tagIncarnation     = rpc.TagIncarnation
	tagVersion         = rpc.TagVersion

	roleMaster = rpc.RoleMaster
)

// member is one gossip member as this master sees it.
type member struct {
	Name   string
	Addr   string
	Status string // alive|suspect|dead|left
	Tags   map[string]string
}

func (mb member) isMaster() bool { return mb.Tags[tagRole] == roleMaster }

// gossip wraps memberlist: node meta (tags), membership events and the
// cluster-id check on every alive member.
// membership is what a master knows of the other members: gossip itself,
// why a member was refused, the masters' gossip addresses remembered across
// restarts. (The masters an operator removed are replicated state: fsm's
// removed set.)
type membership struct {
	gossip   *gossip
	mismatch atomic.Value // string: why a member was refused
	// peers remembers masters' gossip addresses across restarts.
	peers *knownPeers
	// reconcileCh asks the leader loop to reconcile gossip with raft soon.
	reconcileCh chan struct{}
	// refused remembers the identity claims already reported
	// (gossip_identity.go).
	refused refusedClaims
}

type gossip struct {
	m  *Master
	ml *memberlist.Memberlist
	// keyring is memberlist's keyring (nil: plaintext gossip); keyring.go
	// rotates it.
	keyring *memberlist.Keyring

	mu   sync.Mutex
	tags map[string]string
	view map[string]member // by node name, from the event callbacks
	// gen counts changes to view, so readers can cache what they derive
	// from it (the version gate).
	gen atomic.Uint64
}

// setupGossip starts memberlist on the gossip address.
func (m *Master) setupGossip() error {
	g := &gossip{m: m, view: make(map[string]member), tags: map[string]string{
		tagRole:            roleMaster,
		tagID:              m.config.ID,
		tagRaftAddr:        m.advertise.Raft,
		tagGRPCAddr:        m.advertise.GRPC,
		tagHTTPAddr:        m.advertise.HTTP,
		tagClusterID:       m.identity.ClusterID(),
		tagBootstrapExpect: strconv.Itoa(m.config.BootstrapExpect),
		tagStarted:         strconv.FormatInt(time.Now().UnixNano(), 10),
		tagIncarnation:     m.identity.Incarnation(),
		tagVersion:         m.masterVersion(),
	}}
	mc := memberlist.DefaultLANConfig()
	mc.Name = m.config.ID
	var err error
	// The keyring (keyring.go): nil is plaintext; else members without one
	// of its keys are dropped.
	if mc.Keyring, err = m.startKeyring(); err != nil {
		return err
	}
	bindHost, bindPort, err := splitHostPortNum(m.config.GossipAddr)
	if err != nil {
		return err
	}
	if bindHost == "" {
		bindHost = "0.0.0.0"
	}
	mc.BindAddr, mc.BindPort = bindHost, bindPort
	advHost, advPort, err := splitHostPortNum(m.advertise.Gossip)
	if err != nil {
		return err
	}
	mc.AdvertiseAddr, mc.AdvertisePort = advHost, advPort // port 0: memberlist uses the bound port
	gc := m.config.Gossip
	if gc.ProbeInterval > 0 {
		mc.ProbeInterval = gc.ProbeInterval
	}
	if gc.ProbeTimeout > 0 {
		mc.ProbeTimeout = gc.ProbeTimeout
	}
	if gc.GossipInterval > 0 {
		mc.GossipInterval = gc.GossipInterval
	}
	if gc.SuspicionMult > 0 {
		mc.SuspicionMult = gc.SuspicionMult
	}
	if gc.PushPullInterval > 0 {
		mc.PushPullInterval = gc.PushPullInterval
	}
	mc.Delegate = g
	mc.Events = g
	mc.Alive = g
	mc.Logger = m.logger.Named("memberlist").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}) // keep [DEBUG]/[WARN] levels
	ml, err := memberlist.Create(mc)
	if err != nil {
		return fmt.Errorf("gossip on %s: %w", m.config.GossipAddr, err)
	}
	g.ml, g.keyring = ml, mc.Keyring
	m.members.gossip = g
	m.advertise.Gossip = ml.LocalNode().Address()
	return nil
}

// Join joins the gossip pool through any of addrs (gossip host:port of
// members) and returns how many answered. A master of another cluster is
// refused (ErrIdentity).
func (m *Master) Join(addrs []string) (int, error) {
	n, err := m.members.gossip.ml.Join(addrs)
	if why := m.members.mismatch.Load().(string); why != "" {
		return n, fmt.Errorf("%w: %s", ErrIdentity, why)
	}
	if err != nil && n == 0 {
		return 0, fmt.Errorf("gossip join %v: %w", addrs, err)
	}
	return n, nil
}

// setTag updates one tag and gossips the change.
func (g *gossip) setTag(k, v string) {
	g.mu.Lock()
	if g.tags[k] == v {
		g.mu.Unlock()
		return
	}
	g.tags[k] = v
	g.mu.Unlock()
	if err := g.ml.UpdateNode(time.Second); err != nil {
		g.m.logger.Warn("gossip tag update failed", "tag", k, "error", err)
	}
}

// members lists the alive and suspect members, sorted by name.
func (g *gossip) members() []member {
	var out []member
	for _, mb := range g.allMembers() {
		if mb.Status == "alive" || mb.Status == "suspect" {
			out = append(out, mb)
		}
	}
	return out
}

// allMembers lists every member seen, dead and left ones included, sorted
// by name. It reads the copy kept by the event callbacks: memberlist's own
// Node values change under its lock and must not be read outside it.
func (g *gossip) allMembers() []member {
	g.mu.Lock()
	out := make([]member, 0, len(g.view))
	for _, mb := range g.view {
		out = append(out, mb)
	}
	g.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// record copies n into the view (called from memberlist callbacks).
func (g *gossip) record(n *memberlist.Node, status string) {
	mb := toMember(n)
	if status != "" {
		mb.Status = status
	}
	g.mu.Lock()
	g.view[n.Name] = mb
	g.gen.Add(1)
	g.mu.Unlock()
}

func toMember(n *memberlist.Node) member {
	mb := member{Name: n.Name, Addr: n.Address(), Tags: decodeTags(n.Meta)}
	switch n.State {
	case memberlist.StateAlive:
		mb.Status = "alive"
	case memberlist.StateSuspect:
		mb.Status = "suspect"
	case memberlist.StateDead:
		mb.Status = "dead"
	case memberlist.StateLeft:
		mb.Status = "left"
	}
	return mb
}

func decodeTags(meta []byte) map[string]string { return rpc.DecodeTags(meta) }

// NodeMeta is memberlist.Delegate: our tags as JSON.
func (g *gossip) NodeMeta(limit int) []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	b, _ := rpc.EncodeTags(g.tags)
	if len(b) > limit {
		g.m.logger.Error("gossip tags exceed the meta limit", "size", len(b), "limit", limit)
		return nil
	}
	return b
}

// NotifyMsg is memberlist.Delegate (unused: no user messages).
func (g *gossip) NotifyMsg([]byte) {}

// GetBroadcasts is memberlist.Delegate (unused).
func (g *gossip) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState is memberlist.Delegate (unused).
func (g *gossip) LocalState(join bool) []byte { return nil }

// MergeRemoteState is memberlist.Delegate (unused).
func (g *gossip) MergeRemoteState(buf []byte, join bool) {}

// NotifyAlive is memberlist.AliveDelegate: a master of another cluster is
// refused so two clusters never merge, and so is a member claiming the id
// of a Raft server with another Raft address (gossip_identity.go).
func (g *gossip) NotifyAlive(peer *memberlist.Node) error {
	tags := decodeTags(peer.Meta)
	if tags[tagRole] != roleMaster {
		return nil
	}
	if g.isSelf(peer.Name, tags) {
		return nil
	}
	if why := g.m.identityConflict(peer.Name, peer.Address(), tags); why != "" {
		g.m.refuseImpostor(peer.Address(), tags[tagRaftAddr], why)
		return fmt.Errorf("%w: %s", ErrIdentity, why)
	}
	ours := g.m.identity.ClusterID()
	if theirs := tags[tagClusterID]; ours != "" && theirs != "" && theirs != ours {
		g.m.members.mismatch.Store(fmt.Sprintf("master %q (%s) belongs to cluster %q, this master to cluster %q", peer.Name, peer.Address(), theirs, ours))
		return fmt.Errorf("%w: master %q belongs to cluster %q, not %q", ErrIdentity, peer.Name, theirs, ours)
	}
	return nil
}

// isSelf reports whether a member is this very process (same name and
// start time).
func (g *gossip) isSelf(name string, tags map[string]string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return name == g.m.config.ID && tags[tagStarted] == g.tags[tagStarted]
}

// NotifyJoin is memberlist.EventDelegate.
func (g *gossip) NotifyJoin(n *memberlist.Node) {
	g.record(n, "alive")
	if mb := toMember(n); mb.isMaster() && n.Name != g.m.config.ID {
		if err := g.m.members.peers.add(mb.Addr); err != nil {
			g.m.logger.Warn("cannot remember gossip peer", "addr", mb.Addr, "error", err)
		}
	}
	g.m.logger.Debug("gossip member joined", "name", n.Name, "addr", n.Address())
	g.m.kickReconcile()
}

// NotifyLeave is memberlist.EventDelegate: remember the member as dead or left.
func (g *gossip) NotifyLeave(n *memberlist.Node) {
	status := "dead"
	if n.State == memberlist.StateLeft {
		status = "left"
	}
	g.record(n, status)
	g.m.logger.Info("gossip member gone", "name", n.Name, "status", status)
	g.m.kickReconcile()
}

// NotifyUpdate is memberlist.EventDelegate (tags changed).
func (g *gossip) NotifyUpdate(n *memberlist.Node) {
	g.record(n, "")
	g.m.kickReconcile()
}

// joinLoop joins the configured addresses, retrying with capped, jittered
// backoff until one answers or the master shuts down.
func (m *Master) joinLoop(addrs []string) {
	defer m.lifecycle.wg.Done()
	backoff := 200 * time.Millisecond
	for {
		n, err := m.members.gossip.ml.Join(addrs)
		if err == nil || n > 0 {
			m.logger.Info("joined gossip", "contacted", n, "addrs", addrs)
			return
		}
		m.logger.Warn("gossip join failed, retrying", "addrs", addrs, "retry_in", backoff, "error", err)
		select {
		case <-m.lifecycle.shutdownCh:
			return
		case <-time.After(backoff + rand.N(backoff/4+1)):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}
