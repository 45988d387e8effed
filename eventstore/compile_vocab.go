package eventstore

import (
	"cmp"
	"slices"
	"strings"

	"github.com/gridctl/grid/rpc"
)

// stems maps word forms to the stem the event-type phrases use.
var stems = map[string]string{}

func init() {
	for stem, forms := range map[string][]string{
		"spawn":      {"spawns", "spawned", "spawning", "spawnings"},
		"fail":       {"fails", "failed", "failing", "failure", "failures", "error", "errors", "errored", "unsuccessful"},
		"crash":      {"crashes", "crashed", "crashing", "died", "die", "dies", "segfault", "segfaults", "panicked"},
		"restart":    {"restarts", "restarted", "restarting", "reboot", "reboots", "rebooted", "respawn", "respawned"},
		"stop":       {"stops", "stopped", "stopping", "kill", "killed", "kills", "terminated", "shutdown", "shutdowns"},
		"request":    {"requests", "requested", "requesting", "order", "orders", "ordered"},
		"succeed":    {"succeeded", "succeeds", "success", "successes", "successful", "successfully", "completed", "ok"},
		"register":   {"registers", "registered", "registering", "registration", "registrations"},
		"join":       {"joins", "joined", "joining"},
		"unregister": {"unregisters", "unregistered", "unregistering", "unregistration", "deregister", "deregistered", "deregistration", "deregistrations"},
		"degrade":    {"degraded", "degrades", "degrading", "degradation", "degradations"},
		"recover":    {"recovered", "recovers", "recovering", "recovery", "recoveries"},
		"reconnect":  {"reconnected", "reconnects", "reconnecting"},
		"disconnect": {"disconnected", "disconnects", "disconnecting"},
		"heartbeat":  {"heartbeats"},
		"elect":      {"elected", "election", "elections", "electing"},
		"failover":   {"failovers", "fail-over", "fail-overs"},
		"leader":     {"leaders", "leadership"},
		"change":     {"changes", "changed", "changing"},
		"drop":       {"dropped", "drops", "dropping"},
		"remove":     {"removed", "removal", "removals", "removing"},
		"refuse":     {"refused", "refusal", "refusals", "reject", "rejected", "rejection", "rejections", "denied", "deny"},
		"diverge":    {"diverged", "diverges", "diverging", "divergence", "divergences", "mismatch", "mismatches"},
		"replica":    {"replicas"},
		"go":         {"went", "goes", "going", "gone"},
		"come":       {"came", "comes", "coming"},
		"give":       {"gave", "given", "giving"},
		"node":       {"nodes", "storage-node", "storage-nodes"},
		"agent":      {"agents"},
		"master":     {"masters", "server", "servers"},
		"event":      {"events"},
		"start":      {"started", "starts", "starting", "launch", "launched", "launches"},
		"add":        {"added", "adds", "adding"},
	} {
		for _, f := range forms {
			stems[f] = stem
		}
	}
}

func stem(w string) string {
	if s, ok := stems[w]; ok {
		return s
	}
	return w
}

// typePhrase maps stem sequences (fillers allowed in between) to event types.
type typePhrase struct {
	stems []string
	types []rpc.EventType
}

var (
	tSpawnAll = []rpc.EventType{rpc.EventType_SPAWN_REQUESTED, rpc.EventType_SPAWN_SUCCEEDED, rpc.EventType_SPAWN_FAILED}
	tStopAll  = []rpc.EventType{rpc.EventType_STOP_REQUESTED, rpc.EventType_STOP_SUCCEEDED, rpc.EventType_STOP_FAILED}
	tFailAll  = []rpc.EventType{rpc.EventType_SPAWN_FAILED, rpc.EventType_STOP_FAILED, rpc.EventType_NODE_FAILED}
	tProblems = []rpc.EventType{rpc.EventType_SPAWN_FAILED, rpc.EventType_STOP_FAILED, rpc.EventType_NODE_CRASHED,
		rpc.EventType_NODE_FAILED, rpc.EventType_AGENT_OFFLINE, rpc.EventType_CLUSTER_CRITICAL}
	tCluster = []rpc.EventType{rpc.EventType_CLUSTER_HEALTHY, rpc.EventType_CLUSTER_DEGRADED, rpc.EventType_CLUSTER_CRITICAL}
)

