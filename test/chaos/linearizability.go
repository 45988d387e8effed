package chaos

import (
	"fmt"
	"math"
	"os"
	"time"

	"github.com/anishathalye/porcupine"
)

// RegOp is a linearizability operation on one agent id: register,
// unregister or read (is it registered?).
type RegOp struct {
	Kind string // "register" | "unregister" | "read"
	Key  string
}

// RegResult is what the client saw.
type RegResult struct {
	Ambiguous bool // a write that failed or timed out: it may have happened
	NotFound  bool // unregister answered NOT_FOUND
	Present   bool // read: the id is registered
}

// regModel is a per-key set-membership register. Ambiguous writes may or
// may not have taken effect (their return is pushed to the end of the
// history). An unregister answering NOT_FOUND only promises the id is absent
// afterwards: a forwarded unregister retried after a leader change finds its
// own earlier success.
var regModel = porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(RegOp).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() []interface{} { return []interface{}{false} },
	Step: func(state, input, output interface{}) []interface{} {
		present := state.(bool)
		in, out := input.(RegOp), output.(RegResult)
		switch in.Kind {
		case "register":
			if out.Ambiguous {
				return []interface{}{present, true}
			}
			return []interface{}{true}
		case "unregister":
			switch {
			case out.Ambiguous:
				return []interface{}{present, false}
			case out.NotFound:
				return []interface{}{false}
			case present:
				return []interface{}{false}
			}
			return nil
		case "read":
			if out.Present == present {
				return []interface{}{present}
			}
			return nil
		}
		return nil
	},
	Equal: func(a, b interface{}) bool { return a.(bool) == b.(bool) },
	DescribeOperation: func(input, output interface{}) string {
		in, out := input.(RegOp), output.(RegResult)
		switch {
		case out.Ambiguous:
			return fmt.Sprintf("%s(%s) -> ?", in.Kind, in.Key)
		case out.NotFound:
			return fmt.Sprintf("%s(%s) -> not found", in.Kind, in.Key)
		case in.Kind == "read":
			return fmt.Sprintf("read(%s) -> %v", in.Key, out.Present)
		}
		return fmt.Sprintf("%s(%s) -> ok", in.Kind, in.Key)
	},
	DescribeState: func(state interface{}) string { return fmt.Sprintf("registered=%v", state) },
}

// CheckLinearizable checks ops; ambiguous operations never returned. On a
// violation it writes porcupine's visualization to htmlPath.
func CheckLinearizable(ops []porcupine.Operation, htmlPath string, timeout time.Duration) (porcupine.CheckResult, error) {
	for i := range ops {
		if ops[i].Output.(RegResult).Ambiguous {
			ops[i].Return = math.MaxInt64 / 2
		}
	}
	model := regModel.ToModel()
	res, info := porcupine.CheckOperationsVerbose(model, ops, timeout)
	if res == porcupine.Illegal && htmlPath != "" {
		f, err := os.Create(htmlPath)
		if err != nil {
			return res, err
		}
		defer f.Close()
		if err := porcupine.Visualize(model, info, f); err != nil {
			return res, err
		}
	}
	return res, nil
}
