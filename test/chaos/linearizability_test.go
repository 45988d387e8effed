package chaos

import (
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func op(kind, key string, call, ret int64, out RegResult) porcupine.Operation {
	return porcupine.Operation{Input: RegOp{Kind: kind, Key: key}, Call: call, Return: ret, Output: out}
}

func TestRegModelAcceptsLinearizableHistories(t *testing.T) {
	for name, h := range map[string][]porcupine.Operation{
		"sequential": {
			op("register", "a", 0, 1, RegResult{}),
			op("read", "a", 2, 3, RegResult{Present: true}),
			op("unregister", "a", 4, 5, RegResult{}),
			op("read", "a", 6, 7, RegResult{Present: false}),
		},
		"concurrent read sees either": {
			op("register", "a", 0, 10, RegResult{}),
			op("read", "a", 1, 2, RegResult{Present: false}),
			op("read", "a", 3, 4, RegResult{Present: true}),
		},
		"ambiguous register may land late": {
			op("register", "a", 0, 1, RegResult{Ambiguous: true}),
			op("read", "a", 2, 3, RegResult{Present: false}),
			op("read", "a", 4, 5, RegResult{Present: true}),
		},
		"not found only promises absence": {
			op("register", "a", 0, 1, RegResult{}),
			op("unregister", "a", 2, 3, RegResult{NotFound: true}),
			op("read", "a", 4, 5, RegResult{Present: false}),
		},
		"keys are independent": {
			op("register", "a", 0, 1, RegResult{}),
			op("read", "b", 2, 3, RegResult{Present: false}),
		},
	} {
		res, err := CheckLinearizable(h, "", 5*time.Second)
		if err != nil || res != porcupine.Ok {
			t.Errorf("%s: want Ok, got %s %v", name, res, err)
		}
	}
}

func TestRegModelRejectsViolations(t *testing.T) {
	html := t.TempDir() + "/v.html"
	for name, h := range map[string][]porcupine.Operation{
		"stale read after an acknowledged register": {
			op("register", "a", 0, 1, RegResult{}),
			op("read", "a", 2, 3, RegResult{Present: false}),
		},
		"lost acknowledged unregister": {
			op("register", "a", 0, 1, RegResult{}),
			op("unregister", "a", 2, 3, RegResult{}),
			op("read", "a", 4, 5, RegResult{Present: true}),
		},
		"unregister of an absent id acknowledged": {
			op("unregister", "a", 0, 1, RegResult{}),
		},
		"read flips back": {
			op("register", "a", 0, 10, RegResult{}),
			op("read", "a", 1, 2, RegResult{Present: true}),
			op("read", "a", 3, 4, RegResult{Present: false}),
		},
	} {
		res, err := CheckLinearizable(h, html, 5*time.Second)
		if err != nil || res != porcupine.Illegal {
			t.Errorf("%s: want Illegal, got %s %v", name, res, err)
		}
	}
}

func TestReportTable(t *testing.T) {
	r := NewReport()
	r.Add("kill-leader", time.Second, 0)
	r.Add("kill-leader", 3*time.Second, 1)
	r.Add("kill-leader", 2*time.Second, 0)
	r.Add("pause-leader", 500*time.Millisecond, 0)
	if f, v := r.Totals(); f != 4 || v != 1 {
		t.Fatalf("totals: want 4 faults 1 violation, got %d %d", f, v)
	}
	table := r.Table()
	rows := map[string]string{}
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = strings.Join(f[1:], " ")
		}
	}
	for name, want := range map[string]string{"kill-leader": "3 2s 3s 1", "pause-leader": "1 500ms 500ms 0", "total": "4 1"} {
		if rows[name] != want {
			t.Errorf("row %s: want %q, got %q in\n%s", name, want, rows[name], table)
		}
	}
}
