// Package rpc holds Grid's wire contract: grid.proto (package grid, the
// GridMaster service), agent.proto (package agent, GridAgent), storage.proto
// (package sutra.storage, StorageService) and fsm.proto (Raft command
// bodies), the code generated from them into this one Go package
// (committed; `make proto` regenerates it), and small hand-written helpers
// (event types, node status conversions, auth, TLS). The seeds' messages
// are kept field for field; testdata/wire.golden and its tests guard every
// change (docs/protocol.md). It imports nothing internal.
package rpc

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative grid.proto agent.proto storage.proto fsm.proto
