package eventstore

import "github.com/gridctl/grid/rpc"

// WhyFollowed names the associations a "why" answer walks back from the
// event it explains (see cluster/events why.go).
var WhyFollowed = []string{
	"same entity: the crashes, restarts, exits and status changes before it",
	"hosting agent: the agent's status changes in the window",
	"cluster: leader changes in the window",
	"caused_by: alerts and the events that triggered them",
}

// whyDefault are the events "why is X unhappy" explains when no verb names one.
var whyDefault = []rpc.EventType{rpc.EventType_NODE_FAILED, rpc.EventType_NODE_CRASHED, rpc.EventType_SPAWN_FAILED,
	rpc.EventType_STOP_FAILED, rpc.EventType_AGENT_OFFLINE, rpc.EventType_AGENT_DEGRADED,
	rpc.EventType_CLUSTER_CRITICAL, rpc.EventType_ALERT_FIRED}

// parseWhy recognises "why did node-abc fail", "what caused agent-002 to go
// offline", "root cause of node-x restarting".
func (q *question) parseWhy() {
	for _, ph := range [][]string{{"why"}, {"what", "caused"}, {"what", "led", "to"}, {"root", "cause", "of"},
		{"root", "cause"}, {"reason", "for"}, {"reason", "why"}, {"cause", "of"}, {"explain"}} {
		if i := q.phrase(ph...); i >= 0 {
			q.intent = IntentWhy
			q.take(i, i+len(ph))
			q.understood = true
			for k, w := range q.words {
				switch w {
				case "did", "does", "do", "is", "was", "has", "had", "to", "so", "often", "keep", "keeps", "kept",
					"down", "broken", "unhealthy", "sick", "bad":
					q.take(k, k+1)
				}
			}
			return
		}
	}
}
