package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
)

// fuzzMaxBody is the fuzz server's Config.MaxBodyBytes: small, so that the
// 413 path is reached by inputs the mutator can grow to.
const fuzzMaxBody = 512

// fuzzIDPattern is the id rule of the wire contract, written independently
// of rpc.ValidateID: 1-128 ASCII letters, digits and "-_.".
var fuzzIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// fuzzPost is one mutating endpoint and whether it accepts an empty body.
type fuzzPost struct {
	path       string
	method     string // the fakeMaster method it calls
	allowEmpty bool
}

var fuzzPosts = []fuzzPost{
	{"/api/grid/spawn", "SpawnStorageNode", true},
	{"/api/grid/stop", "StopStorageNode", false},
	{"/api/grid/query", "AskQuery", false},
	{"/api/grid/operator/remove-peer", "RemovePeer", false},
	{"/api/grid/operator/transfer-leadership", "TransferLeadership", true},
}

// newFuzzAPI is the API handler over a fakeMaster,
// built once per fuzz process (newFixture needs a *testing.T).
func newFuzzAPI(f *testing.F) (http.Handler, *fakeMaster) {
	f.Helper()
	fm := newFakeMaster()
	cfg := DefaultConfig()
	cfg.Logger = hclog.NewNullLogger()
	cfg.RequestTimeout = 10 * time.Second
	cfg.MaxBodyBytes = fuzzMaxBody
	return New(fm, cfg).Handler(), fm
}

// fuzzServe runs one request through h and returns the status and the
// decoded JSON object, failing unless the response is a JSON object and,
// for an error status, has success=false and a non-empty "error".
func fuzzServe(t *testing.T, h http.Handler, req *http.Request) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type %q, want JSON (status %d, body %q)", req.Method, req.URL, ct, rec.Code, rec.Body.Bytes())
	}
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %v: %q", req.Method, req.URL, err, rec.Body.Bytes())
	}
	if rec.Code >= 400 {
		if msg, _ := out["error"].(string); msg == "" || out["success"] != false {
			t.Fatalf("%s %s: status %d without success=false and an error message: %v", req.Method, req.URL, rec.Code, out)
		}
	}
	if rec.Code >= 500 {
		t.Fatalf("%s %s: status %d for client input: %v", req.Method, req.URL, rec.Code, out)
	}
	return rec.Code, out
}

// fuzzBackendCalls is the number of calls the fake master has received.
func fuzzBackendCalls(fm *fakeMaster) int {
	fm.mu.Lock()
	defer fm.mu.Unlock()
	n := 0
	for _, c := range fm.calls {
		n += c
	}
	return n
}

// jsonBlank reports whether b holds only JSON whitespace.
func jsonBlank(b []byte) bool { return len(bytes.Trim(b, " \t\r\n")) == 0 }

// FuzzPostBodies sends arbitrary bodies to every mutating endpoint. The
// handler must never panic and must answer JSON; a 2xx comes from the
// endpoint's own backend method; a body that is not one
// valid JSON value (blank bodies aside where allowed), or is larger than
// MaxBodyBytes, gets 400/413 with an error and never reaches the backend; a
// 400/413 never calls the backend; anything that reaches the backend carries
// only well-formed ids and in-range numbers.
func FuzzPostBodies(f *testing.F) {
	seeds := []string{
		``, ` `, `{}`, `null`, `[]`, `"x"`, `1`, `{} {}`, `{"a":1}`, `{"port": 5`,
		`{"agent_id":"agent-001","node_id":"node-1","port":50051,"storage_path":"/data/n1","memory_limit_mb":512}`,
		`{"agent_id":"a b"}`, `{"port":70000}`, `{"port":-1}`, `{"port":1e3}`, `{"memory_limit_mb":1048577}`,
		`{"storage_path":"\u0000"}`, `{"AGENT_ID":"x"}`, `{"agent_id":"` + strings.Repeat("a", 129) + `"}`,
		`{"node_id":"node-1"}`, `{"node_id":"node-1","agent_id":"agent-001"}`, `{"node_id":5}`,
		`{"query":"spawn failures today"}`, `{"query":"   "}`, `{"query":"\udc00"}`,
		`{"id":"m2","force":true}`, `{"id":"m2","force":"yes"}`, `{"id":"m 1"}`, `{"id":""}`,
		`{"storage_path":"` + strings.Repeat("a", 600) + `"}`,
	}
	for i := range fuzzPosts {
		for _, s := range seeds {
			f.Add(uint8(i), []byte(s))
		}
	}
	h, fm := newFuzzAPI(f)
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		ep := fuzzPosts[int(which)%len(fuzzPosts)]
		before, beforeOwn := fuzzBackendCalls(fm), fm.callCount(ep.method)
		req := httptest.NewRequest(http.MethodPost, ep.path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		code, out := fuzzServe(t, h, req)
		called := fuzzBackendCalls(fm) > before

		if code < 300 && fm.callCount(ep.method) == beforeOwn {
			t.Fatalf("POST %s %q: answered %d without calling %s", ep.path, body, code, ep.method)
		}
		refused := code == http.StatusBadRequest || code == http.StatusRequestEntityTooLarge
		if refused && called {
			t.Fatalf("POST %s %q: answered %d but the backend was called", ep.path, body, code)
		}
		if code == http.StatusRequestEntityTooLarge && len(body) <= fuzzMaxBody {
			t.Fatalf("POST %s: 413 for %d bytes (limit %d)", ep.path, len(body), fuzzMaxBody)
		}
		blankOK := ep.allowEmpty && jsonBlank(body)
		if (len(body) > fuzzMaxBody || (!json.Valid(body) && !blankOK)) && !refused {
			t.Fatalf("POST %s %q: answered %d %v, want 400 or 413", ep.path, body, code, out)
		}
		if called && ep.path == "/api/grid/spawn" {
			fm.mu.Lock()
			sr := fm.spawnReq
			fm.mu.Unlock()
			fuzzCheckSpawn(t, sr)
		}
	})
}

// fuzzCheckSpawn fails unless a spawn request that reached the backend is
// within the REST contract.
func fuzzCheckSpawn(t *testing.T, sr *rpc.SpawnRequest) {
	t.Helper()
	for field, id := range map[string]string{"agent_id": sr.GetAgentId(), "node_id": sr.GetNodeId()} {
		if id != "" && !fuzzIDPattern.MatchString(id) {
			t.Fatalf("spawn reached the backend with %s %q", field, id)
		}
	}
	if sr.GetPort() > 65535 || sr.GetMemoryLimitMb() > rpc.MaxNodeMemoryMB || strings.ContainsRune(sr.GetStoragePath(), 0) {
		t.Fatalf("spawn reached the backend out of range: %v", sr)
	}
}
