package eventstore

// pending is what one append transaction will add to the indexes once it
// commits, and what the writer's own lookups (dedupe, causes, concept
// names) read on top of the index: the events it stored, by id hash and
// by timestamp (chains through positions + 1, 0 ending a chain), and the
// entities it indexed first.
type pending struct {
	events   []indexedEvent
	ids      map[uint64]int // id hash -> position + 1 of the newest event with it
	prevID   []int          // per event: position + 1 of the previous one with its hash
	byTs     map[int64]int  // timestamp -> position + 1 of the newest event with it
	prevTs   []int
	entities map[string]uint32
}

func newPending(n int) *pending {
	return &pending{events: make([]indexedEvent, 0, n), ids: make(map[uint64]int, n), prevID: make([]int, 0, n),
		byTs: make(map[int64]int, n), prevTs: make([]int, 0, n), entities: map[string]uint32{}}
}

// add queues one stored event.
func (p *pending) add(e indexedEvent) {
	pos := len(p.events) + 1
	p.prevID = append(p.prevID, p.ids[e.hash])
	p.ids[e.hash] = pos
	p.prevTs = append(p.prevTs, p.byTs[e.ts])
	p.byTs[e.ts] = pos
	p.events = append(p.events, e)
}

// addPending indexes what a committed append stored.
func (ix *memIndex) addPending(p *pending) {
	for ent, id := range p.entities {
		ix.entityIDs[ent] = id
	}
	for i := range p.events {
		ix.add(&p.events[i])
		ix.applied[eventType(p.events[i].typ)]++
	}
}
