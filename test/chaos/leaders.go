package chaos

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
)

// LeaderObserver polls every master's own view (ListMasters with
// x-grid-stale: its raft term and leader) and records which master claimed
// leadership in which term. A claim counts when the master names itself
// leader in two consecutive polls with the same term, so a poll racing a
// term change is not mistaken for a claim.
type LeaderObserver struct {
	env    *Env
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	claims map[uint64]map[string]bool // term -> leader ids
	polls  int
}

// StartLeaderObserver starts polling every 50 ms.
func StartLeaderObserver(env *Env) *LeaderObserver {
	ctx, cancel := context.WithCancel(context.Background())
	o := &LeaderObserver{env: env, cancel: cancel, claims: map[uint64]map[string]bool{}}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		last := map[string]uint64{} // master id -> term of its previous self-claim
		for {
			for _, m := range env.LiveMasters() {
				term, ok := o.selfClaim(ctx, m)
				switch {
				case !ok:
					delete(last, m.ID)
				case last[m.ID] == term:
					o.record(term, m.ID)
				default:
					last[m.ID] = term
				}
			}
			if !pace(ctx, 50*time.Millisecond) {
				return
			}
		}
	}()
	return o
}

// selfClaim asks m for its own view; ok when it says it leads in term.
func (o *LeaderObserver) selfClaim(ctx context.Context, m *harness.Master) (uint64, bool) {
	cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	ml, err := m.Client().ListMasters(harness.Stale(cctx), &rpc.Empty{})
	if err != nil || ml.LeaderId != m.ID {
		return 0, false
	}
	return ml.Term, true
}

func (o *LeaderObserver) record(term uint64, id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.polls++
	if o.claims[term] == nil {
		o.claims[term] = map[string]bool{}
	}
	o.claims[term][id] = true
}

// Violations lists every term claimed by two or more masters.
func (o *LeaderObserver) Violations() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for term, ids := range o.claims {
		if len(ids) > 1 {
			var l []string
			for id := range ids {
				l = append(l, id)
			}
			sort.Strings(l)
			out = append(out, fmt.Sprintf("term %d has leaders %v", term, l))
		}
	}
	sort.Strings(out)
	return out
}

// Terms is how many distinct terms had an observed leader.
func (o *LeaderObserver) Terms() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.claims)
}

// Stop ends the polling and waits.
func (o *LeaderObserver) Stop() {
	o.cancel()
	o.wg.Wait()
}