func ts(t ...rpc.EventType) []rpc.EventType { return t }

func p(s string, types ...rpc.EventType) typePhrase {
	return typePhrase{stems: strings.Fields(s), types: types}
}

// typePhrases, tried longest first.
var typePhrases = func() []typePhrase {
	list := []typePhrase{
		p("spawn fail", rpc.EventType_SPAWN_FAILED), p("fail spawn", rpc.EventType_SPAWN_FAILED),
		p("spawn request", rpc.EventType_SPAWN_REQUESTED), p("request spawn", rpc.EventType_SPAWN_REQUESTED),
		p("spawn succeed", rpc.EventType_SPAWN_SUCCEEDED), p("succeed spawn", rpc.EventType_SPAWN_SUCCEEDED),
		p("start node", rpc.EventType_SPAWN_SUCCEEDED), p("node start", rpc.EventType_SPAWN_SUCCEEDED),
		{stems: []string{"spawn"}, types: tSpawnAll},
		p("stop fail", rpc.EventType_STOP_FAILED), p("fail stop", rpc.EventType_STOP_FAILED),
		p("stop request", rpc.EventType_STOP_REQUESTED), p("request stop", rpc.EventType_STOP_REQUESTED),
		p("stop succeed", rpc.EventType_STOP_SUCCEEDED), p("stop node", rpc.EventType_STOP_SUCCEEDED),
		p("node stop", rpc.EventType_STOP_SUCCEEDED),
		{stems: []string{"stop"}, types: tStopAll},
		p("node crash", rpc.EventType_NODE_CRASHED), p("crash", rpc.EventType_NODE_CRASHED),
		p("node restart", rpc.EventType_NODE_RESTARTED), p("restart", rpc.EventType_NODE_RESTARTED),
		p("node fail", rpc.EventType_NODE_FAILED), p("give up", rpc.EventType_NODE_FAILED),
		p("restart budget", rpc.EventType_NODE_FAILED),
		p("agent register", rpc.EventType_AGENT_REGISTERED), p("register", rpc.EventType_AGENT_REGISTERED),
		p("agent join", rpc.EventType_AGENT_REGISTERED), p("new agent", rpc.EventType_AGENT_REGISTERED),
		p("agent unregister", rpc.EventType_AGENT_UNREGISTERED), p("unregister", rpc.EventType_AGENT_UNREGISTERED),
		p("heartbeat", rpc.EventType_AGENT_HEARTBEAT),
		p("cluster degrade", rpc.EventType_CLUSTER_DEGRADED),
		p("agent degrade", rpc.EventType_AGENT_DEGRADED), p("degrade", rpc.EventType_AGENT_DEGRADED),
		p("agent offline", rpc.EventType_AGENT_OFFLINE), p("go offline", rpc.EventType_AGENT_OFFLINE),
		p("offline", rpc.EventType_AGENT_OFFLINE), p("go down", rpc.EventType_AGENT_OFFLINE),
		p("disconnect", rpc.EventType_AGENT_OFFLINE), p("lost contact", rpc.EventType_AGENT_OFFLINE),
		p("agent recover", rpc.EventType_AGENT_RECOVERED), p("recover", rpc.EventType_AGENT_RECOVERED),
		p("come back", rpc.EventType_AGENT_RECOVERED), p("come back online", rpc.EventType_AGENT_RECOVERED), p("back online", rpc.EventType_AGENT_RECOVERED),
		p("come online", rpc.EventType_AGENT_RECOVERED), p("reconnect", rpc.EventType_AGENT_RECOVERED),
		p("cluster healthy", rpc.EventType_CLUSTER_HEALTHY), p("cluster critical", rpc.EventType_CLUSTER_CRITICAL),
		p("critical", rpc.EventType_CLUSTER_CRITICAL),
		{stems: []string{"cluster", "health"}, types: tCluster}, {stems: []string{"cluster", "status"}, types: tCluster},
		{stems: []string{"cluster", "state"}, types: tCluster},
		p("leader elect", rpc.EventType_LEADER_ELECTED), p("elect", rpc.EventType_LEADER_ELECTED),
		p("failover", rpc.EventType_LEADER_ELECTED), p("leader change", rpc.EventType_LEADER_ELECTED),
		p("new leader", rpc.EventType_LEADER_ELECTED), p("leader", rpc.EventType_LEADER_ELECTED),
		p("master join", rpc.EventType_MASTER_JOINED), p("master add", rpc.EventType_MASTER_JOINED),
		p("new master", rpc.EventType_MASTER_JOINED),
		{stems: []string{"join"}, types: ts(rpc.EventType_AGENT_REGISTERED, rpc.EventType_MASTER_JOINED)},
		p("master remove", rpc.EventType_MASTER_REMOVED), p("remove", rpc.EventType_MASTER_REMOVED),
		p("drop event", rpc.EventType_EVENTS_DROPPED), p("event drop", rpc.EventType_EVENTS_DROPPED),
		p("lost event", rpc.EventType_EVENTS_DROPPED), p("drop", rpc.EventType_EVENTS_DROPPED),
		p("request refuse", rpc.EventType_REQUEST_REFUSED), p("refuse", rpc.EventType_REQUEST_REFUSED),
		p("replica diverge", rpc.EventType_REPLICA_DIVERGED), p("diverge", rpc.EventType_REPLICA_DIVERGED),
		{stems: []string{"fail"}, types: tFailAll},
		{stems: []string{"go", "wrong"}, types: tProblems}, {stems: []string{"wrong"}, types: tProblems},
		{stems: []string{"problem"}, types: tProblems}, {stems: []string{"problems"}, types: tProblems},
		{stems: []string{"issue"}, types: tProblems}, {stems: []string{"issues"}, types: tProblems},
		{stems: []string{"incident"}, types: tProblems}, {stems: []string{"incidents"}, types: tProblems},
	}
	slices.SortStableFunc(list, func(a, b typePhrase) int { return cmp.Compare(len(b.stems), len(a.stems)) })
	return list
}()

