package chaos

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// warmup is how long load runs before a fault and after recovery.
const warmup = time.Second

// Runner injects faults one after another on one cluster under load and
// checks the invariants after each.
type Runner struct {
	Env      *Env
	Rec      *Recorder
	Report   *Report
	sims     *SimAgents
	observer *LeaderObserver
	round    int
	// earlier rounds' work to undo under the next rounds' load
	toUnregister [][]string
	toStop       [][]string
}

// NewRunner starts the simulated agents and the leader observer.
func NewRunner(env *Env) *Runner {
	rec := NewRecorder()
	r := &Runner{Env: env, Rec: rec, Report: NewReport()}
	r.sims = StartSimAgents(env, rec, env.Config.SimAgents)
	r.observer = StartLeaderObserver(env)
	return r
}

// Close stops the background load and the observer.
func (r *Runner) Close() {
	r.sims.Stop()
	r.observer.Stop()
}

// Run runs one fault under load, heals it, measures recovery and checks
// every invariant. It returns the violations found (also in the report).
func (r *Runner) Run(f Fault) []string {
	env, log := r.Env, r.Env.Logger
	r.round++
	round := r.round
	r.Rec.NewRound()
	plan := LoadPlan{}
	if len(r.toUnregister) >= 2 {
		plan.Unregister, r.toUnregister = r.toUnregister[0], r.toUnregister[1:]
	}
	if len(r.toStop) >= 2 {
		plan.Stop, r.toStop = r.toStop[0], r.toStop[1:]
	}
	load := StartLoad(env, r.Rec, round, plan)
	hold(warmup) // load before the fault
	var violations []string
	log.Info("inject", "round", round, "fault", f.Name())
	injected := time.Now()
	err := f.Inject(env)
	skipped := errors.Is(err, errNoVictim)
	if err != nil && !skipped {
		violations = append(violations, fmt.Sprintf("inject: %v", err))
	}
	if !skipped {
		hold(env.Config.Hold) // the fault lasts this long
		if err := f.Recover(env); err != nil {
			violations = append(violations, fmt.Sprintf("recover: %v", err))
		}
	}
	recovery, err := WaitHealthy(env, env.Config.RecoveryBound)
	if err != nil {
		violations = append(violations, fmt.Sprintf("recovery: %v", err))
	}
	log.Info("healed", "round", round, "fault", f.Name(), "recovery", recovery, "fault_to_healthy", time.Since(injected))
	hold(warmup)
	load.Stop()
	counts := r.Rec.Counts()
	log.Info("load stopped", "round", round, "ops", fmt.Sprint(counts))

	check := func(name string, problems []string) {
		for _, p := range problems {
			violations = append(violations, name+": "+p)
		}
	}
	check("clients", r.Rec.Violations())
	check("registry", CheckRegistry(env, r.Rec))
	check("events", CheckEvents(env, r.Rec))
	check("state", CheckSameState(env))
	check("verify", CheckVerify(env))
	check("nodes", CheckNodes(env, r.Rec))
	check("leaders", r.observer.Violations())
	html := filepath.Join(env.C.Dir, fmt.Sprintf("round-%d-%s.html", round, f.Name()))
	res, err := CheckLinearizable(r.Rec.Ops(), html, 30*time.Second)
	switch {
	case err != nil:
		check("linearizability", []string{err.Error()})
	case res == porcupine.Illegal:
		check("linearizability", []string{"registry history is not linearizable, see " + html})
	case res == porcupine.Unknown:
		log.Warn("linearizability check timed out", "round", round)
	}
	r.collectUndo(round)
	if skipped {
		log.Warn("fault skipped: no victim", "round", round, "fault", f.Name())
		return violations
	}
	r.Report.Add(f.Name(), recovery, len(violations))
	for _, v := range violations {
		log.Error("violation", "round", round, "fault", f.Name(), "violation", v)
	}
	return violations
}

// collectUndo queues this round's registrations and nodes for removal two
// rounds later, so the registry and the agents stay small.
func (r *Runner) collectUndo(round int) {
	var ids []string
	prefix := fmt.Sprintf("reg-r%d-", round)
	r.Rec.mu.Lock()
	for id := range r.Rec.registered {
		if strings.HasPrefix(id, prefix) {
			ids = append(ids, id)
		}
	}
	r.Rec.mu.Unlock()
	r.toUnregister = append(r.toUnregister, ids)
	var nodes []string
	for n := range r.Rec.AllSpawned() {
		if strings.HasPrefix(n, fmt.Sprintf("node-r%d-", round)) {
			nodes = append(nodes, n)
		}
	}
	r.toStop = append(r.toStop, nodes)
}

// hold lets time pass on purpose: a fault's duration or load before and
// after it. It never stands in for waiting on a condition.
func hold(d time.Duration) { time.Sleep(d) }
