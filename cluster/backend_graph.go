package cluster

import (
	"context"

	"github.com/gridctl/grid/rpc"
)

// GetNeighbors answers from this master's replica of the event graph (the
// StorageService view, read-only, possibly stale): the dashboard's entity
// page draws an entity's neighbourhood with it (api.GraphBackend).
func (b *Backend) GetNeighbors(ctx context.Context, in *rpc.GetNeighborsRequest) (*rpc.GetNeighborsResponse, error) {
	return b.graph.GetNeighbors(ctx, in)
}
