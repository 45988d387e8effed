package agent

import (
	"context"
	"encoding/json"
	"log"
	"strconv"
	"testing"
	"time"

	"github.com/gridctl/grid/test/waitfor"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"
)

// fakeMasterMeta is a memberlist delegate tagging a member as a master the
// way cluster/gossip.go does (a JSON object of string tags).
type fakeMasterMeta struct{ meta []byte }

func (f fakeMasterMeta) NodeMeta(int) []byte                  { return f.meta }
func (fakeMasterMeta) NotifyMsg([]byte)                       {}
func (fakeMasterMeta) GetBroadcasts(int, int) [][]byte        { return nil }
func (fakeMasterMeta) LocalState(bool) []byte                 { return nil }
func (fakeMasterMeta) MergeRemoteState(buf []byte, join bool) {}

func TestAgentFindsMastersThroughGossip(t *testing.T) {
	m := startStubMaster(t)
	meta, _ := json.Marshal(map[string]string{"role": "master", "id": "m1", "grpc_addr": m.addr})
	mc := memberlist.DefaultLANConfig()
	mc.Name = "m1"
	mc.BindAddr, mc.BindPort = "127.0.0.1", 0
	mc.Delegate = fakeMasterMeta{meta: meta}
	// The stand-in master's memberlist logs through a gate closed once it
	// is shut down: its goroutines may outlive Shutdown (and the test).
	gate := &logGate{w: testLogger(t).StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true})}
	mc.Logger = log.New(gate, "", 0)
	ml, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = ml.Shutdown()
		gate.close()
	}()
	gossipAddr := "127.0.0.1:" + strconv.Itoa(int(ml.LocalNode().Port))

	cfg := testConfig(t)
	cfg.Masters = nil
	cfg.Join = []string{gossipAddr}
	cfg.GossipAddr = "127.0.0.1:0"
	a, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitfor.True(t, 10*time.Second, "registration with the master found by gossip", func() bool {
		return m.get(func(m *stubMaster) bool { return len(m.registrations) > 0 })
	})
	waitfor.True(t, 10*time.Second, "the agent tagged role=agent in gossip", func() bool {
		for _, n := range ml.Members() {
			tags := parseMeta(n.Meta)
			if tags["role"] == "agent" && tags["id"] == cfg.AgentID && tags["grpc_addr"] == a.AdvertiseAddr() {
				return true
			}
		}
		return false
	})
}
