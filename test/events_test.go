package test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fastClients dials every master with a short reconnect backoff, so that a
// restarted master is reachable again at once.
func fastClients(t *testing.T, c *harness.Cluster) map[string]rpc.GridMasterClient {
	t.Helper()
	out := map[string]rpc.GridMasterClient{}
	for _, m := range c.Masters {
		conn, err := harness.DialFast(m.GRPC)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		out[m.ID] = rpc.NewGridMasterClient(conn)
	}
	return out
}

// allEvents pages through m's own replica by seq (stale reads, ascending,
// resuming after the last seq of each page).
func allEvents(client rpc.GridMasterClient) ([]*rpc.Event, *rpc.EventList, error) {
	var out []*rpc.Event
	var after uint64
	var page *rpc.EventList
	for {
		ctx, cancel := harness.Ctx(10 * time.Second)
		var err error
		page, err = client.QueryEvents(harness.Stale(ctx), &rpc.EventFilter{After: after, Limit: 1000, Ascending: true, Stale: true})
		cancel()
		if err != nil {
			return nil, nil, err
		}
		out = append(out, page.Events...)
		if len(page.Events) < 1000 {
			return out, page, nil
		}
		after = page.Events[len(page.Events)-1].Seq
	}
}

// eventEmitter emits batches of events through any live master, retrying a
// batch (same ids) until one acknowledges it, and records acknowledged ids.
type eventEmitter struct {
	mu       sync.Mutex
	acked    []string
	failures int
}

func (e *eventEmitter) ackedCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.acked)
}

func (e *eventEmitter) run(ctx context.Context, c *harness.Cluster, clients map[string]rpc.GridMasterClient) {
	for n, next := 0, 0; ctx.Err() == nil; n++ {
		batch := make([]*rpc.Event, 10)
		for i := range batch {
			batch[i] = rpc.NewEvent("test-emitter", rpc.EventType_NODE_RESTARTED, fmt.Sprintf("emitted-%d", i),
				map[string]string{"batch": strconv.Itoa(n)})
		}
		for ctx.Err() == nil {
			m := c.Masters[next%len(c.Masters)]
			next++
			if !m.Running() {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := clients[m.ID].EmitEvents(cctx, &rpc.EmitEventsRequest{Events: batch, Source: "test-emitter"})
			cancel()
			if err == nil {
				e.mu.Lock()
				for _, ev := range batch {
					e.acked = append(e.acked, ev.Id)
				}
				e.mu.Unlock()
				break
			}
			e.mu.Lock()
			e.failures++
			e.mu.Unlock()
			pace(ctx, 50*time.Millisecond)
		}
		pace(ctx, 30*time.Millisecond) // load pacing, not a wait for a condition
	}
}

// pace waits d or until ctx ends; it spaces out a load generator's actions.
func pace(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// sseEvent is one grid_event received on the stream.
type sseEvent struct {
	seq uint64
	id  string
}

// sseFollower reads the unfiltered SSE stream from one live master after
// another, resuming each time with Last-Event-ID set to its last seq.
type sseFollower struct {
	c *harness.Cluster
	// chaseLeader connects to the current leader (so every leader kill
	// breaks the stream); otherwise masters are tried in turn.
	chaseLeader bool
	t           *testing.T
	mu          sync.Mutex
	events      []sseEvent
	last        uint64
	connects    int
	on          string // the master streaming now, "" between connections
	gaps        []string
}

func (f *sseFollower) lastSeq() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func (f *sseFollower) streamingFrom() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.on
}

func (f *sseFollower) run(ctx context.Context) {
	for i := 0; ctx.Err() == nil; i++ {
		m := f.c.Masters[i%len(f.c.Masters)]
		if f.chaseLeader {
			l, _ := f.c.LeaderOf()
			if l == nil {
				pace(ctx, 50*time.Millisecond) // until an election is over
				continue
			}
			m = l
		}
		if !m.Running() {
			continue
		}
		f.follow(ctx, m)
		f.mu.Lock()
		f.on = ""
		f.mu.Unlock()
		pace(ctx, 50*time.Millisecond) // a client's reconnect delay
	}
}

func (f *sseFollower) follow(ctx context.Context, m *harness.Master) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+m.HTTP+"/api/grid/events/stream", nil)
	if err != nil {
		return
	}
	if last := f.lastSeq(); last > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatUint(last, 10))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1000))
		f.t.Logf("sse: %s answered %d: %s", m.ID, resp.StatusCode, body)
		if resp.StatusCode == http.StatusGone {
			f.mu.Lock()
			f.gaps = append(f.gaps, fmt.Sprintf("%s: %d %s", m.ID, resp.StatusCode, body))
			f.mu.Unlock()
		}
		return
	}
	f.mu.Lock()
	f.connects++
	f.on = m.ID
	f.mu.Unlock()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var id, name, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			f.dispatch(m, id, name, data)
			id, name, data = "", "", ""
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
}

