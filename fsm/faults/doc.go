// Package faults holds the fault points black-box tests use to stop or kill
// a master at chosen moments (after a status entry is appended and before it
// commits, after it commits and before the reply, in the middle of a batch
// apply). They do something only in binaries built with the gridfaults tag
// (`make build-faults` makes bin/grid-faults); in every other build Hit is
// an empty function.
//
// In a gridfaults build a master whose environment sets GRID_FAULT_FILE
// reads that file at each point: a line "POINT ACTION" (ACTION kill or stop)
// arms POINT. The first Hit of an armed point removes the file and sends the
// process SIGKILL or SIGSTOP, so a test arms exactly the master it chooses,
// once.
package faults

// The fault points.
const (
	// StatusAppended: the leader handed a status entry to raft and has not
	// seen it commit.
	StatusAppended = "status_appended"
	// StatusCommitted: a status entry committed and its proposer has not
	// been told.
	StatusCommitted = "status_committed"
	// BatchApply: inside ApplyBatch, before a committed status entry is
	// applied (the entries before it in the batch are).
	BatchApply = "batch_apply"
)
