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
// It imports rpc, rpc/security and libraries only.
package sim
