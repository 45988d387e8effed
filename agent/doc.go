// Package agent is Grid's agent: the process (`grid agent`) that runs
// storage nodes on one machine on the leader's orders.
//
// It owns:
//   - Config: the seeds' agent TOML ([agent], [storage], [monitoring]) and
//     its validation (LoadConfig, DefaultConfig, Validate);
//   - Supervisor: spawning `grid storage-node` children in their own process
//     group, watching them (Wait for children, pidfd for re-adopted ones),
//     the RestartPolicy, memory limits (GOMEMLIMIT plus cgroup v2 or
//     RLIMIT_AS), stop with SIGTERM then SIGKILL, and the node table kept in
//     <data_dir>/agent-state.json so a restarted agent re-adopts its nodes;
//   - the GridAgent gRPC service (SpawnNode, StopNode, GetNodeStatus,
//     ListNodes) with input validation (node ids, ports, storage paths
//     confined to the data directory, memory bounds), behind the TermFence:
//     the highest leader term seen, kept in <data_dir>/leader-term, and
//     orders of an older term refused (FAILED_PRECONDITION, a log line, a
//     request_refused event; term 0 from seed masters is accepted), and
//     Keyring: the gossip keyring, kept in <data_dir>/gossip.keyring
//     (keyring.go);
//   - Reload: a renewed TLS certificate and new tokens without a restart
//     (SIGHUP, reload.go);
//   - the master side of the agent: MasterPool (masters learnt from --masters
//     or from gossip), the register/heartbeat loop, the EventBuffer that
//     delivers node events until acknowledged, and the StatusReporter that
//     delivers node state changes (latest state wins);
//   - observability: the --http-addr server (http.go: /healthz, /readyz,
//     /metrics, /debug/config, pprof with EnableDebug), the agent's metrics
//     (telemetry.go) and the Monitor RPC;
//   - the HealthChecker (health_check.go): HealthCheck calls to every
//     running node; failures in a row make it node_unhealthy and restarted.
//
// The agent imports rpc and libraries only.
package agent
