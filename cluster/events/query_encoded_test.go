package events

import (
	"context"
	"testing"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// rpcStream marks a context as a gRPC call's (the server's transport
// stream), as gRPC does before it calls a handler.
type rpcStream struct{}

func (rpcStream) Method() string                  { return "/grid.GridMaster/QueryEvents" }
func (rpcStream) SetHeader(metadata.MD) error     { return nil }
func (rpcStream) SendHeader(metadata.MD) error    { return nil }
func (rpcStream) SetTrailer(md metadata.MD) error { return nil }

// A gRPC call's reply carries its events pre-encoded (none built), and
// what gRPC sends decodes to the reply an in-process caller (the REST
// API) gets with its events built: consistent on the leader, stale on a
// follower.
func TestQueryEventsEncodedForGRPC(t *testing.T) {
	_, leader, follower := leaderAndFollower(t)
	appendEvents(t, leader, "node-1", 4)
	appendEvents(t, leader, "node-2", 3)
	codec := encoding.GetCodecV2(grpcproto.Name)
	grpcCtx := grpc.NewContextWithServerTransportStream(context.Background(), rpcStream{})
	for _, tc := range []struct {
		name string
		p    *Pipeline
		f    *rpc.EventFilter
	}{
		{"consistent", leader.pipeline, &rpc.EventFilter{EntityIds: []string{"node-1"}, Ascending: true}},
		{"all", leader.pipeline, &rpc.EventFilter{}},
		{"stale", follower.pipeline, &rpc.EventFilter{Stale: true, Limit: 5}},
		{"none", leader.pipeline, &rpc.EventFilter{EntityIds: []string{"node-9"}}},
	} {
		built, err := tc.p.QueryEvents(context.Background(), tc.f)
		if err != nil {
			t.Fatalf("%s: in-process: %v", tc.name, err)
		}
		if tc.name != "none" && len(built.Events) == 0 {
			t.Fatalf("%s: in-process reply has no events: %v", tc.name, built)
		}
		got, err := tc.p.QueryEvents(grpcCtx, tc.f)
		if err != nil {
			t.Fatalf("%s: gRPC: %v", tc.name, err)
		}
		if len(got.Events) != 0 {
			t.Fatalf("%s: gRPC reply built %d events, want them pre-encoded", tc.name, len(got.Events))
		}
		wire, err := codec.Marshal(got)
		if err != nil {
			t.Fatalf("%s: marshal: %v", tc.name, err)
		}
		sent := &rpc.EventList{}
		if err := proto.Unmarshal(wire.Materialize(), sent); err != nil {
			t.Fatalf("%s: decode: %v", tc.name, err)
		}
		if !proto.Equal(sent, built) {
			t.Fatalf("%s: sent %v, in-process %v", tc.name, sent, built)
		}
	}
}
