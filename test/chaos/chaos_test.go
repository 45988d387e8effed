package chaos

import (
	"os"
	"testing"
	"time"
)

// fullRun reports whether `make chaos` asked for the whole suite.
func fullRun() bool { return os.Getenv("GRID_CHAOS") == "full" }

// TestChaos injects faults one after another into one cluster under load:
// with GRID_CHAOS=full every kind 7 times (56 faults); otherwise a short
// run (leader killed twice, leader paused, leader partitioned) for `make test`.
func TestChaos(t *testing.T) {
	cfg := DefaultConfig()
	var schedule []Fault
	if fullRun() {
		for range 7 {
			schedule = append(schedule, AllFaults()...)
		}
	} else {
		cfg.Agents = 1
		schedule = []Fault{&KillLeader{}, &PauseLeader{}, &KillLeader{}, &PartitionLeader{}}
	}
	start := time.Now()
	env := NewEnv(t, cfg)
	r := NewRunner(env)
	defer r.Close()
	failed := 0
	for _, f := range schedule {
		if v := r.Run(f); len(v) > 0 {
			failed++
			t.Errorf("%s: %d violations: %s", f.Name(), len(v), joinProblems(v))
		}
	}
	faults, violations := r.Report.Totals()
	t.Logf("chaos summary (%d faults, %d violations, %s, %d leader terms observed):\n%s",
		faults, violations, time.Since(start).Round(time.Second), r.observer.Terms(), r.Report.Table())
	if fullRun() && faults < 50 {
		t.Errorf("only %d faults ran, want at least 50", faults)
	}
}
