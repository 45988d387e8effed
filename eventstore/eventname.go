package eventstore

import (
	"fmt"
	"strconv"

	"github.com/gridctl/grid/rpc"
)

// Event concept names: event-{type}-{timestamp_micros}, made unique among
// the stored events (and the concepts the graph API stored) by a suffix
// kept in the record (record.go: name_suffix).

// eventConceptPrefix starts every event concept's name.
const eventConceptPrefix = "event-"

// eventName is the concept name of a stored event.
func eventName(r record) string {
	e := r.ev
	base := "event-" + e.GetType().Name() + "-" + strconv.FormatInt(e.GetTimestamp(), 10)
	switch {
	case r.suffix == 0:
		return base
	case r.suffix == 1:
		return base + "-s" + strconv.FormatUint(e.GetSeq(), 10)
	default:
		return base + "-" + strconv.FormatUint(r.suffix, 10)
	}
}

// eventConceptSuffix picks the event's concept name event-{type}-{timestamp_micros},
// made unique with a -2, -3, ... suffix (then -s{seq}) when taken, and
// returns the record's name_suffix. Deterministic given the state. Only
// the stored events of the same type and timestamp are read.
func (w *eventWriter) eventConceptSuffix(e *rpc.Event) (uint64, error) {
	// used has bit 0 for suffix 0 and bit k-1 for suffix k >= 2: the
	// suffixes of the stored events' names.
	var used uint64
	typ := typ32(e)
	w.g.sameTime(e.GetTimestamp(), func(seq uint64, t uint32, suffix uint64) bool {
		if t == typ && suffix != 1 && suffix <= maxNameSuffix {
			used |= 1 << suffixBit(suffix)
		}
		return true
	})
	var base string
	free := func(suffix uint64) bool {
		if used&(1<<suffixBit(suffix)) != 0 {
			return false
		}
		if !w.eventNamedConcepts {
			return true
		}
		if base == "" {
			base = eventConceptPrefix + e.GetType().Name() + "-" + strconv.FormatInt(e.GetTimestamp(), 10)
		}
		name := base
		if suffix != 0 {
			name += "-" + strconv.FormatUint(suffix, 10)
		}
		if w.concepts.Get([]byte(name)) != nil {
			return false
		}
		_, taken := entityConceptOf(name, w.ents.Get([]byte(name)))
		return !taken
	}
	if free(0) {
		return 0, nil
	}
	for i := uint64(2); i <= maxNameSuffix; i++ {
		if free(i) {
			return i, nil
		}
	}
	base = eventConceptPrefix + e.GetType().Name() + "-" + strconv.FormatInt(e.GetTimestamp(), 10)
	if w.g.exists(base + "-s" + strconv.FormatUint(e.GetSeq(), 10)) {
		return 0, fmt.Errorf("%w: no free concept name for event at %d", ErrInvalid, e.GetTimestamp())
	}
	return 1, nil
}

// suffixBit is the bit of a name suffix (0 or 2..maxNameSuffix) in a used mask.
func suffixBit(suffix uint64) uint64 {
	if suffix == 0 {
		return 0
	}
	return suffix - 1
}