func (f *sseFollower) dispatch(m *harness.Master, id, name, data string) {
	switch name {
	case "grid_event":
		seq, err := strconv.ParseUint(id, 10, 64)
		var body struct {
			ID  string `json:"id"`
			Seq uint64 `json:"seq"`
		}
		if err != nil || json.Unmarshal([]byte(data), &body) != nil || body.Seq != seq {
			f.mu.Lock()
			f.gaps = append(f.gaps, fmt.Sprintf("%s: malformed message id %q data %s", m.ID, id, data))
			f.mu.Unlock()
			return
		}
		f.mu.Lock()
		f.events = append(f.events, sseEvent{seq: seq, id: body.ID})
		f.last = seq
		f.mu.Unlock()
	case "gap":
		f.mu.Lock()
		f.gaps = append(f.gaps, fmt.Sprintf("%s: gap %s", m.ID, data))
		f.mu.Unlock()
	case "stream_error":
		f.t.Logf("sse: %s ended the stream: %s", m.ID, data)
	}
}

// writeAgentConfig writes a TOML file giving the agent a restart budget
// that never runs out under the test's crashes (100 restarts per second).
func writeAgentConfig(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "agent-crashing.toml")
	body := "[monitoring]\nrestart_failed_nodes = true\nrestart_max_attempts = 100\nrestart_window_secs = 1\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Issue #4's acceptance: events survive five leader kills while they flow.
