package rpc

import "google.golang.org/grpc"

// StreamWindow and ConnWindow are the static HTTP/2 flow-control windows
// (per stream, per connection) of every Grid gRPC client and server
// (WindowServerOptions, WindowDialOptions).
//
// A static window turns off gRPC's dynamic window sizing (BDP estimation).
// That estimator answers the first DATA frame after a quiet spell with a
// window update and a PING to sample the round trip, and the peer answers
// the PING: for a heartbeat (a few bytes every few seconds per connection)
// it doubled the frames, reads and writes of every call on both ends. 1 MiB
// per stream and 4 MiB per connection keep a large upload or listing
// streaming at tens of MB/s across a 50 ms round trip (the dynamic windows
// start at 64 KiB and grow to 16 MiB only on a long fast transfer).
const (
	StreamWindow = 1 << 20
	ConnWindow   = 4 << 20
)

// WindowServerOptions are the static flow-control windows for a gRPC server.
func WindowServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.StaticStreamWindowSize(StreamWindow), grpc.StaticConnWindowSize(ConnWindow)}
}

// WindowDialOptions are the static flow-control windows for a gRPC client.
func WindowDialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithStaticStreamWindowSize(StreamWindow), grpc.WithStaticConnWindowSize(ConnWindow)}
}
