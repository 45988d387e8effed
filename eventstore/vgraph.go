package eventstore

import (
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// The graph form of a stored event is derived on read, exactly as format 1
// materialised it at append time:
//
//   - the event concept event-{type}-{timestamp}[-k|-s{seq}] (strength and
//     confidence 1, created at the timestamp, content MarshalEventJSON);
//   - entity --[event type]--> event for each indexed entity, with
//     association seqs assoc_base, assoc_base+1, ...;
//   - event --[999]--> ts-{seconds}, seq assoc_base+len(entities);
//   - event --[998]--> cause for each caused_by id that named a stored
//     event at append time (cause_mask), while both events are stored.
//
// An entity's concept is derived from its entry in the entities bucket
// (entityconcept.go); ts- concepts are real (bucketConcepts). What the graph API
// writes over a derived concept or association (LearnConcept,
// LearnAssociation) is stored as a real one and wins over the derived one.

// eventByName finds the stored event whose concept is named id.
func (g *gview) eventByName(id string) (record, bool) {
	rest, ok := strings.CutPrefix(id, "event-")
	if !ok {
		return record{}, false
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] != '-' {
			continue
		}
		ts, ok := leadingInt(rest[i+1:])
		if !ok {
			continue
		}
		typeName := rest[:i]
		var found record
		g.sameTime(ts, func(seq uint64, t uint32, _ uint64) bool {
			if eventType(t).Name() != typeName {
				return true
			}
			if r, ok := g.record(seq); ok && eventName(r) == id {
				found = r
				return false
			}
			return true
		})
		if found.ev != nil {
			return found, true
		}
	}
	return record{}, false
}

// leadingInt parses the integer s starts with (an optional '-', digits).
func leadingInt(s string) (int64, bool) {
	end := 0
	if end < len(s) && s[end] == '-' {
		end++
	}
	start := end
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == start {
		return 0, false
	}
	v, err := strconv.ParseInt(s[:end], 10, 64)
	return v, err == nil
}

// concept returns the concept named id: a real one, else a derived entity
// or event concept.
func (g *gview) concept(id string) (Concept, bool) {
	if v := g.tx.Bucket(bucketConcepts).Get([]byte(id)); v != nil {
		return decodeConcept(id, v), true
	}
	if c, ok := g.entityConcept(id); ok {
		return c, true
	}
	r, ok := g.eventByName(id)
	if !ok {
		return Concept{}, false
	}
	content, err := MarshalEventJSON(r.ev)
	if err != nil {
		return Concept{}, false
	}
	return Concept{ID: id, Content: string(content), Strength: 1, Confidence: 1, CreatedAt: r.ev.GetTimestamp()}, true
}

// exists reports whether a concept named id exists (real or derived).
func (g *gview) exists(id string) bool {
	if g.tx.Bucket(bucketConcepts).Get([]byte(id)) != nil {
		return true
	}
	if _, ok := g.entityConcept(id); ok {
		return true
	}
	_, ok := g.eventByName(id)
	return ok
}

// edge is an association end seen from one concept: its seq and far end.
type edge struct {
	seq uint64
	n   Neighbor
}

// causeEdges lists r's live 998 associations (seq, cause record), ascending.
func (g *gview) causeEdges(r record) []edge {
	if r.causeMask == 0 {
		return nil
	}
	var out []edge
	next := r.assocBase + uint64(len(indexedEntities(r.ev))) + 1
	for i, id := range CausedBy(r.ev) {
		if i >= 64 || r.causeMask&(1<<i) == 0 {
			continue
		}
		seq := next
		next++
		cseq := g.lookupID(id)
		if cseq == 0 || cseq >= r.ev.GetSeq() {
			continue
		}
		if c, ok := g.record(cseq); ok {
			out = append(out, edge{seq, Neighbor{ID: eventName(c), Type: CausedByAssocType, Confidence: 1}})
		}
	}
	return out
}

// derivedOut lists the derived associations out of a non-entity concept, ascending.
func (g *gview) derivedOut(id string) []edge {
	r, ok := g.eventByName(id)
	if !ok {
		return nil
	}
	out := []edge{{r.assocBase + uint64(len(indexedEntities(r.ev))), Neighbor{ID: timeConceptName(r.ev.GetTimestamp()), Type: TemporalAssocType, Confidence: 1}}}
	return append(out, g.causeEdges(r)...)
}

// derivedIn lists the derived associations into id, ascending.
func (g *gview) derivedIn(id string) []edge {
	if sec, ok := tsSeconds(id); ok {
		return g.temporalIn(sec)
	}
	r, ok := g.eventByName(id)
	if !ok {
		return nil
	}
	var out []edge
	for i, ent := range indexedEntities(r.ev) {
		out = append(out, edge{r.assocBase + uint64(i), Neighbor{ID: ent, Type: uint32(r.ev.GetType()), Confidence: 1}})
	}
	for _, seq := range g.ix.causedIn[r.ev.GetSeq()] {
		f, ok := g.record(seq)
		if !ok {
			continue
		}
		for _, e := range g.causeEdges(f) {
			if e.n.ID == id {
				out = append(out, edge{e.seq, Neighbor{ID: eventName(f), Type: CausedByAssocType, Confidence: 1}})
			}
		}
	}
	slices.SortFunc(out, func(a, b edge) int { return cmpSeq(a.seq, b.seq) })
	return out
}

