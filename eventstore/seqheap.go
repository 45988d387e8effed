package eventstore

// seqHeap keeps the best p.limit seqs seen: the smallest when ascending,
// the largest otherwise. The root is the worst kept seq.
type seqHeap struct {
	s   []uint64
	asc bool
}

func (h *seqHeap) better(a, b uint64) bool {
	if h.asc {
		return a < b
	}
	return a > b
}

func (h *seqHeap) Len() int           { return len(h.s) }
func (h *seqHeap) Less(i, j int) bool { return h.better(h.s[j], h.s[i]) }
func (h *seqHeap) Swap(i, j int)      { h.s[i], h.s[j] = h.s[j], h.s[i] }
func (h *seqHeap) Push(x any)         { h.s = append(h.s, x.(uint64)) }
func (h *seqHeap) Pop() any {
	x := h.s[len(h.s)-1]
	h.s = h.s[:len(h.s)-1]
	return x
}
