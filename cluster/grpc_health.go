package cluster

import (
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// grpcHealthServices are the service names grpc.health.v1.Health answers
// for: "" (the whole master, what grpc_health_probe asks by default) and
// the GridMaster service.
var grpcHealthServices = []string{"", "grid.GridMaster"}

// newGRPCHealth is the master's grpc.health.v1.Health server; it starts
// NOT_SERVING and follows servingNow on every health tick.
func newGRPCHealth() *health.Server {
	hs := health.NewServer()
	for _, s := range grpcHealthServices {
		hs.SetServingStatus(s, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	return hs
}

// servingNow reports whether this master serves: a leader is known, every
// committed entry it knows of is applied, and, on the leader, its barrier
// has applied (leaderReady). A master cut off from quorum loses its leader
// (a follower's election timeout, a leader's lease) and stops serving.
func (m *Master) servingNow() bool {
	r := m.consensus.raft
	if m.leaderID() == "" || r.AppliedIndex() < r.CommitIndex() {
		return false
	}
	return !m.isLeader() || m.consensus.leaderReady.Load()
}

// updateGRPCHealth sets the health server's status from servingNow.
func (m *Master) updateGRPCHealth() {
	if m.endpoint.health == nil {
		return
	}
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if m.servingNow() {
		st = healthpb.HealthCheckResponse_SERVING
	}
	for _, s := range grpcHealthServices {
		m.endpoint.health.SetServingStatus(s, st)
	}
}
