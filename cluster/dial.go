package cluster

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// dialOptions are the options for every gRPC connection this master opens
// (to the leader, to other masters at bootstrap, to agents): transport
// security and credentials live here and only here.
func (m *Master) dialOptions(extra ...grpc.DialOption) []grpc.DialOption {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	return append(opts, extra...)
}
