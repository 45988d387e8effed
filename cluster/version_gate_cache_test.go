package cluster

import (
	"testing"

	"github.com/hashicorp/raft"
)

// TestVersionGateCacheForgetsOnChange: a cached pass answers only for the
// voters and gossip view it was derived from; a new voter or any gossip
// change (a voter restarted on another version) makes the gate check again.
func TestVersionGateCacheForgetsOnChange(t *testing.T) {
	conf := raft.Configuration{Servers: []raft.Server{
		{ID: "m1", Address: "a:1", Suffrage: raft.Voter},
		{ID: "m2", Address: "a:2", Suffrage: raft.Voter},
		{ID: "m9", Address: "a:9", Suffrage: raft.Nonvoter},
	}}
	var c versionGateCache
	k := gateKey{voters: votersOf(conf), gossip: 7}
	if c.passed(k, "0.2.0") {
		t.Fatal("an empty cache passed")
	}
	c.pass(k, "0.2.0")
	if !c.passed(k, "0.2.0") {
		t.Fatal("a recorded pass was not remembered")
	}
	if c.passed(k, "0.3.0") {
		t.Fatal("a pass for 0.2.0 answered for 0.3.0")
	}
	if c.passed(gateKey{voters: k.voters, gossip: 8}, "0.2.0") {
		t.Fatal("a pass survived a gossip change")
	}
	conf.Servers = append(conf.Servers, raft.Server{ID: "m3", Address: "a:3", Suffrage: raft.Voter})
	if c.passed(gateKey{voters: votersOf(conf), gossip: 7}, "0.2.0") {
		t.Fatal("a pass survived a new voter")
	}
}
