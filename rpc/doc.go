// Package rpc holds Grid's wire contract: grid.proto (the GridMaster service),
// agent.proto (GridAgent) and storage.proto (StorageService), the code
// generated from them (committed; `make proto` regenerates it), and small
// hand-written helpers for the event types. It imports nothing internal.
package rpc

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative grid.proto agent.proto storage.proto fsm.proto
