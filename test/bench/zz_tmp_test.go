package bench
import (
	"fmt"
	"strings"
	"testing"
	"time"
	"github.com/gridctl/grid/test/harness"
)
func BenchmarkTmpFOPhases(b *testing.B) {
	c := harness.NewCluster(b, harness.Options{RaftProfile: "default"})
	for i := range 3 {
		leader := c.WaitLeader(30 * time.Second)
		c.WaitSameState(30 * time.Second)
		t0 := time.Now()
		leader.Kill()
		writeThroughAny(c, fmt.Sprintf("agent-x-%d", i), time.Now().Add(30*time.Second))
		fmt.Printf("TRIAL %d kill at %s took %s\n", i, t0.UTC().Format("15:04:05.000"), time.Since(t0))
		for _, m := range c.Live() {
			for _, l := range strings.Split(m.Tail(40000), "\n") {
				if l >= "2026-12-01T"+t0.UTC().Format("15:04:05.000")[:8] && (strings.Contains(l, "raft") || strings.Contains(l, "leader") || strings.Contains(l, "candidate") || strings.Contains(l, "vote")) {
					fmt.Println(m.ID, l)
				}
			}
		}
		leader.Start()
	}
}