// tsSeconds parses a ts-{seconds} concept name.
func tsSeconds(id string) (int64, bool) {
	rest, ok := strings.CutPrefix(id, "ts-")
	if !ok {
		return 0, false
	}
	sec, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || strconv.FormatInt(sec, 10) != rest || sec > math.MaxInt64/1_000_000-1 || sec < math.MinInt64/1_000_000 {
		return 0, false
	}
	return sec, true
}

// temporalIn lists the 999 associations into ts-{sec}, ascending.
func (g *gview) temporalIn(sec int64) []edge {
	var out []edge
	g.ix.timeRange(sec*1_000_000, sec*1_000_000+1_000_000, func(seq uint64) bool {
		if r, ok := g.record(seq); ok {
			out = append(out, edge{r.assocBase + uint64(len(indexedEntities(r.ev))), Neighbor{ID: eventName(r), Type: TemporalAssocType, Confidence: 1}})
		}
		return true
	})
	slices.SortFunc(out, func(a, b edge) int { return cmpSeq(a.seq, b.seq) })
	return out
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// entityOut walks the derived associations out of an entity in one
// direction, calling fn until it returns false. typ 0 means any type.
func (g *gview) entityOut(ent string, typ uint32, asc bool, fn func(edge) bool) {
	id := g.entityID(ent)
	if id == 0 {
		return
	}
	offs := g.ix.byEntity[id]
	for i := range offs {
		seq := g.ix.seqAt(offs[i])
		if !asc {
			seq = g.ix.seqAt(offs[len(offs)-1-i])
		}
		t := g.ix.typOf(seq)
		if typ != 0 && t != typ {
			continue
		}
		r, ok := g.record(seq)
		if !ok {
			continue
		}
		pos := slices.Index(indexedEntities(r.ev), ent)
		if pos < 0 {
			continue
		}
		if !fn(edge{r.assocBase + uint64(pos), Neighbor{ID: eventName(r), Type: t, Confidence: 1}}) {
			return
		}
	}
}

// realEdges lists id's stored associations in bucket b, ascending by seq.
func realEdges(b *bolt.Bucket, id string) []edge {
	prefix := strPrefix(id)
	var out []edge
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, v = c.Next() {
		if len(v) < 8 || len(k) != len(prefix)+8 {
			continue
		}
		out = append(out, edge{decodeUint(k[len(prefix):]), Neighbor{ID: string(v[8:]), Type: binary.BigEndian.Uint32(v[0:4]), Confidence: decodeFloat(v[4:8])}})
	}
	return out
}

// adjacency lists up to limit associations out of (out) or into id of type
// typ (0: any), newest first when newestFirst: the stored ones merged with
// the derived ones by seq, a stored one replacing a derived one of the same seq.
func (g *gview) adjacency(id string, out bool, typ uint32, limit int, newestFirst bool) []Neighbor {
	bucket := bucketIn
	if out {
		bucket = bucketOut
	}
	real := realEdges(g.tx.Bucket(bucket), id)
	if newestFirst {
		slices.Reverse(real)
	}
	before := func(a, b uint64) bool {
		if newestFirst {
			return a > b
		}
		return a < b
	}
	var res []Neighbor
	emit := func(e edge) bool {
		if typ == 0 || e.n.Type == typ {
			res = append(res, e.n)
		}
		return len(res) < limit
	}
	i := 0
	// walk emits the stored edges before e, then e (or the stored edge of
	// the same seq); false once the limit is reached.
	walk := func(e edge) bool {
		for ; i < len(real) && before(real[i].seq, e.seq); i++ {
			if !emit(real[i]) {
				return false
			}
		}
		if i < len(real) && real[i].seq == e.seq {
			e = real[i]
			i++
		}
		return emit(e)
	}
	if limit <= 0 {
		return nil
	}
	var derived []edge
	switch {
	case out && g.tx.Bucket(bucketEntities).Get([]byte(id)) != nil:
		done := false
		g.entityOut(id, typ, !newestFirst, func(e edge) bool {
			if !walk(e) {
				done = true
				return false
			}
			return true
		})
		if done {
			return res
		}
	case out:
		derived = g.derivedOut(id)
	default:
		derived = g.derivedIn(id)
	}
	if newestFirst {
		slices.Reverse(derived)
	}
	for _, e := range derived {
		if !walk(e) {
			return res
		}
	}
	for ; i < len(real) && emit(real[i]); i++ {
	}
	return res
}

// derivedAssocSeq is the seq of the derived association src --[typ]--> dst
// (the highest when several), 0 when there is none.
func (g *gview) derivedAssocSeq(src, dst string, typ uint32) uint64 {
	var best uint64
	if g.tx.Bucket(bucketEntities).Get([]byte(src)) != nil {
		if r, ok := g.eventByName(dst); ok && uint32(r.ev.GetType()) == typ {
			if pos := slices.Index(indexedEntities(r.ev), src); pos >= 0 {
				best = r.assocBase + uint64(pos)
			}
		}
	}
	for _, e := range g.derivedOut(src) {
		if e.n.ID == dst && e.n.Type == typ && e.seq > best {
			best = e.seq
		}
	}
	return best
}
