package rpc

import (
	"errors"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// errNotPlain sends a reply the direct decoder does not handle (an unknown
// field, an unexpected wire type, a malformed or non-UTF-8 string) to
// protobuf-go, which decodes it or says what is wrong with it.
var errNotPlain = errors.New("not a plain event list")

// Unmarshal decodes EventList replies directly (the client's side of
// QueryEvents: protobuf-go decodes each event's details map through
// reflection, one allocation per entry and string); other messages, and
// replies with anything the direct decoder does not handle, go to the
// standard codec.
func (c eventCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if l, ok := v.(*EventList); ok && l != nil {
		buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
		err := decodeEventList(buf.ReadOnlyData(), l)
		buf.Free()
		if err == nil {
			return nil
		}
		l.Reset()
	}
	return c.CodecV2.Unmarshal(data, v)
}

// decodeEventList decodes b into l (reset first). The events come from one
// slice and their strings from one copy of b, which they share.
func decodeEventList(b []byte, l *EventList) error {
	l.Reset()
	n := 0
	for rest := b; len(rest) > 0; {
		num, typ, tn := protowire.ConsumeTag(rest)
		if tn < 0 {
			return errNotPlain
		}
		fn := protowire.ConsumeFieldValue(num, typ, rest[tn:])
		if fn < 0 {
			return errNotPlain
		}
		if num == 1 {
			n++
		}
		rest = rest[tn+fn:]
	}
	own := string(b) // the strings' backing store, never written
	evs := make([]Event, n)
	l.Events = make([]*Event, 0, n)
	for off := 0; off < len(b); {
		num, typ, tn := protowire.ConsumeTag(b[off:])
		if tn < 0 {
			return errNotPlain
		}
		off += tn
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, vn := protowire.ConsumeBytes(b[off:])
			if vn < 0 {
				return errNotPlain
			}
			e := &evs[len(l.Events)]
			if err := decodeEvent(own, off+vn-len(v), v, e); err != nil {
				return err
			}
			l.Events = append(l.Events, e)
			off += vn
		case (num == 2 || num == 3) && typ == protowire.VarintType:
			v, vn := protowire.ConsumeVarint(b[off:])
			if vn < 0 {
				return errNotPlain
			}
			if num == 2 {
				l.LastSeq = v
			} else {
				l.FirstSeq = v
			}
			off += vn
		default:
			return errNotPlain
		}
	}
	return nil
}

// sub is the string of own at [at, at+len(v)) (v is that range of the
// message), or an error when it is not valid UTF-8.
func sub(own string, at int, v []byte) (string, error) {
	if len(v) == 0 {
		return "", nil
	}
	s := unsafe.String(unsafe.StringData(own[at:]), len(v))
	if !utf8.ValidString(s) {
		return "", errNotPlain
	}
	return s, nil
}

// decodeEvent decodes the Event message m, found at offset base of own.
func decodeEvent(own string, base int, m []byte, e *Event) error {
	for off := 0; off < len(m); {
		num, typ, tn := protowire.ConsumeTag(m[off:])
		if tn < 0 {
			return errNotPlain
		}
		off += tn
		switch {
		case typ == protowire.BytesType && (num == 1 || num == 4 || num == 6 || num == 7):
			v, vn := protowire.ConsumeBytes(m[off:])
			if vn < 0 {
				return errNotPlain
			}
			at := base + off + vn - len(v)
			off += vn
			if num == 6 {
				k, val, err := decodeDetail(own, at, v)
				if err != nil {
					return err
				}
				if e.Details == nil {
					e.Details = make(map[string]string, 2)
				}
				e.Details[k] = val
				continue
			}
			s, err := sub(own, at, v)
			if err != nil {
				return err
			}
			switch num {
			case 1:
				e.Id = s
			case 4:
				e.EntityId = s
			default:
				e.Source = s
			}
		case typ == protowire.VarintType && (num == 2 || num == 3 || num == 5):
			v, vn := protowire.ConsumeVarint(m[off:])
			if vn < 0 {
				return errNotPlain
			}
			off += vn
			switch num {
			case 2:
				e.Seq = v
			case 3:
				e.Type = EventType(int32(v))
			default:
				e.Timestamp = int64(v)
			}
		default:
			return errNotPlain
		}
	}
	return nil
}

// decodeDetail decodes one details map entry (key 1, value 2; either may
// be missing: "").
func decodeDetail(own string, base int, m []byte) (k, v string, err error) {
	for off := 0; off < len(m); {
		num, typ, tn := protowire.ConsumeTag(m[off:])
		if tn < 0 || typ != protowire.BytesType || (num != 1 && num != 2) {
			return "", "", errNotPlain
		}
		off += tn
		b, bn := protowire.ConsumeBytes(m[off:])
		if bn < 0 {
			return "", "", errNotPlain
		}
		s, err := sub(own, base+off+bn-len(b), b)
		if err != nil {
			return "", "", err
		}
		off += bn
		if num == 1 {
			k = s
		} else {
			v = s
		}
	}
	return k, v, nil
}
