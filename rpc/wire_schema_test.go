package rpc

import (
	"bufio"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// wireSchema is what the wire depends on in a set of .proto files: every
// message's fields (number, name, kind, label, type name) and reserved
// numbers and names, every enum's values, every service's methods. It is
// rendered to, and parsed from, rpc/testdata/wire.golden.
type wireSchema struct {
	messages map[string]*wireMessage
	enums    map[string]map[int32]string
	services map[string]map[string]string // method -> "in out" with "stream " prefixes
}

type wireMessage struct {
	fields        map[int32]wireField
	reservedNums  [][2]int32 // inclusive ranges
	reservedNames []string
}

type wireField struct {
	name, kind, label, typeName string
}

func (f wireField) String() string {
	return strings.TrimSpace(strings.Join([]string{f.name, f.kind, f.label, f.typeName}, " "))
}

func newWireSchema() *wireSchema {
	return &wireSchema{messages: map[string]*wireMessage{}, enums: map[string]map[int32]string{}, services: map[string]map[string]string{}}
}

// schemaOf collects the wire schema of files.
func schemaOf(files ...protoreflect.FileDescriptor) *wireSchema {
	s := newWireSchema()
	for _, fd := range files {
		s.addMessages(fd.Messages())
		s.addEnums(fd.Enums())
		for i := 0; i < fd.Services().Len(); i++ {
			sd := fd.Services().Get(i)
			methods := map[string]string{}
			for j := 0; j < sd.Methods().Len(); j++ {
				md := sd.Methods().Get(j)
				methods[string(md.Name())] = streamPrefix(md.IsStreamingClient()) + string(md.Input().FullName()) + " " +
					streamPrefix(md.IsStreamingServer()) + string(md.Output().FullName())
			}
			s.services[string(sd.FullName())] = methods
		}
	}
	return s
}

func streamPrefix(stream bool) string {
	if stream {
		return "stream "
	}
	return ""
}

func (s *wireSchema) addEnums(eds protoreflect.EnumDescriptors) {
	for i := 0; i < eds.Len(); i++ {
		ed := eds.Get(i)
		values := map[int32]string{}
		for j := 0; j < ed.Values().Len(); j++ {
			v := ed.Values().Get(j)
			values[int32(v.Number())] = string(v.Name())
		}
		s.enums[string(ed.FullName())] = values
	}
}

func (s *wireSchema) addMessages(mds protoreflect.MessageDescriptors) {
	for i := 0; i < mds.Len(); i++ {
		md := mds.Get(i)
		m := &wireMessage{fields: map[int32]wireField{}}
		for j := 0; j < md.Fields().Len(); j++ {
			fd := md.Fields().Get(j)
			f := wireField{name: string(fd.Name()), kind: fd.Kind().String(), label: fd.Cardinality().String()}
			switch {
			case fd.Message() != nil:
				f.typeName = string(fd.Message().FullName())
			case fd.Enum() != nil:
				f.typeName = string(fd.Enum().FullName())
			}
			m.fields[int32(fd.Number())] = f
		}
		for j := 0; j < md.ReservedRanges().Len(); j++ {
			r := md.ReservedRanges().Get(j)
			m.reservedNums = append(m.reservedNums, [2]int32{int32(r[0]), int32(r[1]) - 1})
		}
		for j := 0; j < md.ReservedNames().Len(); j++ {
			m.reservedNames = append(m.reservedNames, string(md.ReservedNames().Get(j)))
		}
		s.messages[string(md.FullName())] = m
		s.addMessages(md.Messages())
		s.addEnums(md.Enums())
	}
}

func (m *wireMessage) numberReserved(n int32) bool {
	for _, r := range m.reservedNums {
		if n >= r[0] && n <= r[1] {
			return true
		}
	}
	return false
}

// render is the golden text: sorted, one line per field, value, method.
func (s *wireSchema) render() string {
	var b strings.Builder
	b.WriteString("# Grid's wire schema (rpc/*.proto). Checked by TestWireGolden; see docs/protocol.md.\n")
	b.WriteString("# Refresh after a compatible addition: go test ./rpc -run TestWireGolden -update\n")
	for _, name := range sortedKeys(s.messages) {
		m := s.messages[name]
		fmt.Fprintf(&b, "message %s\n", name)
		for _, n := range sortedKeys(m.fields) {
			fmt.Fprintf(&b, "  field %d %s\n", n, m.fields[n])
		}
		for _, r := range m.reservedNums {
			fmt.Fprintf(&b, "  reserved %d-%d\n", r[0], r[1])
		}
		for _, rn := range m.reservedNames {
			fmt.Fprintf(&b, "  reserved_name %s\n", rn)
		}
	}
	for _, name := range sortedKeys(s.enums) {
		fmt.Fprintf(&b, "enum %s\n", name)
		for _, n := range sortedKeys(s.enums[name]) {
			fmt.Fprintf(&b, "  value %d %s\n", n, s.enums[name][n])
		}
	}
	for _, name := range sortedKeys(s.services) {
		fmt.Fprintf(&b, "service %s\n", name)
		for _, mn := range sortedKeys(s.services[name]) {
			fmt.Fprintf(&b, "  rpc %s %s\n", mn, s.services[name][mn])
		}
	}
	return b.String()
}

func sortedKeys[K int32 | string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// parseWireSchema reads render's output back.
func parseWireSchema(text string) (*wireSchema, error) {
	s := newWireSchema()
	var msg *wireMessage
	var enum map[int32]string
	var svc map[string]string
	sc := bufio.NewScanner(strings.NewReader(text))
	for line := 1; sc.Scan(); line++ {
		t := sc.Text()
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		f := strings.Fields(t)
		bad := fmt.Errorf("wire golden line %d: cannot parse %q", line, t)
		switch {
		case len(f) == 2 && f[0] == "message":
			msg = &wireMessage{fields: map[int32]wireField{}}
			s.messages[f[1]] = msg
		case len(f) == 2 && f[0] == "enum":
			enum = map[int32]string{}
			s.enums[f[1]] = enum
		case len(f) == 2 && f[0] == "service":
			svc = map[string]string{}
			s.services[f[1]] = svc
		case len(f) >= 5 && f[0] == "field" && msg != nil:
			n, err := strconv.ParseInt(f[1], 10, 32)
			if err != nil {
				return nil, bad
			}
			wf := wireField{name: f[2], kind: f[3], label: f[4]}
			if len(f) > 5 {
				wf.typeName = f[5]
			}
			msg.fields[int32(n)] = wf
		case len(f) == 2 && f[0] == "reserved" && msg != nil:
			lo, hi, ok := strings.Cut(f[1], "-")
			a, err1 := strconv.ParseInt(lo, 10, 32)
			z, err2 := strconv.ParseInt(hi, 10, 32)
			if !ok || err1 != nil || err2 != nil {
				return nil, bad
			}
			msg.reservedNums = append(msg.reservedNums, [2]int32{int32(a), int32(z)})
		case len(f) == 2 && f[0] == "reserved_name" && msg != nil:
			msg.reservedNames = append(msg.reservedNames, f[1])
		case len(f) == 3 && f[0] == "value" && enum != nil:
			n, err := strconv.ParseInt(f[1], 10, 32)
			if err != nil {
				return nil, bad
			}
			enum[int32(n)] = f[2]
		case len(f) >= 4 && f[0] == "rpc" && svc != nil:
			svc[f[1]] = strings.Join(f[2:], " ")
		default:
			return nil, bad
		}
	}
	return s, sc.Err()
}

// incompatibilities lists every change from old to cur that a peer built
// from old could misread or find missing: a message, field, enum value,
// service or method removed, renumbered, renamed or retyped, or a reserved
// number or name reused. A field may leave only when its number and name
// are reserved in cur. Additions are compatible.
func incompatibilities(old, cur *wireSchema) []string {
	var out []string
	for _, name := range sortedKeys(old.messages) {
		om, cm := old.messages[name], cur.messages[name]
		if cm == nil {
			out = append(out, fmt.Sprintf("message %s removed", name))
			continue
		}
		for _, n := range sortedKeys(om.fields) {
			of := om.fields[n]
			cf, ok := cm.fields[n]
			switch {
			case !ok && cm.numberReserved(n) && slices.Contains(cm.reservedNames, of.name):
				// Removed properly: number and name reserved.
			case !ok:
				out = append(out, fmt.Sprintf("%s field %d (%s) removed or renumbered without `reserved %d; reserved %q;`", name, n, of, n, of.name))
			case cf != of:
				out = append(out, fmt.Sprintf("%s field %d changed: was %q, is %q", name, n, of, cf))
			}
		}
		for _, r := range om.reservedNums {
			for n := r[0]; n <= r[1] && n-r[0] < 1<<16; n++ {
				if f, used := cm.fields[n]; used {
					out = append(out, fmt.Sprintf("%s reuses reserved number %d for %s", name, n, f.name))
				} else if !cm.numberReserved(n) {
					out = append(out, fmt.Sprintf("%s no longer reserves number %d", name, n))
				}
			}
		}
		for _, rn := range om.reservedNames {
			if !slices.Contains(cm.reservedNames, rn) {
				out = append(out, fmt.Sprintf("%s no longer reserves name %q", name, rn))
			}
		}
	}
	for _, name := range sortedKeys(old.enums) {
		ce, ok := cur.enums[name]
		if !ok {
			out = append(out, fmt.Sprintf("enum %s removed", name))
			continue
		}
		for _, n := range sortedKeys(old.enums[name]) {
			if ce[n] != old.enums[name][n] {
				out = append(out, fmt.Sprintf("enum %s value %d: was %q, is %q", name, n, old.enums[name][n], ce[n]))
			}
		}
	}
	for _, name := range sortedKeys(old.services) {
		cs, ok := cur.services[name]
		if !ok {
			out = append(out, fmt.Sprintf("service %s removed", name))
			continue
		}
		for _, mn := range sortedKeys(old.services[name]) {
			if cs[mn] != old.services[name][mn] {
				out = append(out, fmt.Sprintf("%s/%s: was %q, is %q", name, mn, old.services[name][mn], cs[mn]))
			}
		}
	}
	return out
}
