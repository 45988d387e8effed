// Package rpc holds Grid's wire contract: grid.proto (package grid, the
// GridMaster service), agent.proto (package agent, GridAgent), storage.proto
// (package sutra.storage, StorageService) and fsm.proto (Raft command
// bodies), the code generated from them into this one Go package
// (committed; `make proto` regenerates it), and small hand-written helpers
// (event types, node status conversions). The seeds' messages are kept field
// for field; testdata/wire.golden and its tests guard every change
// (docs/protocol.md). It imports nothing internal.
//
// It is also the one owner of the contracts every side shares, so that the
// REST API, the masters and the agents give the same answer to the same
// input: the id rule and node id generation (ids.go), spawn limits and
// request validation (limits.go), agent and node statuses (status.go), the
// error kinds with the one error -> gRPC code and gRPC code -> HTTP status
// tables (errors.go), the port range an agent announces (ports.go), the
// log fan-out behind the Monitor RPC of masters and agents (monitor.go), and
// the static HTTP/2 flow-control windows every Grid gRPC server and client
// uses (windows.go).
package rpc

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative grid.proto agent.proto storage.proto fsm.proto
