package test

import (
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
	"github.com/hashicorp/memberlist"
)

// impostor is a memberlist member started by the test with the cluster's
// gossip key, claiming a master id with tags of its choosing.
type impostor struct{ meta []byte }

func (d impostor) NodeMeta(int) []byte                      { return d.meta }
func (impostor) NotifyMsg([]byte)                           {}
func (impostor) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (impostor) LocalState(bool) []byte                     { return nil }
func (impostor) MergeRemoteState(buf []byte, join bool)     {}

// startImpostor joins the gossip pool at join as a member named name,
// claiming master id with raftAddr.
func startImpostor(t *testing.T, key, name, id, raftAddr, join string) *memberlist.Memberlist {
	t.Helper()
	secret, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := rpc.EncodeTags(map[string]string{rpc.TagRole: rpc.RoleMaster, rpc.TagID: id, rpc.TagRaftAddr: raftAddr,
		rpc.TagGRPCAddr: "127.0.0.1:1", rpc.TagStarted: "1"})
	if err != nil {
		t.Fatal(err)
	}
	mc := memberlist.DefaultLocalConfig()
	mc.Name, mc.BindAddr, mc.BindPort, mc.AdvertisePort = name, "127.0.0.1", 0, 0
	mc.SecretKey = secret
	mc.Delegate = impostor{meta: meta}
	mc.Logger = log.New(io.Discard, "", 0)
	ml, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ml.Shutdown() })
	if _, err := ml.Join([]string{join}); err != nil {
		t.Logf("impostor join: %v (refused members may see an error)", err)
	}
	return ml
}

// testGossipImpostor: a gossip member with the cluster's key claims a
// voter's id with another Raft address. It is refused (never listed, the
// Raft configuration unchanged) and a REQUEST_REFUSED event names it.
func (w *aclWorld) testGossipImpostor(t *testing.T, leader, victim *harness.Master) {
	before := w.snapshotOf(t)
	startImpostor(t, w.sec.GossipKey, "impostor", victim.ID, "127.0.0.1:1", leader.Gossip)
	waitfor.Until(t, 30*time.Second, "a request_refused event naming the impostor", func() (bool, string) {
		ctx, cancel := harness.Ctx(3 * time.Second)
		defer cancel()
		l, err := leader.Client().QueryEvents(ctx, &rpc.EventFilter{Types: []rpc.EventType{rpc.EventType_REQUEST_REFUSED}, Limit: 1000})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range l.GetEvents() {
			r := e.GetDetails()["reason"]
			if strings.Contains(r, `"impostor"`) && strings.Contains(r, victim.ID) && strings.Contains(r, "127.0.0.1:1") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d refusal events, none names the impostor", len(l.GetEvents()))
	})
	ctx, cancel := harness.Ctx(5 * time.Second)
	defer cancel()
	for _, m := range w.c.Live() {
		ms, err := m.Client().ListMembers(ctx, &rpc.Empty{})
		if err != nil {
			t.Fatal(err)
		}
		for _, mb := range ms.GetMembers() {
			if mb.GetName() == "impostor" {
				t.Fatalf("%s lists the impostor as a member: %v", m.ID, mb)
			}
		}
	}
	if after := w.snapshotOf(t); after != before {
		t.Fatalf("state changed:\nbefore %s\nafter  %s", before, after)
	}
}
