// Package rpc holds Grid's wire contract: grid.proto (the GridMaster service),
// agent.proto (GridAgent) and storage.proto (StorageService), the code
// generated from them (committed; `make proto` regenerates it), and small
// hand-written helpers for the event types. It imports nothing internal.
//
// It is also the one owner of the contracts every side shares, so that the
// REST API, the masters and the agents give the same answer to the same
// input: the id rule and node id generation (ids.go), spawn limits and
// request validation (limits.go), agent and node statuses (status.go), the
// error kinds with the one error -> gRPC code and gRPC code -> HTTP status
// tables (errors.go), and the port range an agent announces (ports.go).
package rpc

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative grid.proto agent.proto storage.proto fsm.proto
