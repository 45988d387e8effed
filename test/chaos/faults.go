package chaos

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Fault is one failpoint: Inject breaks something, Recover heals it. A
// fault value keeps what it broke between the two calls.
type Fault interface {
	Name() string
	Inject(*Env) error
	Recover(*Env) error
}

// errNoVictim means a fault found nothing to act on (e.g. no agent runs nodes).
var errNoVictim = errors.New("no victim for this fault")

// AllFaults is one value of every fault kind, in the order the suite cycles them.
func AllFaults() []Fault {
	return []Fault{
		&KillLeader{}, &KillFollower{}, &PauseLeader{}, &PartitionLeader{},
		&PartitionAgent{}, &RestartAllMasters{}, &AddRemoveMaster{}, &KillAgent{},
	}
}

// KillLeader SIGKILLs the leader; Recover starts it again on its data.
type KillLeader struct{ victim *harness.Master }

func (f *KillLeader) Name() string { return "kill-leader" }

func (f *KillLeader) Inject(e *Env) error {
	f.victim = e.Leader()
	return f.victim.Kill()
}

func (f *KillLeader) Recover(e *Env) error { return e.Start(f.victim.Proc) }

// KillFollower SIGKILLs a random follower; Recover starts it again.
type KillFollower struct{ victim *harness.Master }

func (f *KillFollower) Name() string { return "kill-follower" }

func (f *KillFollower) Inject(e *Env) error {
	fs := e.C.Followers(e.Leader())
	if len(fs) == 0 {
		return errNoVictim
	}
	f.victim = fs[rand.IntN(len(fs))]
	return f.victim.Kill()
}

func (f *KillFollower) Recover(e *Env) error { return e.Start(f.victim.Proc) }

// PauseLeader SIGSTOPs the leader for the hold (longer than an election);
// Recover SIGCONTs it: a deposed leader wakes up believing it leads.
type PauseLeader struct{ victim *harness.Master }

func (f *PauseLeader) Name() string { return "pause-leader" }

func (f *PauseLeader) Inject(e *Env) error {
	f.victim = e.Leader()
	return f.victim.Pause()
}

func (f *PauseLeader) Recover(e *Env) error { return f.victim.Resume() }

// PartitionLeader drops all traffic between the leader and the other
// masters (iptables in the leader's namespace); clients and agents still
// reach it. Recover removes the rules.
type PartitionLeader struct{ victim *harness.Master }

func (f *PartitionLeader) Name() string { return "partition-leader" }

func (f *PartitionLeader) Inject(e *Env) error {
	f.victim = e.Leader()
	var ips []string
	for _, m := range e.Masters() {
		if m != f.victim {
			ips = append(ips, e.Net.Netns(m.ID).IP)
		}
	}
	return e.Net.Netns(f.victim.ID).Block(ips...)
}

func (f *PartitionLeader) Recover(e *Env) error { return e.Net.Netns(f.victim.ID).Unblock() }

// PartitionAgent unplugs a real agent's namespace (its storage nodes keep
// running); Recover plugs it back.
type PartitionAgent struct{ victim *harness.Agent }

func (f *PartitionAgent) Name() string { return "partition-agent" }

func (f *PartitionAgent) Inject(e *Env) error {
	if len(e.Agents) == 0 {
		return errNoVictim
	}
	f.victim = e.Agents[rand.IntN(len(e.Agents))]
	return e.Net.Netns(f.victim.ID).Unplug()
}

func (f *PartitionAgent) Recover(e *Env) error { return e.Net.Netns(f.victim.ID).Plug() }

// RestartAllMasters SIGKILLs every master at once; Recover starts them all:
// the state must come back from disk.
type RestartAllMasters struct{ victims []*harness.Master }

func (f *RestartAllMasters) Name() string { return "restart-all-masters" }

func (f *RestartAllMasters) Inject(e *Env) error {
	f.victims = e.LiveMasters()
	var errs []error
	for _, m := range f.victims {
		errs = append(errs, m.Kill())
	}
	return errors.Join(errs...)
}

func (f *RestartAllMasters) Recover(e *Env) error {
	var errs []error
	for _, m := range f.victims {
		errs = append(errs, e.Start(m.Proc))
	}
	return errors.Join(errs...)
}

// AddRemoveMaster starts a new master that joins and waits until it is a
// voter (Inject), then stops it and removes it with RemovePeer (Recover),
// all under load.
type AddRemoveMaster struct{ added *harness.Master }

func (f *AddRemoveMaster) Name() string { return "add-remove-master" }

func (f *AddRemoveMaster) Inject(e *Env) error {
	m, err := e.AddMaster()
	if err != nil {
		return err
	}
	f.added = m
	ok := waitfor.Eventually(e.Config.ConvergeBound, func() bool {
		ml, err := listMasters(e)
		if err != nil {
			return false
		}
		for _, mi := range ml.Masters {
			if mi.Id == m.ID {
				return mi.Suffrage == "voter"
			}
		}
		return false
	})
	if !ok {
		return fmt.Errorf("%s not a voter after %s", m.ID, e.Config.ConvergeBound)
	}
	return nil
}

func (f *AddRemoveMaster) Recover(e *Env) error {
	m := f.added
	if err := m.Stop(10 * time.Second); err != nil {
		return err
	}
	var lastErr error
	ok := waitfor.Eventually(e.Config.RecoveryBound, func() bool {
		l := e.AnyMaster()
		if l == nil || l == m {
			return false
		}
		ctx, cancel := harness.Ctx(5 * time.Second)
		defer cancel()
		_, lastErr = l.Client().RemovePeer(ctx, &rpc.RemovePeerRequest{Id: m.ID})
		// NOT_FOUND: autopilot's dead-server cleanup removed it first.
		return lastErr == nil || status.Code(lastErr) == codes.NotFound
	})
	if !ok {
		return fmt.Errorf("remove-peer %s: %w", m.ID, lastErr)
	}
	return e.DropMaster(m)
}

// KillAgent SIGKILLs the real agent running the most storage nodes (they
// live in their own process groups and survive); Recover restarts the agent,
// which must adopt them, never start a second copy.
type KillAgent struct{ victim *harness.Agent }

func (f *KillAgent) Name() string { return "kill-agent" }

func (f *KillAgent) Inject(e *Env) error {
	best := -1
	for _, a := range e.Agents {
		if n := len(harness.StorageNodeProcs(a.DataDir)); n > best {
			best, f.victim = n, a
		}
	}
	if f.victim == nil {
		return errNoVictim
	}
	return f.victim.Kill()
}

func (f *KillAgent) Recover(e *Env) error { return e.Start(f.victim.Proc) }

// listMasters asks any live master for the raft configuration (forwarded to the leader).
func listMasters(e *Env) (*rpc.MasterList, error) {
	m := e.AnyMaster()
	if m == nil {
		return nil, errors.New("no live master")
	}
	ctx, cancel := harness.Ctx(3 * time.Second)
	defer cancel()
	return m.Client().ListMasters(ctx, &rpc.Empty{})
}
