package test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
)

// A dashboard page served by a master that then died carries on through the
// other masters (app.js failover): they must keep accepting its origin after
// gossip has declared that master dead, or every write the page retries
// there fails its CORS preflight ("origin ... is not allowed").
func TestPageOfADeadMasterKeepsWorkingOnTheOthers(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{})
	leader := c.WaitLeader(30 * time.Second)
	dead := c.Followers(leader)[0]
	if err := dead.Kill(); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, 60*time.Second, "the leader's gossip to declare "+dead.ID+" dead", func() (bool, string) {
		ctx, cancel := harness.Ctx(5 * time.Second)
		defer cancel()
		l, err := leader.Client().ListMembers(ctx, &rpc.Empty{})
		if err != nil {
			return false, err.Error()
		}
		for _, m := range l.Members {
			if m.Name == dead.ID {
				return m.Status == "dead", m.Status
			}
		}
		return false, fmt.Sprintf("%s not listed: %v", dead.ID, l.Members)
	})
	req, err := http.NewRequest("OPTIONS", "http://"+leader.HTTP+"/api/grid/spawn", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", "http://"+dead.HTTP)
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "http://"+dead.HTTP {
		t.Fatalf("preflight from the dead master's page = %d, Access-Control-Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}
