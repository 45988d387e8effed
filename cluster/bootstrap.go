package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
)

// bootstrapLoop waits until BootstrapExpect masters with the same
// expectation see each other, then bootstraps raft with exactly the lowest
// N of them by id. Each of the N computes the same configuration, so
// concurrent starts form one cluster. It stops once raft has state or a
// leader exists anywhere.
func (m *Master) bootstrapLoop() {
	defer m.lifecycle.wg.Done()
	ticker := time.NewTicker(200 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case <-m.lifecycle.shutdownCh:
			return
		case <-ticker.C:
		}
		done, err := m.maybeBootstrap()
		if err != nil {
			m.logger.Debug("bootstrap not yet", "reason", err)
		}
		if done {
			return
		}
	}
}

// maybeBootstrap makes one bootstrap attempt; done reports that no further
// attempt is needed (bootstrapped here, or a cluster already exists).
func (m *Master) maybeBootstrap() (done bool, err error) {
	if m.hasRaftState() {
		return true, nil
	}
	expect := strconv.Itoa(m.config.BootstrapExpect)
	var peers []member
	for _, mb := range m.members.gossip.members() {
		if !mb.isMaster() || mb.Status != "alive" {
			continue
		}
		if mb.Tags[tagClusterID] != "" {
			m.logger.Info("found a master of an existing cluster; waiting to be added", "peer", mb.Name)
			return true, nil
		}
		if mb.Tags[tagBootstrapExpect] != expect {
			if mb.Tags[tagBootstrapExpect] != "0" {
				m.logger.Warn("master with a different bootstrap_expect", "peer", mb.Name, "theirs", mb.Tags[tagBootstrapExpect], "ours", expect)
			}
			continue
		}
		peers = append(peers, mb)
	}
	if len(peers) < m.config.BootstrapExpect {
		return false, fmt.Errorf("%d of %d expected masters visible", len(peers), m.config.BootstrapExpect)
	}
	sort.Slice(peers, func(i, j int) bool { return peers[i].Tags[tagID] < peers[j].Tags[tagID] })
	chosen := peers[:m.config.BootstrapExpect]

	// Ask every visible master whether a cluster already exists.
	for _, p := range peers {
		if p.Tags[tagID] == m.config.ID {
			continue
		}
		r, err := m.askReady(p.Tags[tagGRPCAddr])
		if err != nil {
			return false, fmt.Errorf("ask %s: %w", p.Name, err)
		}
		if r.HasRaftState || r.LeaderId != "" {
			m.logger.Info("a master already has raft state; waiting to be added", "peer", p.Name, "leader_id", r.LeaderId)
			return true, nil
		}
	}
	inSet := false
	var conf raft.Configuration
	var parts []string
	for _, p := range chosen {
		id, addr := p.Tags[tagID], p.Tags[tagRaftAddr]
		if id == m.config.ID {
			inSet = true
		}
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(id), Address: raft.ServerAddress(addr)})
		parts = append(parts, id+"@"+addr)
	}
	if !inSet {
		return false, errors.New("not among the lowest ids of the expected masters; waiting to be added")
	}
	// The cluster id hashes the chosen masters and their process start
	// times: every one of the N computes the same id, and a cluster rebuilt
	// later with the same ids and addresses gets a different one.
	seed := strings.Join(parts, ",")
	for _, p := range chosen {
		seed += "," + p.Tags[tagStarted]
	}
	sum := sha256.Sum256([]byte(seed))
	clusterID := hex.EncodeToString(sum[:8])
	if err := m.identity.SetClusterID(clusterID); err != nil {
		return true, err
	}
	if err := m.consensus.raft.BootstrapCluster(conf).Error(); err != nil {
		if errors.Is(err, raft.ErrCantBootstrap) {
			return true, nil
		}
		return false, fmt.Errorf("bootstrap: %w", err)
	}
	m.members.gossip.setTag(tagClusterID, clusterID)
	m.logger.Info("bootstrapped cluster", "cluster_id", clusterID, "servers", strings.Join(parts, ","))
	return true, nil
}

// askReady calls Ready on another master with a one-second timeout.
func (m *Master) askReady(addr string) (*rpc.ReadyResponse, error) {
	return m.askReadyCtx(context.Background(), addr)
}

// askReadyCtx calls Ready on another master.
func (m *Master) askReadyCtx(ctx context.Context, addr string) (*rpc.ReadyResponse, error) {
	if addr == "" {
		return nil, errors.New("no grpc address in gossip tags")
	}
	conn, err := grpc.NewClient(addr, m.dialOptions()...)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return rpc.NewGridMasterClient(conn).Ready(ctx, &rpc.Empty{})
}