// phraseFillers may sit between the words of a type phrase.
var phraseFillers = map[string]bool{
	"that": true, "which": true, "who": true, "to": true, "were": true, "was": true, "have": true, "has": true,
	"had": true, "been": true, "did": true, "the": true, "of": true, "a": true, "an": true, "storage": true,
	"any": true, "their": true, "its": true, "got": true, "is": true, "are": true, "went": true, "became": true,
	"become": true, "turned": true, "gone": true,
}

// parseTypes finds event types: snake_case names, then phrases.
func (q *question) parseTypes() {
	for i, w := range q.words {
		if q.used[i] || !strings.Contains(w, "_") {
			continue
		}
		if t, err := rpc.ParseEventType(w); err == nil {
			q.addTypes(t)
			q.take(i, i+1)
		}
	}
	for _, ph := range typePhrases {
		for {
			idx := q.matchStems(ph.stems)
			if idx == nil {
				break
			}
			for _, k := range idx {
				q.used[k] = true
			}
			q.addTypes(ph.types...)
		}
	}
}

// matchStems finds the stems in order among unplaced tokens with only
// fillers between them; it returns the token positions (fillers included).
func (q *question) matchStems(want []string) []int {
	for start := range q.words {
		if q.used[start] || q.stems[start] != want[0] {
			continue
		}
		idx := []int{start}
		k := start + 1
		for _, s := range want[1:] {
			var fillers []int
			for k < len(q.words) && !q.used[k] && q.stems[k] != s && phraseFillers[q.words[k]] {
				fillers = append(fillers, k)
				k++
			}
			if k >= len(q.words) || q.used[k] || q.stems[k] != s {
				idx = nil
				break
			}
			idx = append(idx, fillers...)
			idx = append(idx, k)
			k++
		}
		if idx != nil {
			return idx
		}
	}
	return nil
}

func (q *question) addTypes(types ...rpc.EventType) {
	for _, t := range types {
		if !slices.Contains(q.types, t) {
			q.types = append(q.types, t)
		}
	}
	q.understood = true
}

