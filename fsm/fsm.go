package fsm

// FSM is the replicated state machine. (Skeleton: the core replaces this file.)
type FSM struct{}
