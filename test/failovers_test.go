package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
)

type failoverRow struct {
	Term             uint64 `json:"term"`
	LeaderID         string `json:"leader_id"`
	PreviousLeaderID string `json:"previous_leader_id"`
	LeaderlessMS     int64  `json:"leaderless_ms"`
	At               string `json:"at"`
}

// Issue 13: after 3 leader kills, `grid operator failovers` and the REST
// listing show 3 changes of leader, newest first, each naming the killed
// leader as previous and a plausible leaderless gap.
func TestFailoverHistoryAfterThreeLeaderKills(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{})
	var killed []string
	for round := 1; round <= 3; round++ {
		leader := c.WaitLeader(30 * time.Second)
		// The leader's own leader_elected is committed before we kill it.
		waitfor.Until(t, 30*time.Second, leader.ID+"'s election recorded", func() (bool, string) {
			evs, err := nodeEvents(leader, leader.ID)
			if err != nil {
				return false, err.Error()
			}
			for _, e := range evs {
				if e.Type.String() == "LEADER_ELECTED" && e.Details["leader_id"] == leader.ID {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%d events of %s", len(evs), leader.ID)
		})
		if err := leader.Kill(); err != nil {
			t.Fatal(err)
		}
		killed = append(killed, leader.ID)
		next := c.WaitLeader(30 * time.Second)
		if next == leader {
			t.Fatalf("round %d: %s still leader after SIGKILL", round, leader.ID)
		}
		if err := leader.Start(); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitLeader(30 * time.Second)
	var rows []failoverRow
	waitfor.Until(t, 30*time.Second, "3 failovers listed", func() (bool, string) {
		out, err := gridErr(c, "operator", "failovers", "--json")
		if err != nil {
			return false, out
		}
		var res struct {
			Failovers []failoverRow `json:"failovers"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			return false, out
		}
		rows = res.Failovers
		return len(rows) >= 3, out
	})
	t.Logf("failovers: %+v", rows)
	if len(rows) != 3 {
		t.Fatalf("%d failovers listed after 3 leader kills: %+v", len(rows), rows)
	}
	for i, r := range rows {
		// Newest first: rows[0] followed the last kill.
		if want := killed[len(killed)-1-i]; r.PreviousLeaderID != want {
			t.Errorf("failover %d: previous_leader_id %q, want the killed %q", i, r.PreviousLeaderID, want)
		}
		if r.LeaderID == "" || r.LeaderID == r.PreviousLeaderID {
			t.Errorf("failover %d: leader %q after %q", i, r.LeaderID, r.PreviousLeaderID)
		}
		if r.LeaderlessMS < 0 || r.LeaderlessMS > 30000 {
			t.Errorf("failover %d: leaderless_ms %d is not plausible", i, r.LeaderlessMS)
		}
		if i > 0 && r.Term >= rows[i-1].Term {
			t.Errorf("failovers not newest first: term %d after %d", r.Term, rows[i-1].Term)
		}
	}
	// REST answers the same list.
	resp, err := http.Get("http://" + c.Live()[0].HTTP + "/api/grid/operator/failovers")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var rest struct {
		Failovers []failoverRow `json:"failovers"`
	}
	if err := json.Unmarshal(body, &rest); err != nil || resp.StatusCode != 200 || len(rest.Failovers) != 3 || rest.Failovers[0] != rows[0] {
		t.Fatalf("GET failovers: %d %s", resp.StatusCode, body)
	}
}