func TestEventsSurviveFiveLeaderKills(t *testing.T) {
	if !agentBuilt(t) {
		t.Skip("grid agent is not built yet")
	}
	c := harness.NewCluster(t, harness.Options{})
	clients := fastClients(t, c)
	a := c.AddAgent("agent-1", harness.AgentOptions{Args: []string{"--config", writeAgentConfig(t, c.Dir)}})
	waitStatus(t, c, "agent-1", "healthy")
	leader := c.WaitLeader(30 * time.Second)
	for i := range 2 {
		ctx, cancel := harness.Ctx(40 * time.Second)
		_, err := clients[leader.ID].SpawnStorageNode(ctx, &rpc.SpawnRequest{AgentId: "agent-1", NodeId: fmt.Sprintf("node-crashy-%d", i)})
		cancel()
		if err != nil {
			t.Fatalf("spawn node-crashy-%d: %v", i, err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	stop := func() { cancel(); wg.Wait() }
	defer stop()

	em := &eventEmitter{}
	followers := []*sseFollower{{c: c, t: t, chaseLeader: true}, {c: c, t: t}}
	sse := followers[0]
	var kills int
	wg.Add(4)
	go func() { defer wg.Done(); em.run(ctx, c, clients) }()
	for _, f := range followers {
		go func() { defer wg.Done(); f.run(ctx) }()
	}
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			for _, pids := range a.NodeProcs() {
				if len(pids) > 0 && syscall.Kill(pids[0], syscall.SIGKILL) == nil {
					kills++
				}
				break
			}
			pace(ctx, 400*time.Millisecond) // crash pacing
		}
	}()

	for round := 1; round <= 5; round++ {
		leader := c.WaitLeader(30 * time.Second)
		before := em.ackedCount()
		waitfor.Until(t, 30*time.Second, "the leader-chasing sse client streaming from "+leader.ID, func() (bool, string) {
			on := sse.streamingFrom()
			return on == leader.ID, "streaming from " + on
		})
		if err := leader.Kill(); err != nil {
			t.Fatal(err)
		}
		next := c.WaitLeader(30 * time.Second)
		if next == leader {
			t.Fatalf("round %d: %s still leader after SIGKILL", round, leader.ID)
		}
		waitfor.Until(t, 30*time.Second, "emissions acknowledged under the new leader", func() (bool, string) {
			n := em.ackedCount()
			return n >= before+100, fmt.Sprintf("%d acknowledged, %d before the kill", n, before)
		})
		if err := leader.Start(); err != nil {
			t.Fatal(err)
		}
		c.WaitLeader(30 * time.Second)
		t.Logf("round %d: killed leader %s, new leader %s; %d events acknowledged, sse at seq %d", round, leader.ID, next.ID, em.ackedCount(), sse.lastSeq())
	}
	// Let the restarted master take part in one more round of emissions.
	n := em.ackedCount()
	waitfor.Until(t, 30*time.Second, "emissions after the last restart", func() (bool, string) {
		return em.ackedCount() >= n+100, fmt.Sprint(em.ackedCount())
	})
	stop()
	t.Logf("emitted: %d acknowledged events, %d failed attempts; %d node kills", len(em.acked), em.failures, kills)

	// With every master back, the cluster is healthy again and says so in an event.
	waitfor.Until(t, 45*time.Second, "cluster healthy and its latest cluster event cluster_healthy", func() (bool, string) {
		l, why := c.LeaderOf()
		if l == nil {
			return false, why
		}
		ctx, cancel := harness.Ctx(5 * time.Second)
		defer cancel()
		st, err := clients[l.ID].GetClusterStatus(ctx, &rpc.Empty{})
		if err != nil || st.Status != "healthy" {
			return false, fmt.Sprintf("status %v: %v", st.GetStatus(), err)
		}
		list, err := clients[l.ID].QueryEvents(ctx, &rpc.EventFilter{EntityIds: []string{"cluster"}, Limit: 1})
		if err != nil || len(list.Events) == 0 {
			return false, fmt.Sprint("cluster events: ", err)
		}
		return list.Events[0].Type == rpc.EventType_CLUSTER_HEALTHY, "latest " + list.Events[0].Type.String()
	})
	c.WaitSameState(60 * time.Second)
	lists := map[string][]*rpc.Event{}
	for _, m := range c.Masters {
		var evs []*rpc.Event
		waitfor.Until(t, 30*time.Second, "every event from "+m.ID, func() (bool, string) {
			var err error
			evs, _, err = allEvents(clients[m.ID])
			return err == nil, fmt.Sprint(err)
		})
		lists[m.ID] = evs
	}
	// Events may still be committed (health, node reports): compare the common prefix.
	common := -1
	for _, evs := range lists {
		if common < 0 || len(evs) < common {
			common = len(evs)
		}
	}
	ref := lists[c.Masters[0].ID][:common]
	for id, evs := range lists {
		for i, e := range evs {
			if i > 0 && e.Seq != evs[i-1].Seq+1 {
				t.Fatalf("%s: seq %d follows %d", id, e.Seq, evs[i-1].Seq)
			}
			if i < common && (e.Id != ref[i].Id || e.Seq != ref[i].Seq) {
				t.Fatalf("%s differs from %s at position %d: %s/%d vs %s/%d", id, c.Masters[0].ID, i, e.Id, e.Seq, ref[i].Id, ref[i].Seq)
			}
		}
	}
	if len(ref) == 0 || ref[0].Seq != 1 {
		t.Fatalf("history does not start at seq 1: %d events", len(ref))
	}
	count := map[string]int{}
	types := map[rpc.EventType]int{}
	for _, e := range ref {
		count[e.Id]++
		types[e.Type]++
	}
	for _, id := range em.acked {
		if count[id] != 1 {
			t.Fatalf("acknowledged event %s is stored %d times", id, count[id])
		}
	}
	t.Logf("history: %d events on every master; by type %v", len(ref), types)
	if kills > 0 && types[rpc.EventType_NODE_CRASHED] == 0 {
		t.Fatalf("%d node kills but no node_crashed event in the history", kills)
	}
	if types[rpc.EventType_LEADER_ELECTED] < 5 {
		t.Fatalf("%d leader_elected events after 5 leader kills", types[rpc.EventType_LEADER_ELECTED])
	}

	// Each SSE client saw the same history, without gap or duplicate.
	for _, f := range followers {
		checkFollower(t, f, ref)
	}
	if sse.connects < 6 {
		t.Fatalf("the leader-chasing sse client connected %d times over 5 leader kills", sse.connects)
	}
}

// checkFollower asserts f received ref's events in order, from seq 1,
// with consecutive seqs (no gap, no duplicate).
func checkFollower(t *testing.T, f *sseFollower, ref []*rpc.Event) {
	t.Helper()
	name := "round-robin"
	if f.chaseLeader {
		name = "leader-chasing"
	}
	if len(f.gaps) > 0 {
		t.Fatalf("%s sse client: %v", name, f.gaps)
	}
	if len(f.events) == 0 || f.events[0].seq != 1 {
		t.Fatalf("%s sse stream does not start at seq 1: %d events", name, len(f.events))
	}
	for i, e := range f.events {
		if i > 0 && e.seq != f.events[i-1].seq+1 {
			t.Fatalf("%s sse: seq %d follows %d (gap or duplicate)", name, e.seq, f.events[i-1].seq)
		}
		if i < len(ref) && e.id != ref[i].Id {
			t.Fatalf("%s sse: position %d is %s, the masters hold %s", name, i, e.id, ref[i].Id)
		}
	}
	// The client stops with the emitter; it may trail by what was in flight.
	if len(f.events) < len(ref)-200 {
		t.Fatalf("%s sse received %d events, the masters hold %d", name, len(f.events), len(ref))
	}
	t.Logf("%s sse: %d events, seq 1..%d, over %d connections", name, len(f.events), f.events[len(f.events)-1].seq, f.connects)
}

// sensibleAnswer asserts POST /api/grid/query answered text sensibly: a
// 200 with an explanation, or a 4xx whose error says what is wrong.
func sensibleAnswer(t *testing.T, m *harness.Master, text string) map[string]any {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"query": text})
	code, out := restCall(t, m, "POST", "/api/grid/query", string(b))
	switch {
	case code == 200:
		if out["success"] != true || out["explanation"] == "" || out["interpretation"] == nil {
			t.Fatalf("query %.40q: 200 without an explanation: %v", text, out)
		}
	case code >= 400 && code < 500:
		if msg, _ := out["error"].(string); msg == "" || !strings.Contains(msg, "query") {
			t.Fatalf("query %.40q: %d without an error naming the query: %v", text, code, out)
		}
	default:
		t.Fatalf("query %.40q: status %d %v", text, code, out)
	}
	t.Logf("query %.40q -> %d %v", text, code, firstOf(out, "error", "explanation"))
	return out
}

