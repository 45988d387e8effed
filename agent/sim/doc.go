// Package sim is a simulator of many agents for load tests: one process
// registers thousands of agents with the leader over a few shared gRPC
// connections and heartbeats them, paced (each agent from its registration
// on, at the interval the leader hands back, as real agents do) or unpaced
// (back to back, the maximum rate), and reports the heartbeat round trips
// of the window that opens once all are registered (Report). It also serves a stand-in
// GridAgent endpoint for all of them, so the leader's reconciler really
// calls ListNodes on simulated agents. `grid sim-agents` wires its flags to
// Config and Run; the benchmarks in test/bench run that command.
//
// The simulator is the load, not the product, but it shares the machine
// with the masters it measures, so it is kept cheap: paced beats come from
// one time-ordered schedule and a pool of workers (schedule.go), not a
// goroutine and timer per agent; each beat is still a real Heartbeat RPC
// sent when that agent's interval says, and a beat never waits for a busy
// worker.
//
// It imports rpc, rpc/security and libraries only.
package sim
