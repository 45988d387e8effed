package rpc

import (
	"google.golang.org/protobuf/reflect/protoreflect"
)

// SetEncodedEvents makes raw, EventList.events entries already encoded
// (field 1, one length-delimited Event each, as eventstore.EventsWire
// writes them), the events l carries on the wire: a server answers without
// building the events in memory. They are kept as l's unknown fields, so
// gRPC's codec (this package's, or protobuf-go's) writes them as they are
// and every client decodes them as l's events; l.Events stays empty, so
// only a reply handed straight to gRPC should be made this way.
func SetEncodedEvents(l *EventList, raw []byte) {
	l.ProtoReflect().SetUnknown(protoreflect.RawFields(raw))
}

// encodedEventList is the size of l when its events are pre-encoded
// (SetEncodedEvents): unknown fields and no Events; ok is false otherwise.
func encodedEventList(l *EventList) (raw []byte, n int, ok bool) {
	raw = l.ProtoReflect().GetUnknown()
	if len(raw) == 0 || len(l.Events) > 0 {
		return nil, 0, false
	}
	return raw, len(raw) + sizeVarint(l.LastSeq) + sizeVarint(l.FirstSeq), true
}
