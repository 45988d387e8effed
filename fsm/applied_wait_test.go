package fsm

import (
	"testing"

	"github.com/hashicorp/raft"
)

// closed reports whether ch is closed.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestWaitAppliedWakesAtItsIndex(t *testing.T) {
	f := newTestFSM(t)
	at0, _ := f.WaitApplied(0)
	if !closed(at0) {
		t.Fatal("a wait for index 0 is not done at once")
	}
	at2, _ := f.WaitApplied(2)
	at3, cancel3 := f.WaitApplied(3)
	dropped, cancelDropped := f.WaitApplied(2)
	cancelDropped()

	f.ApplyBatch([]*raft.Log{{Index: 1, Term: 1, Type: raft.LogConfiguration}})
	if closed(at2) || closed(at3) {
		t.Fatal("waits for indexes 2 and 3 done at index 1")
	}
	f.ApplyBatch([]*raft.Log{{Index: 2, Term: 1, Type: raft.LogConfiguration}})
	if !closed(at2) {
		t.Fatal("wait for index 2 not done at index 2")
	}
	if closed(at3) {
		t.Fatal("wait for index 3 done at index 2")
	}
	if closed(dropped) {
		t.Fatal("a cancelled wait was closed")
	}
	cancel3()
	if n := f.appliedWait.count.Load(); n != 0 {
		t.Fatalf("%d waiters left registered", n)
	}
	cancel3() // again, after the drop: a no-op
	later, _ := f.WaitApplied(2)
	if !closed(later) {
		t.Fatal("a wait for an index already applied is not done at once")
	}
}