func firstOf(m map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			return v
		}
	}
	return nil
}

// Issue #4's bad input: malformed filters and time ranges, odd questions,
// and a stream cursor older than retention.
func TestEventsBadInputAndRetentionGap(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{MasterArgs: []string{"--event-max-count", "50"}})
	clients := fastClients(t, c)
	leader := c.WaitLeader(30 * time.Second)
	m := c.Followers(leader)[0]

	t.Run("malformed filters and time ranges", func(t *testing.T) {
		cases := []struct{ query, want string }{
			{"event_type=nonsense", "nonsense"},
			{"event_type=999", "999"},
			{"since=last-tuesday", "since"},
			{"until=tomorrow", "until"},
			{"since=2025-01-02T00:00:00Z&until=2025-01-01T00:00:00Z", "until must be after since"},
			{"since=1700000000&until=1700000000", "until must be after since"},
			{"since=-5", "since"},
			{"hours=-3", "hours"},
			{"hours=abc", "hours"},
			{"hours=1&since=2025-01-01T00:00:00Z", "hours and since"},
			{"limit=0", "limit"},
			{"limit=abc", "limit"},
			{"limit=99999999", "limit"},
			{"after=-1", "after"},
			{"order=sideways", "order"},
			{"entity_id=bad%20id", "entity_id"},
			{"stale=maybe", "stale"},
		}
		for _, tc := range cases {
			code, out := restCall(t, m, "GET", "/api/grid/events?"+tc.query, "")
			requireRESTError(t, "events?"+tc.query, code, out, 400, tc.want)
		}
		code, out := restCall(t, m, "GET", "/api/grid/events/stream?event_type=bogus", "")
		requireRESTError(t, "stream with a bad type", code, out, 400, "bogus")
		code, out = restCall(t, m, "GET", "/api/grid/events/stream", "", "Last-Event-ID", "seven")
		requireRESTError(t, "stream with a bad Last-Event-ID", code, out, 400, "Last-Event-ID")

		grpcCases := []struct {
			f    *rpc.EventFilter
			want string
		}{
			{&rpc.EventFilter{Since: 2_000_000, Until: 1_000_000}, "after until"},
			{&rpc.EventFilter{Since: -1}, "since"},
			{&rpc.EventFilter{Types: []rpc.EventType{999}}, "999"},
			{&rpc.EventFilter{Limit: 1 << 30}, "limit"},
			{&rpc.EventFilter{EntityIds: []string{"two words"}}, "entity_ids[0]"},
		}
		for _, tc := range grpcCases {
			ctx, cancel := harness.Ctx(10 * time.Second)
			_, err := clients[m.ID].QueryEvents(ctx, tc.f)
			cancel()
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.want) {
				t.Errorf("QueryEvents(%v): want INVALID_ARGUMENT mentioning %q, got %v", tc.f, tc.want, err)
			}
		}
	})

	t.Run("odd questions get a sensible answer", func(t *testing.T) {
		long := strings.Repeat("what happened to agent-001 yesterday and why ", 10*1024/45+1)[:10*1024]
		for _, text := range []string{
			long,
			"",
			"   \t\n ",
			"🔥💥 ¿qué pasó con agent-ü\u200b 节点 \u202eelbat\u202c ∑∫ 😀",
			"\x7f\u0007 null \\u0000 <script>alert(1)</script> '; DROP TABLE events; --",
		} {
			sensibleAnswer(t, m, text)
		}
		out := sensibleAnswer(t, m, "spawn failures today 🔥")
		in, _ := out["interpretation"].(map[string]any)
		if types, _ := in["event_types"].([]any); !slices.Contains(types, any("spawn_failed")) {
			t.Fatalf("a known question among emoji was not understood: %v", in)
		}
		// gRPC answers the long and the empty question too (it truncates the long one).
		for _, text := range []string{long, "", "🔥💥 ¿qué pasó 节点"} {
			ctx, cancel := harness.Ctx(10 * time.Second)
			r, err := clients[m.ID].AskQuery(ctx, &rpc.NaturalQueryRequest{Query: text})
			cancel()
			if err != nil {
				if status.Code(err) != codes.InvalidArgument {
					t.Fatalf("AskQuery(%.40q): %v", text, err)
				}
				continue
			}
			if !r.Success || r.Explanation == "" || r.Interpretation == nil {
				t.Fatalf("AskQuery(%.40q): %v", text, r)
			}
			if text != long && text != "" && len(r.Examples) == 0 && len(r.Interpretation.NotUnderstood) == 0 {
				t.Fatalf("AskQuery(%.40q): neither examples nor what was not understood: %v", text, r)
			}
			if text == "" && !strings.Contains(strings.ToLower(r.Explanation), "empty") {
				t.Fatalf("AskQuery(\"\"): the answer does not say the question was empty: %q", r.Explanation)
			}
			t.Logf("AskQuery(%.40q) -> %q", text, r.Explanation)
		}
	})

	t.Run("a cursor older than retention is an explicit gap", func(t *testing.T) {
		var acked int
		for b := range 4 {
			batch := make([]*rpc.Event, 50)
			for i := range batch {
				batch[i] = rpc.NewEvent("test-emitter", rpc.EventType_NODE_RESTARTED, "emitted-gap", map[string]string{"b": strconv.Itoa(b)})
			}
			ctx, cancel := harness.Ctx(15 * time.Second)
			_, err := clients[leader.ID].EmitEvents(ctx, &rpc.EmitEventsRequest{Events: batch, Source: "test-emitter"})
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			acked += len(batch)
		}
		// The leader prunes when it takes office and then every minute
		// (no flag shortens the period): hand leadership over to prune now.
		ctx, cancel := harness.Ctx(20 * time.Second)
		_, err := clients[leader.ID].TransferLeadership(ctx, &rpc.TransferLeadershipRequest{})
		cancel()
		if err != nil {
			t.Fatalf("transfer leadership: %v", err)
		}
		var first uint64
		waitfor.Until(t, 30*time.Second, "events pruned to at most 50 on every master", func() (bool, string) {
			for _, mm := range c.Live() {
				evs, list, err := allEvents(clients[mm.ID])
				if err != nil {
					return false, err.Error()
				}
				if len(evs) > 60 || list.FirstSeq <= 1 {
					return false, fmt.Sprintf("%s holds %d events from seq %d", mm.ID, len(evs), list.FirstSeq)
				}
				first = list.FirstSeq
			}
			return true, ""
		})
		t.Logf("%d events emitted, oldest retained seq now %d", acked, first)
		for _, mm := range c.Live() {
			code, out := restCall(t, mm, "GET", "/api/grid/events/stream?after=1", "")
			requireRESTError(t, mm.ID+" stream after=1", code, out, 410, "no longer retained")
			code, out = restCall(t, mm, "GET", "/api/grid/events/stream", "", "Last-Event-ID", "2")
			requireRESTError(t, mm.ID+" stream Last-Event-ID 2", code, out, 410, "no longer retained")

			ctx, cancel := harness.Ctx(10 * time.Second)
			s, err := clients[mm.ID].StreamEvents(ctx, &rpc.StreamEventsRequest{After: 1})
			if err == nil {
				_, err = s.Recv()
			}
			cancel()
			if status.Code(err) != codes.OutOfRange || !strings.Contains(status.Convert(err).Message(), "pruned") {
				t.Fatalf("%s StreamEvents(after 1): want OUT_OF_RANGE saying the events were pruned, got %v", mm.ID, err)
			}
		}
		// Resuming right before the oldest retained event is no gap.
		ctx, cancel = harness.Ctx(10 * time.Second)
		defer cancel()
		s, err := clients[m.ID].StreamEvents(harness.Stale(ctx), &rpc.StreamEventsRequest{After: first - 1})
		if err != nil {
			t.Fatal(err)
		}
		e, err := s.Recv()
		if err != nil || e.Seq != first {
			t.Fatalf("stream after %d: got %v, %v; want seq %d", first-1, e, err, first)
		}
	})
}
