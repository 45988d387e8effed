package test

import (
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/test/harness"
)

// gridRun runs bin/grid with args (no GRID_MASTER) and returns its combined
// output and exit code.
func gridRun(t *testing.T, args ...string) (string, int) {
	t.Helper()
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("grid %v: %v", args, err)
	return "", -1
}

func TestCLIErrorWithNoMasterNamesAddressesAndCause(t *testing.T) {
	a, b := freeAddr(t), freeAddr(t) // nothing listens there
	out, code := gridRun(t, "status", "--master", "http://"+a+","+b, "--timeout", "5s")
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{"no master reachable", a + " (connection refused)", b + " (connection refused)", "--master", "GRID_MASTER"} {
		if !strings.Contains(out, want) {
			t.Fatalf("error lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "desc =") || strings.Contains(out, "rpc error") {
		t.Fatalf("raw gRPC text in the error:\n%s", out)
	}
}

func TestCLIExitCodesCompletionAndVersion(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"status", "--no-such-flag"}, 2, "flag provided but not defined"},
		{[]string{"no-such-command"}, 2, "unknown command"},
		{[]string{"completion"}, 2, "bash|zsh"},
		{[]string{"completion", "fish"}, 2, "unknown shell"},
		{[]string{"completion", "bash"}, 0, "complete -o bashdefault -o default -F _grid_complete grid"},
		{[]string{"completion", "zsh"}, 0, "#compdef grid"},
		{[]string{"version"}, 0, "platform: "},
		{[]string{"--version"}, 0, "commit: "},
		{[]string{"--help"}, 0, "EXIT CODES"},
		{[]string{"tls", "create-cert"}, 2, "Required flag"},
	} {
		out, code := gridRun(t, c.args...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("grid %v: exit %d (want %d), output lacks %q?\n%s", c.args, code, c.code, c.want, out)
		}
	}
	out, _ := gridRun(t, "completion", "bash")
	bin, _ := harness.Binary()
	// The script's engine: urfave/cli lists the subcommands.
	words, err := exec.Command(bin, "--generate-bash-completion").Output()
	if err != nil || !strings.Contains(string(words), "status") || !strings.Contains(out, "--generate-bash-completion") {
		t.Fatalf("completion words: %v %q", err, words)
	}
	var v map[string]string
	vj, _ := gridRun(t, "version", "--json")
	if err := json.Unmarshal([]byte(vj), &v); err != nil || v["version"] == "" || v["commit"] == "" || v["go_version"] == "" || v["platform"] == "" {
		t.Fatalf("version --json: %v %s", err, vj)
	}
}

func TestCLIHTTPMasterAndJSONNumbers(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{})
	leader := c.WaitLeader(30 * time.Second)
	register(t, leader, "agent-json")
	out, code := gridRun(t, "status", "--json", "--master", "http://"+leader.GRPC+"/")
	if code != 0 {
		t.Fatalf("status with an http:// master: exit %d\n%s", code, out)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	for _, k := range []string{"commit_index", "timestamp", "total_agents", "last_event_seq"} {
		if _, ok := st[k].(float64); !ok {
			t.Fatalf("%s is %T (%v), want a JSON number:\n%s", k, st[k], st[k], out)
		}
	}
	masters, _ := st["masters"].([]any)
	if len(masters) != 3 {
		t.Fatalf("masters: %v", st["masters"])
	}
	for _, m := range masters {
		mm, _ := m.(map[string]any)
		if _, ok := mm["last_contact_ms"].(float64); !ok || mm["version"] == "" {
			t.Fatalf("master entry: last_contact_ms %T, version %v", mm["last_contact_ms"], mm["version"])
		}
	}
	ev, code := gridRun(t, "events", "--json", "--master", leader.GRPC, "-n", "5")
	if code != 0 {
		t.Fatalf("events --json: exit %d\n%s", code, ev)
	}
	var events struct {
		Events []map[string]any `json:"events"`
	}
	if err := json.Unmarshal([]byte(ev), &events); err != nil || len(events.Events) == 0 {
		t.Fatalf("events --json: %v\n%s", err, ev)
	}
	if _, ok := events.Events[0]["seq"].(float64); !ok {
		t.Fatalf("event seq is %T, want a JSON number", events.Events[0]["seq"])
	}
}
