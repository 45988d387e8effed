// Package waitfor is the one wait-for-condition helper of Grid's tests: every
// test that waits for something to become true polls through Until (or its
// short forms) with a deadline, and every test that needs a leader waits
// through Leader. It imports nothing of Grid, so any package's tests can use it.
package waitfor

import (
	"strconv"
	"testing"
	"time"
)

// Poll is how often a condition is re-checked. It is a poll interval, not a
// wait for an outcome.
const Poll = 10 * time.Millisecond

// Until polls cond every Poll until it holds or timeout passes, then fails the
// test with what and cond's last explanation.
func Until(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	if why, ok := Within(timeout, cond); !ok {
		t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, why)
	}
}

// True is Until for a condition with nothing to explain.
func True(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	Until(t, timeout, what, func() (bool, string) { return cond(), "condition still false" })
}

// Within polls cond until it holds (true) or timeout passes (false, with
// cond's last explanation). It never fails a test by itself.
func Within(timeout time.Duration, cond func() (bool, string)) (string, bool) {
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return "", true
		}
		if time.Now().After(deadline) {
			return why, false
		}
		time.Sleep(Poll)
	}
}

// Eventually reports whether cond holds within timeout.
func Eventually(timeout time.Duration, cond func() bool) bool {
	_, ok := Within(timeout, func() (bool, string) { return cond(), "" })
	return ok
}

// Leader waits until exactly one of members leads and every member names it
// as leader, and returns it. isLeader says whether a member leads; leaderOf
// says which id a member believes leads ("" when none); id names a member.
// A member that cannot answer (stopped, unreachable) is skipped by returning
// ok=false from leaderOf.
func Leader[M any](t testing.TB, timeout time.Duration, members []M, id func(M) string,
	isLeader func(M) bool, leaderOf func(M) (leader string, ok bool)) M {
	t.Helper()
	var leader M
	Until(t, timeout, "one leader every member agrees on", func() (bool, string) {
		found := 0
		for _, m := range members {
			if isLeader(m) {
				leader = m
				found++
			}
		}
		if found != 1 {
			return false, "members leading: " + strconv.Itoa(found)
		}
		for _, m := range members {
			if l, ok := leaderOf(m); ok && l != id(leader) {
				return false, id(m) + " names leader " + l + ", not " + id(leader)
			}
		}
		return true, ""
	})
	return leader
}
