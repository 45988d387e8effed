// Package chaos is Grid's fault-injection suite: it runs real `grid master`
// and `grid agent` processes (and the storage nodes they spawn), injects
// faults under concurrent load, heals them, and checks invariants after each.
//
// A Fault has a name, Inject and Recover. The faults: SIGKILL the leader;
// SIGKILL a follower; SIGSTOP the leader for longer than an election, then
// SIGCONT it (a deposed leader waking up); partition the leader from the
// followers; partition an agent from the masters; restart every master at
// once; add a master and remove it under load; SIGKILL an agent that runs
// storage nodes.
//
// Partitions are real network cuts made with Linux network namespaces
// (test/harness/netns.go): every master and every real agent runs in its
// own namespace (addresses 10.77.0.x/24), joined by veth pairs to a bridge
// that lives in a dedicated hub namespace; the test process reaches them
// through one more veth pair (10.77.0.1). The leader is partitioned from
// the followers with iptables DROP rules inside the leader's namespace (the
// test process and the agents can still reach it, so clients keep talking to
// the deposed leader); an agent is partitioned by setting its veth down on
// the hub side. Healing removes the rules or sets the link up. The suite
// needs root and `ip`/`iptables`; without them it skips. Stale gridchaos-*
// namespaces are removed at start, and every namespace is deleted at the end
// even when the test fails.
//
// Load during each fault: ≥ 50 simulated agents heartbeating over gRPC (and
// re-registering on NOT_FOUND), registrations of fresh agent ids, event
// emission with producer-made ids (retried with the same ids until
// acknowledged), spawns and stops of real storage nodes, and a small
// register/unregister/read workload whose history is checked with porcupine.
//
// Invariants after each healed fault: every acknowledged registration and
// event present exactly once on every master; equal FSM state hashes on
// every master; one storage-node process per running node and no process
// the registry does not know; never two leaders in one term; recovery within
// a bound (measured and reported); the registry history linearizable.
//
// `make chaos` (GRID_CHAOS=full) runs ≥ 50 faults of every kind and the
// Docker Compose test; without GRID_CHAOS=full a short run of a few faults
// is part of `make test`.
package chaos
