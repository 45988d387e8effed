package api

import "testing"

func TestRequestIDReachesBackend(t *testing.T) {
	f := newFixture(t, nil)
	code, out := f.do("POST", "/api/grid/spawn", `{"node_id":"node-7"}`, "X-Request-Id", "req-1")
	if code != 200 || out["success"] != true {
		t.Fatalf("spawn = %d %v", code, out)
	}
	if got := f.master.requestID("SpawnStorageNode"); got != "req-1" {
		t.Errorf("spawn request id = %q, want req-1 (header)", got)
	}
	code, out = f.do("POST", "/api/grid/operator/remove-peer", `{"id":"m2","undo":true,"request_id":"req-2"}`)
	if code != 200 || out["undo"] != true {
		t.Fatalf("remove-peer undo = %d %v", code, out)
	}
	if got := f.master.requestID("RemovePeer"); got != "req-2" {
		t.Errorf("remove-peer request id = %q, want req-2 (body)", got)
	}
	calls := f.master.callCount("SpawnStorageNode")
	code, out = f.do("POST", "/api/grid/spawn", `{"request_id":"req-a"}`, "X-Request-Id", "req-b")
	f.expectError(400, out, code, "differ")
	code, out = f.do("POST", "/api/grid/spawn", `{}`, "X-Request-Id", "bad id!")
	f.expectError(400, out, code, "request_id")
	if n := f.master.callCount("SpawnStorageNode"); n != calls {
		t.Errorf("invalid request ids reached the backend (%d calls, want %d)", n, calls)
	}
}

func TestVerifyView(t *testing.T) {
	f := newFixture(t, nil)
	code, out := f.do("GET", "/api/grid/operator/verify", "")
	if code != 200 || out["match"] != false || out["index"] != float64(41) {
		t.Fatalf("verify = %d %v", code, out)
	}
	masters, _ := out["masters"].([]any)
	if len(masters) != 2 {
		t.Fatalf("masters = %v", out["masters"])
	}
	m1, _ := masters[0].(map[string]any)
	m2, _ := masters[1].(map[string]any)
	if m1["digest"] != "abc" || m1["events"] != float64(7) || m2["reachable"] != false || m2["error"] == "" {
		t.Errorf("masters = %v", masters)
	}
}