// parseIntent decides count, timeline or state (list is the default).
func (q *question) parseIntent() {
	if q.parseState() {
		return
	}
	for _, ph := range [][]string{{"how", "many"}, {"how", "often"}, {"number", "of"}, {"count", "of"}, {"total", "number", "of"}, {"count"}, {"total"}} {
		if i := q.phrase(ph...); i >= 0 {
			q.intent = IntentCount
			q.take(i, i+len(ph))
			q.understood = true
			return
		}
	}
	for _, ph := range [][]string{{"what", "happened", "to"}, {"what", "happened", "with"}, {"what", "happened", "on"},
		{"what", "happened", "for"}, {"everything", "about"}, {"everything", "on"}, {"all", "about"},
		{"history", "of"}, {"history", "for"}, {"timeline", "of"}, {"timeline", "for"}, {"tell", "me", "about"},
		{"story", "of"}, {"history"}, {"timeline"}} {
		if i := q.phrase(ph...); i >= 0 {
			q.intent = IntentTimeline
			q.take(i, i+len(ph))
			q.understood = true
			return
		}
	}
	if i := q.phrase("what", "happened"); i >= 0 && len(q.entities) > 0 {
		q.intent = IntentTimeline
		q.take(i, i+2)
		q.understood = true
	}
}

// agentStates and nodeStates map status words to the registry's statuses.
var (
	agentStates = map[string]string{"offline": "offline", "degraded": "degraded", "healthy": "healthy",
		"online": "healthy", "up": "healthy", "alive": "healthy", "down": "offline", "dead": "offline",
		"unhealthy": "degraded", "unreachable": "offline"}
	nodeStates = map[string]string{"running": "running", "stopped": "stopped", "failed": "failed",
		"crashed": "crashed", "pending": "pending", "starting": "starting", "restarting": "restarting",
		"stopping": "stopping", "lost": "lost", "up": "running", "alive": "running", "dead": "failed",
		"down": "stopped", "healthy": "running"}
	stateCues  = []string{"which", "what", "list", "show", "are", "is", "currently", "now", "any", "all", "who", "how"}
	eventVerbs = []string{"went", "go", "gone", "became", "become", "got", "event", "events", "times", "when", "happened", "ever"}
)

// parseState recognises "which agents are offline", "list failed nodes",
// "how many nodes are running": current registry state, not events.
func (q *question) parseState() bool {
	if q.hasTime || len(q.entities) > 0 || !q.hasWord(stateCues...) || q.hasWord(eventVerbs...) {
		return false
	}
	target, ti := "", -1
	for i, w := range q.words {
		if q.used[i] {
			continue
		}
		switch w {
		case "agents", "agent":
			target, ti = "agents", i
		case "nodes", "node", "storage-nodes":
			target, ti = "nodes", i
		}
		if target != "" {
			break
		}
	}
	if target == "" {
		return false
	}
	statuses := agentStates
	if target == "nodes" {
		statuses = nodeStates
	}
	status, si := "", -1
	for i, w := range q.words {
		if st, ok := statuses[w]; ok && !q.used[i] {
			status, si = st, i
			break
		}
	}
	if si < 0 {
		// "list agents": the whole registry, when nothing else is asked.
		for i, w := range q.words {
			if !q.used[i] && i != ti && !isFiller(w) {
				return false
			}
		}
	}
	q.intent, q.stateTarget, q.stateStatus = IntentState, target, status
	q.take(si, si+1)
	q.take(ti, ti+1)
	q.understood = true
	for k, w := range q.words {
		if slices.Contains(stateCues, w) || w == "many" || w == "currently" || w == "right" {
			q.take(k, k+1)
		}
	}
	return true
}

// fillers are words that carry no filter by themselves.
var fillers = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`show me list all any the a an of for to about with what which were was are is be
		been did do does have has had there event events happened happen in on at from please give get find tell
		display i want see my our that and or by it its so far ever grid can you could would will were was
		did when where who whose them they those these this some were whats what's how many much times
		time anything something everything there their recent latest last past previous did do kind
		occurred occur occurrences instances cases query search look lookup up storage status
		agents agent nodes node masters master show recently during within over since until
		between overall log logs new online became turned history entries entry just only also again yet still`) {
		fillers[w] = true
	}
}

func isFiller(w string) bool {
	if fillers[w] {
		return true
	}
	// "last 10 events": a bare small number is a count, not a filter.
	if n, ok := number(w); ok && n <= MaxEventLimit && w != "a" && w != "an" {
		return true
	}
	return false
}
